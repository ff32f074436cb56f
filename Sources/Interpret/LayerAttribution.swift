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
        ig.baseline = .zeros  // the layer view has no [PAD] / [MASK]: the explicit baseline stands for them
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

/// Conductance of hidden state `layer` (Dhamdhere et al. 2019, "How important is a neuron?", eq. 3), as Captum's
/// `LayerConductance`: along the input path x′ + α(x − x′) at the rule's `steps + 1` nodes α₀ < … < αₙ, the sum
/// Σₖ ∂F/∂a(αₖ) · (a(αₖ₊₁) − a(αₖ)) of the layer's gradient times the change of its activations a = h(·); per token
/// summed. Its total is input IG's total up to the quadrature (both tend to F(x) − F(x′)).
public struct LayerConductance: SalienceMethod {
    public static let id = MethodID.conductance
    public var layer: Int
    public var steps: Int
    public var rule: QuadratureRule
    public var baseline: Baseline

    public init(layer: Int = 0, steps: Int = 32, rule: QuadratureRule = .gaussLegendre, baseline: Baseline = .zeros) {
        (self.layer, self.steps, self.rule, self.baseline) = (layer, steps, rule, baseline)
    }

    public var requirements: Capabilities {
        IntegratedGradients(baseline: baseline).requirements.union(.hiddenStates)
    }

    public func explain(_ model: some SalienceModel) throws(InterpretError) -> Salience {
        try checkCompatible(with: model)
        let x = model.inputEmbeddings  // [T, H]
        let x0 = try IntegratedGradients(baseline: baseline).baselineEmbeddings(model)
        let alphas = Quadrature(rule, points: steps + 1).nodes.sorted()
        let (xs, diff) = (x0.scalars, (x - x0).scalars)
        let view = try LayerView(model, layer: layer)  // F as a function of the layer: its gradients
        var activations: [[Float]] = [], gradients: [[Float]] = []  // per node, [T·H']
        var shape: [Int] = []
        try model.forEachBatch(alphas.count) { (range: Range<Int>) throws(InterpretError) in
            let chunk = alphas[range]
            var points = [Float]()
            for a in chunk { points += zip(xs, diff).map { $0 + Float(a) * $1 } }
            let p = Tensor(shape: [chunk.count] + x.shape, scalars: points)  // [n, T, H]
            let h = try model.hiddenState(layer: layer, p).detached  // [n, T, H']
            let g = view.gradients(at: h).gradients.scalars, hv = h.scalars  // ∂F/∂a at each node
            let size = h.count / chunk.count
            shape = Array(h.shape.dropFirst())
            for r in 0..<chunk.count {
                activations.append(Array(hv[(r * size)..<((r + 1) * size)]))
                gradients.append(Array(g[(r * size)..<((r + 1) * size)]))
            }
        }
        var sum = [Double](repeating: 0, count: activations[0].count)
        for k in 0..<steps {
            for i in sum.indices {
                sum[i] += Double(gradients[k][i]) * Double(activations[k + 1][i] - activations[k][i])
            }
        }
        let vectors = Tensor(shape: shape, scalars: sum.map(Float.init))
        var out = salience(for: model, scores: reduceTokens(vectors, .sum))
        out.vectors = vectors
        out.layer = layer
        out.steps = steps
        return out
    }
}

/// Integrated gradients of one hidden unit instead of the model's score, as Captum's `NeuronIntegratedGradients`:
/// unit `unit` of hidden state `layer` at the position the head reads ([CLS], a masked LM's [MASK], GPT-2's last
/// token); attributions to the input embeddings, completeness against h(x) − h(x′).
public struct NeuronIntegratedGradients: SalienceMethod {
    public static let id = MethodID.ig
    public var layer: Int
    public var unit: Int
    public var integratedGradients: IntegratedGradients
    public var requirements: Capabilities { integratedGradients.requirements.union(.hiddenStates) }

    public init(layer: Int, unit: Int, _ integratedGradients: IntegratedGradients) {
        (self.layer, self.unit, self.integratedGradients) = (layer, unit, integratedGradients)
    }

    public func explain(_ model: some SalienceModel) throws(InterpretError) -> Salience {
        try checkCompatible(with: model)
        var out = try integratedGradients.explain(try NeuronView(model, layer: layer, unit: unit))
        out.layer = layer
        out.neuron = unit
        return out
    }
}

/// The model seen as one hidden unit at the readout position, a function of the input embeddings.
struct NeuronView<Base: SalienceModel>: SalienceModel {
    let model: Base
    let layer: Int, unit: Int

    init(_ model: Base, layer: Int, unit: Int) throws(InterpretError) {
        let x = model.inputEmbeddings
        let h = try model.hiddenState(layer: layer, x.reshaped([1] + x.shape))  // [1, T, H']
        guard h.rank == 3, (0..<h.shape[2]).contains(unit) else {
            throw .invalidConfig(
                OptionError(field: "neuron", value: "\(layer):\(unit)", problem: .invalid("a unit in 0…\(h.shape.last! - 1)")))
        }
        (self.model, self.layer, self.unit) = (model, layer, unit)
    }

    var input: ExplainedInput {
        var i = model.input
        i.inputScore = nil
        i.target = "neuron \(layer):\(unit)"
        return i
    }
    var inputEmbeddings: Tensor { model.inputEmbeddings }
    var capabilities: Capabilities { model.capabilities }
    var batchSize: Int { model.batchSize }
    func tokenEmbedding(_ token: SpecialToken) -> Tensor? { model.tokenEmbedding(token) }

    func scores(_ embeddings: Tensor) -> Tensor {
        let b = embeddings.shape[0], p = model.input.readout
        do {
            let h = try model.hiddenState(layer: layer, embeddings)  // [B, T, H']
            return h.slice(axis: 1, p..<(p + 1)).slice(axis: 2, unit..<(unit + 1)).reshaped([b])  // [B]
        } catch {
            preconditionFailure("hiddenState(layer: \(layer)) failed after succeeding in init: \(error)")  // as LayerView
        }
    }
}
