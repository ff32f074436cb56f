// Occlusion / leave-one-out: how much the target score drops when one token (or word) is hidden.
import Tensor

/// Score(x) − score(x with feature i hidden), one perturbed input per feature, all in batches
/// (LIT's leave-one-out; Captum `Occlusion` with a one-token window and the [MASK] embedding as baseline).
/// Positive: the token supported the target.
public struct Occlusion: SalienceMethod {
    public static let id = MethodID.occlusion
    public var perturbation: Perturbation
    public var mergeWords: Bool

    public init(perturbation: Perturbation = .mask, mergeWords: Bool = false) {
        self.perturbation = perturbation
        self.mergeWords = mergeWords
    }

    public var requirements: Capabilities { perturbation == .mask ? .maskToken : .removal }

    public func explain(_ model: some SalienceModel) throws(InterpretError) -> Salience {
        try checkCompatible(with: model)
        let features = FeatureGroups(model.input, mergeWords: mergeWords)
        let (m, t) = (features.count, model.length)
        var masks = [[Bool](repeating: true, count: m)]
        for i in 0..<m {
            var z = [Bool](repeating: true, count: m)
            z[i] = false
            masks.append(z)
        }
        let y = try model.perturbedScores(masks.map { features.positions($0, length: t) }, by: perturbation)
        let drops = (0..<m).map { y[0] - y[$0 + 1] }
        var out = salience(for: model, scores: features.tokenScores(drops, length: t))
        out.steps = m
        out.inputScore = y[0]
        return out
    }
}
