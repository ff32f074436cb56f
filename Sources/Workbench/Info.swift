// What a model and a dataset offer (LIT's /get_info): task, labels, sizes, and every compatible component with its spec.
import Interpret
import Transformer

/// A salience method (or any component) as a front end lists it: id, one line, options, and whether it applies.
public struct ComponentInfo: Codable, Sendable {
    public var id: String
    public var summary: String
    public var spec: ConfigSpec
    /// False when the model lacks something the component needs; `reason` says what.
    public var compatible: Bool
    public var reason: String?
}

public struct ModelInfo: Codable, Sendable {
    public var name: String
    public var architecture: String
    public var task: String
    public var labels: [String]
    public var layers: Int
    public var heads: Int
    public var hiddenSize: Int
    public var maxLength: Int
    /// fp32, bf16 or int8: the arithmetic of predictions, embeddings and perturbation methods (gradients are fp32).
    public var precision: String
    /// What the salience adapters can use: gradients, attention capture, hidden states, a [MASK] token, …
    public var capabilities: [String]
    /// Which operations apply: predict, embed, generate, explain, evaluate, attention, project, …
    public var operations: [String]
    public var methods: [ComponentInfo]
    /// Counterfactual generators (LIT's), with their specs.
    public var generators: [ComponentInfo]
    public var metrics: [String]
    public var projections: [String]

    enum CodingKeys: String, CodingKey {
        case name, architecture, task, labels, layers, heads, hiddenSize = "hidden_size", maxLength = "max_length"
        case precision, capabilities, operations, methods, generators, metrics, projections
    }
}

public struct DatasetInfo: Codable, Sendable {
    public var name: String
    public var size: Int
    public var fields: [String]
    /// Gold labels that occur, sorted.
    public var labels: [String]
}

public struct WorkspaceInfo: Codable, Sendable {
    public var models: [ModelInfo]
    public var datasets: [DatasetInfo]
}

extension Workbench {
    /// The description of `model` under `name`.
    public static func info(_ model: LoadedModel, name: String) -> ModelInfo {
        let (layers, heads, hidden): (Int, Int, Int)
        switch model.network {
        case .bert(let b): (layers, heads, hidden) = (b.config.numHiddenLayers, b.config.numAttentionHeads, b.config.hiddenSize)
        case .gpt2(let g): (layers, heads, hidden) = (g.config.nLayer, g.config.nHead, g.config.nEmbd)
        }
        let offered = model.salienceCapabilities
        let methods = MethodID.allCases.map { id -> ComponentInfo in
            let missing = id.requirements.subtracting(offered)
            return ComponentInfo(
                id: id.rawValue, summary: id.summary, spec: id.spec, compatible: missing.isEmpty && !offered.isEmpty,
                reason: offered.isEmpty ? "the model has no score to explain" : missing.isEmpty ? nil : "needs \(missing)")
        }
        var operations = ["tokenize"]
        var labels: [String] = []
        switch (model.network, model.task) {
        case (.bert(let b), .sequenceClassification):
            labels = Workbench.labels(model, count: b.classifier?.weight.shape[0] ?? model.labels.count)
            operations += ["predict", "embed", "explain", "attention", "evaluate", "metrics", "project", "counterfactuals", "tcav"]
        case (.bert, .maskedLM): operations += ["predict", "embed", "explain", "attention", "project"]
        case (.bert, _): operations += ["embed", "project"]
        case (.gpt2, .causalLM): operations += ["predict", "generate", "explain", "attention"]
        default: break
        }
        return ModelInfo(
            name: name, architecture: model.architecture.rawValue, task: model.task.rawValue, labels: labels,
            layers: layers, heads: heads, hiddenSize: hidden, maxLength: model.maxLength,
            precision: model.precision.rawValue, capabilities: offered.identifiers, operations: operations,
            methods: methods,
            generators: GeneratorID.allCases.map { g in
                let ok = g.isCompatible(model)
                return ComponentInfo(
                    id: g.rawValue, summary: g.summary, spec: g.spec, compatible: ok,
                    reason: ok ? nil : "needs a BERT sequence classifier")
            },
            metrics: operations.contains("metrics") ? ["accuracy", "precision", "recall", "f1", "confusion", "pr_curve"] : [],
            projections: operations.contains("project") ? ["pca", "umap"] : [])
    }

    public static func info(_ examples: [Example], name: String) -> DatasetInfo {
        let labels = Set(examples.compactMap(\.label)).sorted()
        return DatasetInfo(
            name: name, size: examples.count, fields: labels.isEmpty ? ["id", "text"] : ["id", "text", "label"],
            labels: labels)
    }
}

extension Workspace {
    public var info: WorkspaceInfo {
        WorkspaceInfo(
            models: models.keys.sorted().map { Workbench.info(models[$0]!, name: $0) },
            datasets: datasetNames.compactMap { name in (try? examples(name)).map { Workbench.info($0, name: name) } })
    }
}
