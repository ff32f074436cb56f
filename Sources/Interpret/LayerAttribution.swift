// Layer attributions (Captum's LayerGradientXActivation, LayerIntegratedGradients): gradient methods on a hidden state.
import Tensor

/// Gradient × activation at hidden state `layer` (0 = the embedding output … L), summed per token: Captum's
/// `LayerGradientXActivation` on the module whose output that hidden state is (BERT: `bert.embeddings` for 0,
/// `bert.encoder.layer[L − 1]` for L).
public struct LayerGradientXActivation: SalienceMethod {
    public static let id = MethodID.gradInput
    public var layer: Int
    public var requirements: Capabilities { [.gradients, .hiddenStates] }

    public init(layer: Int) { self.layer = layer }

    public func explain(_ model: some SalienceModel) throws(InterpretError) -> Salience {
        try checkCompatible(with: model)
        var out = try GradientTimesInput().explain(try LayerView(model, layer: layer))
        out.layer = layer
        return out
    }
}

/// Integrated gradients of hidden state `layer`, as Captum's `LayerIntegratedGradients`: the baseline is the
/// input-side one (zeros, [PAD] or [MASK] embeddings) run up to that layer, a′ = h(x′); the path is the straight
/// line a′ → a = h(x) in the layer's activations, the rest of the network scoring each point; attributions
/// (a − a′)·∫ ∂F/∂a, and completeness holds against F(x) − F(x′).
public struct LayerIntegratedGradients: SalienceMethod {
    public static let id = MethodID.ig
    public var layer: Int
    public var integratedGradients: IntegratedGradients
    public var requirements: Capabilities { integratedGradients.requirements.union(.hiddenStates) }

    public init(layer: Int, _ integratedGradients: IntegratedGradients) {
        (self.layer, self.integratedGradients) = (layer, integratedGradients)
    }

    public func explain(_ model: some SalienceModel) throws(InterpretError) -> Salience {
        try checkCompatible(with: model)
        let x0 = try integratedGradients.baselineEmbeddings(model)  // [T, H]
        let a0 = try model.hiddenState(layer: layer, x0.reshaped([1] + x0.shape))  // [1, T, H']
        var ig = integratedGradients
        ig.explicitBaseline = a0.detached.reshaped(Array(a0.shape.dropFirst()))  // [T, H']
        var out = try ig.explain(try LayerView(model, layer: layer))
        out.layer = layer
        return out
    }
}

/// The model seen from hidden state `layer`: the input's activations there are the "input embeddings", and the
/// scores are the rest of the network. F is unchanged, so the input's score is the original's.
struct LayerView<Base: SalienceModel>: SalienceModel {
    let model: Base
    let layer: Int
    let inputEmbeddings: Tensor  // [T, H']: the activations of the input

    init(_ model: Base, layer: Int) throws(InterpretError) {
        guard model.capabilities.contains(.hiddenStates) else {
            throw .unsupported(method: "layer attribution", missing: .hiddenStates)
        }
        let x = model.inputEmbeddings
        let a = try model.hiddenState(layer: layer, x.reshaped([1] + x.shape)).detached  // [1, T, H']
        _ = try model.scores(fromHiddenState: layer, a)  // the layer is valid for both directions
        (self.model, self.layer, inputEmbeddings) = (model, layer, a.reshaped(Array(a.shape.dropFirst())))
    }

    var input: ExplainedInput { model.input }
    /// Only gradients: the baselines (IG's) come from the original input's side.
    var capabilities: Capabilities { .gradients }
    var batchSize: Int { model.batchSize }

    func scores(_ hidden: Tensor) -> Tensor {
        do { return try model.scores(fromHiddenState: layer, hidden) } catch {
            // `init` ran the same call with this layer; a model whose answer changes breaks its own contract.
            preconditionFailure("scores(fromHiddenState: \(layer)) failed after succeeding: \(error)")
        }
    }
}
