// KernelSHAP (Lundberg & Lee 2017): Shapley values as a weighted regression over coalitions of tokens.
import Foundation
import Tensor

/// Shapley values of the features (tokens, or words) for the target score, with absent features
/// masked by [MASK] or removed.
///
/// The Shapley kernel π(z) = (M − 1) / (C(M, |z|) · |z| · (M − |z|)) weights every coalition z other than
/// the empty and the full one, which enter as constraints (φ₀ = f(∅), Σφ = f(all) − f(∅); paper Theorem 2).
/// With at most `exactLimit` (10) features every one of the 2^M − 2 coalitions is evaluated and the
/// regression gives the exact Shapley values. Beyond that, `samples` coalitions are drawn as shap's
/// `KernelExplainer` does: a size s with probability ∝ (M − 1)/(s(M − s)), a uniform subset of that size,
/// and its complement (paired sampling), each with weight 1.
public struct KernelSHAP: SalienceMethod {
    public static let id = MethodID.kernelShap
    public var samples: Int
    public var seed: UInt64
    public var perturbation: Perturbation
    public var mergeWords: Bool
    public var exactLimit: Int

    public init(
        samples: Int = 256, seed: UInt64 = 0, perturbation: Perturbation = .mask, mergeWords: Bool = false,
        exactLimit: Int = 10
    ) {
        self.samples = samples
        self.seed = seed
        self.perturbation = perturbation
        self.mergeWords = mergeWords
        self.exactLimit = exactLimit
    }

    public var requirements: Capabilities { perturbation == .mask ? .maskToken : .removal }

    public func explain(_ model: some SalienceModel) throws(InterpretError) -> Salience {
        try checkCompatible(with: model)
        guard samples >= 1 else {
            throw .invalidConfig(OptionError(field: "samples", value: String(samples), problem: .invalid("at least 1")))
        }
        let features = FeatureGroups(model.input, mergeWords: mergeWords)
        let m = features.count
        let t = model.length
        var coalitions: [[Bool]] = [[Bool](repeating: false, count: m), [Bool](repeating: true, count: m)]
        var weights: [Double] = [0, 0]
        if m <= exactLimit {
            if m >= 2 {
                for code in 1..<((1 << m) - 1) {
                    let z = (0..<m).map { code & (1 << $0) != 0 }
                    let s = z.filter { $0 }.count
                    coalitions.append(z)
                    weights.append(Double(m - 1) / (binomial(m, s) * Double(s) * Double(m - s)))
                }
            }
        } else {
            var generator = RandomGenerator(seed: seed)
            let sizeWeights = (1..<m).map { Double(m - 1) / (Double($0) * Double(m - $0)) }
            let total = sizeWeights.reduce(0, +)
            for _ in 0..<((samples + 1) / 2) {
                var u = Double(generator.nextUniform()) * total
                var s = 1
                for (i, w) in sizeWeights.enumerated() {
                    if u < w { s = i + 1; break }
                    u -= w
                    s = i + 1
                }
                let order = permutation(m, &generator)
                let z = order.map { $0 < s }
                coalitions.append(z)
                coalitions.append(z.map { !$0 })
                weights += [1, 1]
            }
        }
        let y = try model.perturbedScores(coalitions.map { features.positions($0, length: t) }, by: perturbation)
        let phi = constrainedShapleyRegression(
            z: Array(coalitions.dropFirst(2)), y: Array(y.dropFirst(2)), weights: Array(weights.dropFirst(2)),
            empty: y[0], full: y[1])
        var out = salience(for: model, scores: features.tokenScores(phi, length: t))
        out.steps = coalitions.count
        out.inputScore = y[1]
        out.baselineScore = y[0]
        return out
    }
}

/// C(n, k) as a Double.
func binomial(_ n: Int, _ k: Int) -> Double {
    var r = 1.0
    for i in 0..<min(k, n - k) { r = r * Double(n - i) / Double(i + 1) }
    return r
}
