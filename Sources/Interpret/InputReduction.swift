// Input reduction (Feng et al. 2018, "Pathologies of Neural Models Make Interpretations Difficult"), as AllenNLP Interpret.
import Tensor

/// Removes the least important token, by the gradient norm of the target score on the current (shorter) input, for
/// as long as the model's prediction stays what it was on the whole input: AllenNLP's `InputReduction` with beam
/// size 1 (`allennlp/interpret/attackers/input_reduction.py`: L2 norm of each token's gradient, fixed tokens never
/// removed, a shorter input kept only if its prediction is unchanged). The gradient of the loss there and of the
/// target score here differ by one factor for all tokens, so they rank tokens alike.
///
/// Scores: a token removed at step k (1 = first) scores k; the tokens that remain score one more than the last
/// step; fixed tokens ([CLS], [SEP], a masked LM's target) score 0. `kept` and `removalOrder` give the result itself.
public struct InputReduction: SalienceMethod {
    public static let id = MethodID.inputReduction
    public var requirements: Capabilities { [.gradients, .removal] }

    public init() {}

    public func explain(_ model: some SalienceModel) throws(InterpretError) -> Salience {
        try checkCompatible(with: model)
        let t = model.length
        let fixed = model.input.fixed
        var keep = [Bool](repeating: true, count: t)
        var order: [Int] = []
        var (gradient, original) = try model.reducedGradient(keeping: keep)
        while true {
            let kept = (0..<t).filter { keep[$0] }
            // ‖∂F/∂xₜ‖ of each kept token, fixed ones never chosen; ties go to the first (numpy's argmin).
            let norms = reduceTokens(gradient, .l2)  // one per kept token
            var smallest: (p: Int, norm: Double)?
            for (i, p) in kept.enumerated() where !fixed.contains(p) && norms[i] < (smallest?.norm ?? .infinity) {
                smallest = (p, norms[i])
            }
            guard let p = smallest?.p, kept.count > 1 else { break }
            keep[p] = false
            let (g, predicted) = try model.reducedGradient(keeping: keep)
            if predicted != original {
                keep[p] = true  // the prediction would change: the previous input is the reduced one
                break
            }
            order.append(p)
            gradient = g
        }
        var scores = [Double](repeating: 0, count: t)
        for (k, p) in order.enumerated() { scores[p] = Double(k + 1) }
        for p in 0..<t where keep[p] && !fixed.contains(p) { scores[p] = Double(order.count + 1) }
        var out = salience(for: model, scores: scores)
        out.kept = (0..<t).filter { keep[$0] }
        out.removalOrder = order
        out.steps = order.count
        return out
    }
}
