// SmoothGrad, SmoothGrad² and VarGrad: a gradient method averaged over noisy copies of the input (Captum's NoiseTunnel).
import Tensor

/// How the attributions of the noisy copies combine (Captum's `nt_type`).
public enum NoiseTunnelType: String, Sendable, CaseIterable {
    /// The mean attribution (Smilkov et al. 2017, "SmoothGrad: removing noise by adding noise", eq. 3).
    case smoothgrad
    /// The mean of the squared attributions.
    case smoothgradSq = "smoothgrad_sq"
    /// Their variance, E[a²] − E[a]² (Adebayo et al. 2018, "Local explanation methods for deep neural networks
    /// lack sensitivity to parameter values").
    case vargrad
}

/// A gradient method run on `samples` copies x + ε of the input embeddings, ε ~ N(0, σ²) element-wise with
/// σ = noise · (max x − min x) over the input's embeddings (Smilkov et al. §3: "noise level σ/(x_max − x_min)"),
/// every position noised as Captum's `NoiseTunnel` does with `inputs_embeds`. The per-dimension attributions [T, H]
/// of the copies are combined by `type`, then reduced per token: as the base method for `smoothgrad`, summed for
/// the non-negative `smoothgrad_sq` and `vargrad`. Copies run `batchSize` at a time as rows of one batch (grad-norm,
/// grad × input); integrated gradients runs its own batches per copy (with baseline x′, the path x′ → x + ε).
public struct SmoothGrad: SalienceMethod {
    public static let id = MethodID.smoothgrad
    /// The method averaged: grad-norm, grad-input or ig.
    public var base: MethodID
    public var type: NoiseTunnelType
    public var samples: Int
    /// σ as a fraction of the input embeddings' range.
    public var noise: Double
    public var seed: UInt64
    /// The integrated gradients run on each copy when `base` is ig.
    public var integratedGradients: IntegratedGradients
    /// Explicit noise, [samples][T·H] (replaces the seeded draws; the Captum goldens replay theirs).
    public var draws: [[Float]]?

    public static let bases: [MethodID] = [.gradNorm, .gradInput, .ig]

    public init(
        base: MethodID = .gradNorm, type: NoiseTunnelType = .smoothgrad, samples: Int = 16, noise: Double = 0.15,
        seed: UInt64 = 0, integratedGradients: IntegratedGradients = IntegratedGradients(), draws: [[Float]]? = nil
    ) {
        (self.base, self.type, self.samples, self.noise, self.seed) = (base, type, samples, noise, seed)
        (self.integratedGradients, self.draws) = (integratedGradients, draws)
    }

    public var requirements: Capabilities { base == .ig ? integratedGradients.requirements : .gradients }

    public func explain(_ model: some SalienceModel) throws(InterpretError) -> Salience {
        guard SmoothGrad.bases.contains(base) else {
            throw .invalidConfig(
                OptionError(
                    field: "base", value: base.rawValue, problem: .notAChoice(SmoothGrad.bases.map(\.rawValue))))
        }
        try checkCompatible(with: model)
        let x = model.inputEmbeddings  // [T, H]
        let (t, h) = (model.length, model.hiddenSize)
        let eps = noiseDraws(x, model: model)
        if let draws, draws.count != samples || draws.contains(where: { $0.count != t * h }) {
            throw .badInput("smoothgrad: \(draws.count) noise draws for \(samples) samples of \(t)×\(h)")
        }
        let xs = x.scalars
        var sum = [Double](repeating: 0, count: t * h), squares = sum
        func add(_ a: UnsafeBufferPointer<Float>) {
            for i in 0..<(t * h) {
                let v = Double(a[i])
                sum[i] += v
                squares[i] += v * v
            }
        }
        if base == .ig {
            for e in eps {
                let noisy = NoisyInput(model: model, embeddings: Tensor(shape: [t, h], scalars: zip(xs, e).map(+)))
                try integratedGradients.explain(noisy).vectors!.withUnsafeBufferPointer(add)
            }
        } else {
            model.forEachBatch(samples) { range in
                let n = range.count
                var batch = [Float]()
                batch.reserveCapacity(n * t * h)
                for e in eps[range] { batch += zip(xs, e).map(+) }
                let noisy = Tensor(shape: [n, t, h], scalars: batch)  // [S, T, H]
                let (_, g) = model.gradients(at: noisy)
                // grad × input multiplies by the noisy input, as Captum's InputXGradient inside NoiseTunnel.
                let a = base == .gradInput ? g * noisy : g
                a.withUnsafeBufferPointer { p in
                    for r in 0..<n { add(UnsafeBufferPointer(rebasing: p[(r * t * h)..<((r + 1) * t * h)])) }
                }
            }
        }
        let s = Double(samples)
        let combined: [Float] = (0..<(t * h)).map { i in
            let mean = sum[i] / s, meanSq = squares[i] / s
            switch type {
            case .smoothgrad: return Float(mean)
            case .smoothgradSq: return Float(meanSq)
            case .vargrad: return Float(meanSq - mean * mean)
            }
        }
        let vectors = Tensor(shape: [t, h], scalars: combined)
        let reduction: TokenReduction = type != .smoothgrad ? .sum : base == .gradNorm ? .l2 : .sum
        var out = salience(for: model, scores: reduceTokens(vectors, reduction))
        out.vectors = vectors
        out.steps = samples
        return out
    }

    /// ε for each sample, [samples][T·H]: `draws`, or N(0, σ²) from the seed.
    func noiseDraws(_ x: Tensor, model: some SalienceModel) -> [[Float]] {
        if let draws { return draws }
        let sigma = Float(noise * SmoothGrad.range(x))
        var rng = RandomGenerator(seed: seed)
        return (0..<samples).map { _ in (0..<x.count).map { _ in sigma * rng.nextNormal() } }
    }

    /// max − min over all entries (Smilkov et al.'s x_max − x_min).
    public static func range(_ x: Tensor) -> Double {
        var lo = Float.infinity, hi = -Float.infinity
        x.withUnsafeBufferPointer { p in
            for v in p {
                lo = min(lo, v)
                hi = max(hi, v)
            }
        }
        return x.count == 0 ? 0 : Double(hi - lo)
    }
}

/// VarGrad by its own name: SmoothGrad's `vargrad` combination, reported as method `vargrad`.
public struct VarGrad: SalienceMethod {
    public static let id = MethodID.vargrad
    public var smoothGrad: SmoothGrad

    public init(_ smoothGrad: SmoothGrad) {
        self.smoothGrad = smoothGrad
        self.smoothGrad.type = .vargrad
    }

    public var requirements: Capabilities { smoothGrad.requirements }

    public func explain(_ model: some SalienceModel) throws(InterpretError) -> Salience {
        var out = try smoothGrad.explain(model)
        out.method = .vargrad
        return out
    }
}

/// A model seen at other input embeddings: what a method computes on a noisy copy. Scores of the unchanged input
/// and its kept forward pass are not reused (they belong to the original).
struct NoisyInput<Base: SalienceModel>: SalienceModel {
    let model: Base
    let embeddings: Tensor  // [T, H]

    var input: ExplainedInput {
        var i = model.input
        i.inputScore = nil
        return i
    }
    var inputEmbeddings: Tensor { embeddings }
    var capabilities: Capabilities { model.capabilities }
    var batchSize: Int { model.batchSize }
    func scores(_ embeddings: Tensor) -> Tensor { model.scores(embeddings) }
    func tokenEmbedding(_ token: SpecialToken) -> Tensor? { model.tokenEmbedding(token) }
    var wordEmbeddingStd: Double { model.wordEmbeddingStd }
}
