// LIME (Ribeiro et al. 2016) for text as LIT implements it: masked samples, exponential kernel, weighted ridge.
import Foundation
import Tensor

/// Local surrogate: sample which tokens to hide, score the perturbed inputs, and fit a weighted ridge
/// regression of the scores on the keep-masks; the coefficients are the token scores.
///
/// Follows LIT (`lit_nlp/components/lime_explainer.py`, `citrus/lime.py`): `samples` + 1 masks, the first
/// one all-on; each other mask disables k features, k uniform in 1…M, chosen by a random permutation;
/// sample weight = √exp(−d²/w²) with d = 100 × cosine distance between the all-on mask and the sample's
/// mask, kernel width w = 256 (LIT's default); `Ridge(alpha=1)` with an intercept. Hidden tokens become
/// [MASK] (LIT's default mask token) or are removed. Scores are raw coefficients (LIT's UI normalises them
/// afterwards).
public struct LIME: SalienceMethod {
    public static let id = MethodID.lime
    public var samples: Int
    public var seed: UInt64
    public var kernelWidth: Double
    public var alpha: Double
    public var perturbation: Perturbation
    public var mergeWords: Bool

    public init(
        samples: Int = 256, seed: UInt64 = 0, kernelWidth: Double = 256, alpha: Double = 1,
        perturbation: Perturbation = .mask, mergeWords: Bool = false
    ) {
        self.samples = samples
        self.seed = seed
        self.kernelWidth = kernelWidth
        self.alpha = alpha
        self.perturbation = perturbation
        self.mergeWords = mergeWords
    }

    public var requirements: Capabilities { perturbation == .mask ? .maskToken : .removal }

    public func explain(_ model: some SalienceModel) throws(InterpretError) -> Salience {
        try checkCompatible(with: model)
        guard samples >= 1 else {
            throw .invalidConfig(OptionError(field: "samples", value: String(samples), problem: .invalid("at least 1")))
        }
        guard kernelWidth > 0 else {
            throw .invalidConfig(
                OptionError(field: "kernel_width", value: String(kernelWidth), problem: .invalid("a positive number")))
        }
        let features = FeatureGroups(model.input, mergeWords: mergeWords)
        let m = features.count
        let t = model.length
        guard m > 0 else {
            var out = salience(for: model, scores: [Double](repeating: 0, count: t))
            out.steps = 0
            return out
        }
        var generator = RandomGenerator(seed: seed)
        var masks = [[Bool]]()
        masks.reserveCapacity(samples + 1)
        masks.append([Bool](repeating: true, count: m))
        for _ in 0..<samples {
            let order = permutation(m, &generator)
            let disabled = 1 + Int(generator.next() % UInt64(m))
            // LIT: permutations >= num_disabled → the features at the first `disabled` shuffled slots go off.
            masks.append(order.map { $0 >= disabled })
        }
        let y = try model.perturbedScores(masks.map { features.positions($0, length: t) }, by: perturbation)
        let weights = masks.map { mask -> Double in
            let k = Double(mask.filter { $0 }.count)
            // Cosine distance between the all-ones vector and the mask (sklearn: a zero vector has
            // similarity 0, so distance 1).
            let cosine = k == 0 ? 0 : k / (Double(m).squareRoot() * k.squareRoot())
            let d = 100 * (1 - cosine)
            return Foundation.exp(-(d * d) / (kernelWidth * kernelWidth)).squareRoot()
        }
        let x = masks.flatMap { $0.map { $0 ? 1.0 : 0.0 } }
        let fit = weightedRidge(x: x, y: y, weights: weights, rows: masks.count, p: m, alpha: alpha)
        var out = salience(for: model, scores: features.tokenScores(fit.coefficients, length: t))
        out.steps = samples
        out.inputScore = y[0]
        return out
    }
}

/// A uniformly random permutation of 0..<n (Fisher–Yates).
func permutation(_ n: Int, _ generator: inout RandomGenerator) -> [Int] {
    var p = Array(0..<n)
    if n < 2 { return p }
    for i in stride(from: n - 1, to: 0, by: -1) {
        let j = Int(generator.next() % UInt64(i + 1))
        p.swapAt(i, j)
    }
    return p
}
