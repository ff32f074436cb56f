// The one declaration of a model's tensors: checkpoint name, shape, kind, part of the model and where it lives.
//
// Each model writes its module tree once (`Bert.parameterTable`, `GPT2.parameterTable`), scoping names and key
// paths together as candle's `VarBuilder.pp("encoder").pp("layer").pp(i)` does. Loading, the strict
// expected-tensor check, `visitParameters`, fine-tuning's initialisation and its weight-decay rule all read it.
import Tensor

/// What a parameter is: decides its initial value and whether AdamW decays it.
public enum ParameterKind: Sendable, Equatable {
    case weight  // a dense layer's matrix
    case embedding  // an embedding table
    case bias
    case normWeight  // LayerNorm γ
    case normBias  // LayerNorm β

    /// transformers' Trainer decays every parameter but biases and LayerNorm weights
    /// (`get_decay_parameter_names`).
    public var takesWeightDecay: Bool { self == .weight || self == .embedding }
}

/// The parts of a model that a checkpoint may or may not hold.
public enum ModelPart: Sendable, Hashable {
    case body  // embeddings, layers, final norm: in every checkpoint
    case pooler  // BERT's pooler: BertModel has it, BertForMaskedLM has not
    case classifier  // the sequence-classification head
    case maskedLMHead  // `cls.predictions`
    case nextSentenceHead  // BertForPreTraining's `cls.seq_relationship`: allowed, never used
    case lmHead  // GPT-2's untied `lm_head`

    /// Whether its tensors belong to the base model, stored under transformers' `base_model_prefix`
    /// (CheckpointNames.basePrefix); head tensors never carry it.
    public var inBaseModel: Bool { self == .body || self == .pooler }
}

/// One tensor of a model's declaration.
public struct ParameterDeclaration<Model> {
    /// The checkpoint key, without the base prefix: `encoder.layer.0.attention.self.query.weight`.
    public let name: String
    public let shape: [Int]
    public let kind: ParameterKind
    public let part: ModelPart
    /// Whether a checkpoint for the declared config and task must hold it; otherwise it is allowed and optional.
    public let isRequired: Bool
    /// An embedding row that starts at zero (`nn.Embedding(padding_idx:)`), if any.
    public let paddingRow: Int?
    /// Where the model holds the tensor; nil for one a checkpoint may carry that the model never reads.
    public let path: WritableKeyPath<Model, Tensor>?
    /// Whether a loaded model holds this tensor's part whenever the checkpoint stores it (the pooler, an
    /// untied head), rather than only when its task requires it.
    let heldWhenStored: Bool
}

/// A model's tensors in checkpoint order: the order in which a loader reads them, the visitor and the optimiser
/// walk them, and the strict check looks for the first missing one.
public struct ParameterTable<Model> {
    public fileprivate(set) var entries: [ParameterDeclaration<Model>] = []

    /// Declares a table: `body` gets the root scope (no name prefix, the model itself).
    init(_ body: (ParameterScope<Model, Model>) -> Void) {
        let sink = ParameterSink<Model>()
        let root = ParameterScope(
            sink: sink, prefix: "", path: \Model.self, part: .body, required: true, heldWhenStored: false)
        body(root)
        entries = sink.entries
    }

    /// The entries a model holds, given which optional parts it has, in table order.
    func held(_ holds: (ModelPart) -> Bool) -> [ParameterDeclaration<Model>] {
        entries.filter { $0.path != nil && holds($0.part) }
    }

    /// The parts a model loaded from `stored` holds: the body, the parts its task requires, and the parts held
    /// whenever stored if the checkpoint has the first tensor of the part.
    func partsToLoad(stored: [String: Tensor]) -> Set<ModelPart> {
        var parts: Set<ModelPart> = [.body]
        var seen: Set<ModelPart> = []
        for e in entries where e.path != nil && seen.insert(e.part).inserted {
            if e.isRequired || (e.heldWhenStored && stored[e.name] != nil) { parts.insert(e.part) }
        }
        return parts
    }

    /// Reads every tensor of `parts` into `model`, in table order.
    func load(into model: inout Model, parts: Set<ModelPart>, from p: ParameterReader) throws(WeightError) {
        for e in entries where parts.contains(e.part) {
            if let path = e.path { model[keyPath: path] = try p(e.name) }
        }
    }
}

/// Where a table's scopes append their declarations.
final class ParameterSink<Model> {
    var entries: [ParameterDeclaration<Model>] = []
}

/// A point in a module tree while it is declared: a name prefix and the key path to the module there.
/// `scope("encoder.layer.0", \.layers[0])` narrows both at once.
struct ParameterScope<Model, Module> {
    let sink: ParameterSink<Model>
    let prefix: String
    let path: WritableKeyPath<Model, Module>
    var part: ModelPart
    var required: Bool
    var heldWhenStored: Bool

    private func key(_ name: String) -> String { prefix.isEmpty ? name : prefix + "." + name }

    /// The submodule `name` at `sub`.
    func callAsFunction<Sub>(_ name: String, _ sub: WritableKeyPath<Module, Sub>) -> ParameterScope<Model, Sub> {
        ParameterScope<Model, Sub>(
            sink: sink, prefix: key(name), path: path.appending(path: sub), part: part, required: required,
            heldWhenStored: heldWhenStored)
    }

    /// The same scope for an optional part of the model: required only when `required`.
    func part(_ part: ModelPart, required: Bool, heldWhenStored: Bool = false) -> ParameterScope {
        var s = self
        (s.part, s.required, s.heldWhenStored) = (part, required, heldWhenStored)
        return s
    }

    /// The same scope with another requirement (a tensor needed only for some configs).
    func required(_ required: Bool) -> ParameterScope {
        var s = self
        s.required = required
        return s
    }

    /// One tensor; `sub` nil declares one a checkpoint may hold that the model does not read.
    func tensor(
        _ name: String, _ sub: WritableKeyPath<Module, Tensor>?, _ shape: [Int], _ kind: ParameterKind,
        paddingRow: Int? = nil
    ) {
        sink.entries.append(
            ParameterDeclaration(
                name: key(name), shape: shape, kind: kind, part: part, isRequired: required, paddingRow: paddingRow,
                path: sub.map { path.appending(path: $0) }, heldWhenStored: heldWhenStored))
    }

    /// `torch.nn.Linear`: `name.weight` [out, in], `name.bias` [out].
    func linear(_ name: String, _ sub: WritableKeyPath<Module, Linear>, out: Int, in inputs: Int) {
        let m = self(name, sub)
        m.tensor("weight", \.weight, [out, inputs], .weight)
        m.tensor("bias", \.bias!, [out], .bias)
    }

    /// GPT-2's `Conv1D`: `name.weight` [in, out], `name.bias` [out].
    func conv1D(_ name: String, _ sub: WritableKeyPath<Module, Conv1D>, in inputs: Int, out: Int) {
        let m = self(name, sub)
        m.tensor("weight", \.weight, [inputs, out], .weight)
        m.tensor("bias", \.bias, [out], .bias)
    }

    /// `torch.nn.LayerNorm(n)`: `name.weight` [n], `name.bias` [n].
    func layerNorm(_ name: String, _ sub: WritableKeyPath<Module, LayerNorm>, _ n: Int) {
        let m = self(name, sub)
        m.tensor("weight", \.weight, [n], .normWeight)
        m.tensor("bias", \.bias, [n], .normBias)
    }
}

extension Linear {
    /// A linear layer whose tensors a loader fills in.
    static var unloaded: Linear { Linear(weight: .unloaded, bias: .unloaded) }
}

extension Conv1D {
    static var unloaded: Conv1D { Conv1D(weight: .unloaded, bias: .unloaded) }
}

extension LayerNorm {
    static func unloaded(eps: Float) -> LayerNorm { LayerNorm(weight: .unloaded, bias: .unloaded, eps: eps) }
}

extension Tensor {
    /// The placeholder a loader overwrites.
    static var unloaded: Tensor { Tensor.zeros([0]) }
}
