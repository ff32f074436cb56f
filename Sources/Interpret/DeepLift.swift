// DeepLIFT with the rescale rule on the input embeddings, as Captum's DeepLift applies it to a text transformer.
import Tensor

/// DeepLIFT (Shrikumar et al. 2017) as Captum's `DeepLift(multiply_by_inputs=True)`: (x − x′) times the gradient in
/// which each non-linearity Captum rescales passes back its secant (f(z) − f(z′))/(z − z′) between the baseline's and
/// the input's pre-activations (the rescale rule, §3.5.1). Captum rescales modules of known types only: in BERT just
/// the pooler's `nn.Tanh` (GELU is a module type it does not know and the attention and score softmaxes are
/// functions, all passed through as plain gradients); GPT-2 has none, so there DeepLIFT is exactly
/// gradient × (x − x′), i.e. grad × input for the zero baseline. `delta` = Σ attributions − (F(x) − F(x′)), Captum's
/// convergence delta; it is not 0 because only one non-linearity is rescaled.
public struct DeepLift: SalienceMethod {
    public static let id = MethodID.deeplift
    public var baseline: Baseline

    public init(baseline: Baseline = .zeros) { self.baseline = baseline }

    public var requirements: Capabilities { IntegratedGradients(baseline: baseline).requirements }

    public func explain(_ model: some SalienceModel) throws(InterpretError) -> Salience {
        try checkCompatible(with: model)
        let x = model.inputEmbeddings  // [T, H]
        let x0 = try IntegratedGradients(baseline: baseline).baselineEmbeddings(model)
        let (s, g) = model.deepLiftGradients(at: x.reshaped([1] + x.shape), baseline: x0)
        let vectors = g.reshaped(x.shape) * (x - x0)  // [T, H]
        var out = salience(for: model, scores: reduceTokens(vectors, .sum))
        out.vectors = vectors
        let fb = model.evaluate(x0.reshaped([1] + x0.shape))[0]
        out.inputScore = s[0]
        out.baselineScore = fb
        out.delta = vectors.scalars.reduce(0.0) { $0 + Double($1) } - (s[0] - fb)
        return out
    }
}
