// Integrated gradients (Sundararajan et al. 2017) with batched interpolation points and an accuracy target.
import Foundation
import Tensor

/// The IG starting point x′ (`--baseline`).
public enum Baseline: String, Sendable, CaseIterable {
    /// All-zero embeddings, every position (Captum's default; the goldens use it).
    case zeros
    /// Every non-fixed token replaced by the [PAD] embedding; [CLS]/[SEP] kept (Captum's BERT tutorial
    /// reference `[CLS] [PAD] … [PAD] [SEP]`).
    case pad
    /// The same with [MASK].
    case mask
}

/// IG(x)ₜₕ = (xₜₕ − x′ₜₕ) · ∫₀¹ ∂F/∂xₜₕ(x′ + α(x − x′)) dα (paper eq. 1), the integral by a quadrature
/// rule Σₖ wₖ ∂F/∂x(x′ + αₖ(x − x′)) as Captum's `IntegratedGradients(multiply_by_inputs=True)`.
/// Interpolation points run `batchSize` at a time as rows of one batch. Token score = Σₕ.
///
/// With `tolerance`, the rule is refined (`Quadrature.refined`: nested rules reuse every gradient already
/// computed; Gauss–Legendre doubles) until the completeness gap |δ| = |Σ IG − (F(x) − F(x′))| is at
/// most tolerance · |F(x) − F(x′)| (paper §3, "completeness"), or `maxSteps` is passed.
public struct IntegratedGradients: SalienceMethod {
    public static let id = MethodID.ig
    /// The first rule's size with a tolerance when none is given: on the random-weight BERT-base of the
    /// benchmark, 4 Gauss–Legendre points already reach |delta| ≈ 1e-5·|ΔF| (Benchmarks/README-interpret.md).
    public static let toleranceStart = 4
    public var steps: Int
    public var rule: QuadratureRule
    /// Explicit nodes and weights (overrides `steps` and `rule`; e.g. Captum's stored ones).
    public var quadrature: Quadrature?
    public var baseline: Baseline
    public var tolerance: Double?
    public var maxSteps: Int
    /// Interpolation points per forward/backward pass; nil = the model's `batchSize`.
    public var batchSize: Int?
    /// The baseline itself [T, H] (replaces `baseline`): layer IG's activations of the baseline input.
    var explicitBaseline: Tensor?

    public init(
        steps: Int = 32, rule: QuadratureRule = .gaussLegendre, baseline: Baseline = .zeros,
        tolerance: Double? = nil, maxSteps: Int = 512, batchSize: Int? = nil, quadrature: Quadrature? = nil
    ) {
        self.steps = steps
        self.rule = rule
        self.baseline = baseline
        self.tolerance = tolerance
        self.maxSteps = maxSteps
        self.batchSize = batchSize
        self.quadrature = quadrature
    }

    public var requirements: Capabilities {
        switch baseline {
        case .zeros: return .gradients
        case .pad: return [.gradients, .padToken]
        case .mask: return [.gradients, .maskToken]
        }
    }

    /// Checks the options against `spec` and the rule's smallest size (errors name the field).
    public func validate() throws(InterpretError) {
        var values: ConfigValues = ["rule": .string(rule.rawValue), "baseline": .string(baseline.rawValue)]
        if quadrature == nil { values["steps"] = .int(steps) }
        if let tolerance { values["tolerance"] = .double(tolerance) }
        if let batchSize { values["batch_size"] = .int(batchSize) }
        do { _ = try Self.spec.validate(values) } catch { throw .invalidConfig(error) }
        if quadrature == nil && steps < rule.minimumPoints {
            throw .invalidConfig(
                OptionError(
                    field: "steps", value: String(steps),
                    problem: .invalid("≥ \(rule.minimumPoints) for rule \(rule.rawValue)")))
        }
    }

    /// The baseline x′ [T, H].
    func baselineEmbeddings(_ model: some SalienceModel) throws(InterpretError) -> Tensor {
        if let explicitBaseline { return explicitBaseline }
        let (t, h) = (model.length, model.hiddenSize)
        guard baseline != .zeros else { return Tensor.zeros([t, h]) }
        let token: SpecialToken = baseline == .pad ? .pad : .mask
        guard let e = model.tokenEmbedding(token) else {
            throw .unsupported(method: Self.id.rawValue, missing: baseline == .pad ? .padToken : .maskToken)
        }
        let x = model.inputEmbeddings.scalars, ev = e.scalars
        var out = [Float]()
        out.reserveCapacity(t * h)
        for p in 0..<t {
            if model.input.fixed.contains(p) { out += x[(p * h)..<((p + 1) * h)] } else { out += ev }
        }
        return Tensor(shape: [t, h], scalars: out)
    }

    public func explain(_ model: some SalienceModel) throws(InterpretError) -> Salience {
        try checkCompatible(with: model)
        try validate()
        let x = model.inputEmbeddings
        let x0 = try baselineEmbeddings(model)
        let diff = (x - x0).scalars
        let (t, h) = (model.length, model.hiddenSize)
        let rows = batchSize ?? model.batchSize
        var cache = GradientCache()
        var q = quadrature ?? Quadrature(rule, points: steps)
        let keepAll = tolerance != nil
        var endpoints: (Double, Double)?  // F(x), F(x′)

        while true {
            // Gradients at the nodes not evaluated yet, in batches of interpolation points.
            let missing = q.nodes.filter { cache[$0] == nil }
            model.forEachBatch(missing.count, rows: rows) { range in
                let alphas = Array(missing[range])
                var batch = [Float]()
                batch.reserveCapacity(alphas.count * t * h)
                x0.withUnsafeBufferPointer { b in
                    for a in alphas {
                        let fa = Float(a)
                        for i in 0..<(t * h) { batch.append(b[i] + fa * diff[i]) }
                    }
                }
                let (s, g) = model.gradients(at: Tensor(shape: [alphas.count, t, h], scalars: batch))
                let gs = g.scalars
                for (r, a) in alphas.enumerated() {
                    cache[a] = (s[r], Array(gs[(r * t * h)..<((r + 1) * t * h)]))
                }
            }
            // Σₖ wₖ gₖ in Double, then × (x − x′).
            var integral = [Double](repeating: 0, count: t * h)
            for (a, w) in zip(q.nodes, q.weights) {
                let g = cache[a]!.gradient
                let wf = Double(Float(w))  // Captum multiplies by the step sizes as float32
                for i in 0..<(t * h) { integral[i] += wf * Double(g[i]) }
            }
            var attributions = [Float](repeating: 0, count: t * h)
            var total = 0.0
            for i in 0..<(t * h) {
                // Stored as Float32; the total is taken over the stored values, so that
                // Σ token scores − (F(x) − F(x′)) is delta exactly (Captum sums its float32 attributions).
                attributions[i] = Float(integral[i] * Double(diff[i]))
                total += Double(attributions[i])
            }
            if let at1 = cache[1], let at0 = cache[0] {
                endpoints = (at1.score, at0.score)
            } else if endpoints == nil {
                if let fx = cache[1]?.score ?? model.input.inputScore {
                    endpoints = (fx, cache[0]?.score ?? model.evaluate(x0.reshaped([1, t, h]))[0])
                } else {
                    let f = model.evaluate(Tensor.stack([x, x0], axis: 0))
                    endpoints = (f[0], f[1])
                }
            }
            let (fx, fb) = endpoints!
            let delta = total - (fx - fb)
            let converged = tolerance.map { abs(delta) <= $0 * abs(fx - fb) }
            let next = keepAll && converged == false ? q.refined() : nil
            if let next, next.count <= maxSteps {
                q = next
                continue
            }
            let vectors = Tensor(shape: [t, h], scalars: attributions)
            var out = salience(for: model, scores: reduceTokens(vectors, .sum))
            out.vectors = vectors
            out.delta = delta
            out.inputScore = fx
            out.baselineScore = fb
            out.steps = q.count
            out.evaluations = cache.count
            out.converged = converged
            return out
        }
    }
}

/// Score and gradient at each evaluated interpolation point, keyed by α (to 2⁻⁴⁰) so that nested
/// rules find the nodes they share with coarser ones.
struct GradientCache {
    private var entries: [Int64: (score: Double, gradient: [Float])] = [:]
    var count: Int { entries.count }

    private func key(_ alpha: Double) -> Int64 { Int64((alpha * 0x1p40).rounded()) }

    subscript(_ alpha: Double) -> (score: Double, gradient: [Float])? {
        get { entries[key(alpha)] }
        set { entries[key(alpha)] = newValue }
    }
}
