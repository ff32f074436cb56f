// GradientSHAP: expected gradients over random baselines, random points on the path and a noisy input (Captum's GradientShap).
import Tensor

/// Where GradientSHAP's baselines come from (`--baseline`).
public enum SHAPBaseline: String, Sendable, CaseIterable {
    /// A fresh baseline each sample, every entry N(0, s²) with s the word-embedding matrix's standard deviation:
    /// a distribution of references, as Captum's examples draw `baselines = torch.randn(…)`.
    case gaussian
    /// One baseline, as integrated gradients' (`Baseline`): all zeros, or the non-fixed tokens as [PAD] / [MASK].
    case zeros, pad, mask
}

/// GradientSHAP (Lundberg & Lee 2017, §"Deep SHAP"; Erion et al. 2021, "expected gradients"), as Captum's
/// `GradientShap(multiply_by_inputs=True)`: for each of `samples` draws, a baseline b, a point α ~ U(0, 1) and input
/// noise ε ~ N(0, σ²) (σ = noise · (max x − min x), as SmoothGrad); with x̃ = x + ε the sample's attribution is
/// (x̃ − b) · ∂F/∂x(b + α(x̃ − b)), and the result is their mean, summed per token. The expectation over α is
/// integrated gradients' integral by Monte Carlo, so with one baseline and no noise it tends to IG.
public struct GradientSHAP: SalienceMethod {
    public static let id = MethodID.gradientShap
    public var samples: Int
    public var noise: Double
    public var baseline: SHAPBaseline
    public var seed: UInt64
    /// Explicit draws (replace the seeded ones; the Captum goldens replay theirs): per sample the baseline [T·H],
    /// α and ε [T·H].
    public var draws: [(baseline: [Float], alpha: Float, noise: [Float])]?

    public init(
        samples: Int = 16, noise: Double = 0, baseline: SHAPBaseline = .gaussian, seed: UInt64 = 0,
        draws: [(baseline: [Float], alpha: Float, noise: [Float])]? = nil
    ) {
        (self.samples, self.noise, self.baseline, self.seed, self.draws) = (samples, noise, baseline, seed, draws)
    }

    public var requirements: Capabilities {
        switch baseline {
        case .gaussian, .zeros: return .gradients
        case .pad: return [.gradients, .padToken]
        case .mask: return [.gradients, .maskToken]
        }
    }

    public func explain(_ model: some SalienceModel) throws(InterpretError) -> Salience {
        try checkCompatible(with: model)
        let x = model.inputEmbeddings  // [T, H]
        let (t, h) = (model.length, model.hiddenSize)
        let all: [(baseline: [Float], alpha: Float, noise: [Float])]
        if let draws { all = draws } else { all = try seededDraws(model) }
        if all.count != samples || all.contains(where: { $0.baseline.count != t * h || $0.noise.count != t * h }) {
            throw .badInput("gradient-shap: \(all.count) draws for \(samples) samples of \(t)×\(h)")
        }
        let xs = x.scalars
        var sum = [Double](repeating: 0, count: t * h)
        model.forEachBatch(samples) { range in
            let chunk = all[range]
            var points = [Float](), diffs = [Float]()
            points.reserveCapacity(chunk.count * t * h)
            diffs.reserveCapacity(chunk.count * t * h)
            for d in chunk {
                for i in 0..<(t * h) {
                    let noisy = xs[i] + d.noise[i]
                    // Captum's _scale_input: α·x̃ + (1 − α)·b, in float32.
                    points.append(d.alpha * noisy + (1 - d.alpha) * d.baseline[i])
                    diffs.append(noisy - d.baseline[i])
                }
            }
            let (_, g) = model.gradients(at: Tensor(shape: [chunk.count, t, h], scalars: points))  // [S, T, H]
            let a = g * Tensor(shape: [chunk.count, t, h], scalars: diffs)
            a.withUnsafeBufferPointer { p in
                for r in 0..<chunk.count {
                    for i in 0..<(t * h) { sum[i] += Double(p[r * t * h + i]) }
                }
            }
        }
        let vectors = Tensor(shape: [t, h], scalars: sum.map { Float($0 / Double(samples)) })
        var out = salience(for: model, scores: reduceTokens(vectors, .sum))
        out.vectors = vectors
        out.steps = samples
        return out
    }

    /// The draws from `seed`: per sample ε, then the baseline, then α.
    func seededDraws(_ model: some SalienceModel) throws(InterpretError) -> [(baseline: [Float], alpha: Float, noise: [Float])] {
        let x = model.inputEmbeddings
        let n = x.count
        let sigma = Float(noise * SmoothGrad.range(x))
        let fixed: [Float]?
        switch baseline {
        case .gaussian: fixed = nil
        case .zeros: fixed = [Float](repeating: 0, count: n)
        case .pad: fixed = try IntegratedGradients(baseline: .pad).baselineEmbeddings(model).scalars
        case .mask: fixed = try IntegratedGradients(baseline: .mask).baselineEmbeddings(model).scalars
        }
        let s = Float(model.wordEmbeddingStd)
        var rng = RandomGenerator(seed: seed)
        return (0..<samples).map { _ in
            let eps = sigma == 0 ? [Float](repeating: 0, count: n) : (0..<n).map { _ in sigma * rng.nextNormal() }
            let b = fixed ?? (0..<n).map { _ in s * rng.nextNormal() }
            return (b, rng.nextUniform(), eps)
        }
    }
}
