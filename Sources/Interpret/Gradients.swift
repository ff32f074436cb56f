// Gradient salience: the L2 norm of d score / d embedding per token, and gradient × input.
import Tensor

/// ‖∂F/∂xₜ‖₂ per token (LIT `GradientNorm`; Captum `Saliency(abs=False)` reduced by the L2 norm over
/// the embedding dimension). Unsigned: it says how sensitive the score is to a token, not in which direction.
public struct GradientNorm: SalienceMethod {
    public static let id = MethodID.gradNorm
    public var requirements: Capabilities { .gradients }
    public init() {}

    public func explain(_ model: some SalienceModel) throws(InterpretError) -> Salience {
        try checkCompatible(with: model)
        let x = model.inputEmbeddings
        let (s, g) = model.gradientAtInput()
        let vectors = g.reshaped(x.shape)  // [T, H]
        var out = salience(for: model, scores: reduceTokens(vectors, .l2))
        out.vectors = vectors
        out.inputScore = s
        return out
    }
}

/// Σₕ (∂F/∂xₜₕ · xₜₕ) per token (LIT `GradientDotInput`; Captum `InputXGradient` summed over the
/// embedding dimension). Signed: positive supports the target.
public struct GradientTimesInput: SalienceMethod {
    public static let id = MethodID.gradInput
    public var requirements: Capabilities { .gradients }
    public init() {}

    public func explain(_ model: some SalienceModel) throws(InterpretError) -> Salience {
        try checkCompatible(with: model)
        let x = model.inputEmbeddings
        let (s, g) = model.gradientAtInput()
        let vectors = g.reshaped(x.shape) * x  // [T, H]
        var out = salience(for: model, scores: reduceTokens(vectors, .sum))
        out.vectors = vectors
        out.inputScore = s
        return out
    }
}
