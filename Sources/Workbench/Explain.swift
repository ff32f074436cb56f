// `explain`: one entry point for BERT token salience and GPT-2 sequence salience, with any method and its config.
import Foundation
import Interpret
import Tensor
import Transformer

public struct ExplainRequest: Codable, Sendable, SpecifiedOptions {
    public var examples: [Example]
    public var method: MethodID
    /// The method's options (`method.spec`); absent ones take their defaults.
    public var config: ConfigValues = [:]
    /// BERT: the label (classifier) or token (masked LM) to explain, default the predicted one. GPT-2: the
    /// continuation to explain, default the greedy one of `maxTokens` tokens.
    public var target: String?
    public var score = ScoreKind.prob
    /// Merge word pieces into words.
    public var mergeWords = false
    /// GPT-2 without a target: how many tokens to generate and explain.
    public var maxTokens = 10
    /// GPT-2: one token the (single) continuation token is explained against: score(target) − score(contrast).
    public var contrast: String?
    /// The information method: texts whose hidden states give the per-dimension scale r (default: the
    /// examples themselves when there are several).
    public var reference: [Example]?

    public init(examples: [Example], method: MethodID, config: ConfigValues = [:]) {
        self.examples = examples
        self.method = method
        self.config = config
    }

    public static let spec = ConfigSpec([
        ConfigField(
            "score", .choice, default: .string(ScoreKind.prob.rawValue), choices: ScoreKind.allCases.map(\.rawValue),
            help: "The explained score: the target's probability (as LIT), logit, or log-probability."),
        ConfigField("merge_words", .bool, default: .bool(false), help: "Merge word pieces into words."),
        ConfigField(
            "max_tokens", .int, default: .int(10), minimum: 1, help: "GPT-2: how many tokens to generate and explain."),
    ])

    public var optionValues: ConfigValues {
        ["score": .string(score.rawValue), "merge_words": .bool(mergeWords), "max_tokens": .int(maxTokens)]
    }

    enum CodingKeys: String, CodingKey {
        case examples, method, config, target, score, mergeWords = "merge_words", maxTokens = "max_tokens", reference
        case contrast
    }
}

/// One example's explanation: token salience (BERT) or sequence salience (GPT-2). Encodes as the salience's own
/// object plus the example's `id`.
public struct Explanation: Codable, Sendable {
    public var id: String
    public var salience: Salience?
    public var sequence: SequenceSalience?

    enum Key: String, CodingKey { case id, targets }

    public func encode(to encoder: any Encoder) throws {
        if let salience { try salience.encode(to: encoder) }
        if let sequence { try sequence.encode(to: encoder) }
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(id, forKey: .id)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        id = try c.decode(String.self, forKey: .id)
        if c.contains(.targets) {
            sequence = try SequenceSalience(from: decoder)
        } else {
            salience = try Salience(from: decoder)
        }
    }

    init(id: String, salience: Salience? = nil, sequence: SequenceSalience? = nil) {
        self.id = id
        self.salience = salience
        self.sequence = sequence
    }
}

extension Workbench {
    /// Explains every example with the request's method: a BERT model's prediction per token, or each token of a
    /// GPT-2 continuation over the prompt (the example's text) and the tokens before it.
    public static func explain(_ request: ExplainRequest, model: LoadedModel) throws(WorkbenchError) -> [Explanation] {
        try request.validateOptions()
        try Limits.standard.check(request.config)
        try Limits.standard.check(request.examples)
        // Perturbation methods run at the model's precision; gradient methods (and attention) in float32 throughout.
        let model = request.method.isPerturbation ? model : model.float32
        var options = ExplainOptions(method: request.method, config: request.config)
        options.score = request.score
        options.mergeWords = request.mergeWords
        let method = try interpreting { () throws(InterpretError) in try options.makeMethod() }  // checks the config
        switch model.network {
        case .gpt2:
            return try request.examples.map { e throws(WorkbenchError) in
                let s = try interpreting { () throws(InterpretError) in
                    try SequenceSalience.explain(
                        model: model, prompt: e.text, continuation: request.target, maxTokens: request.maxTokens,
                        method: method, score: request.score, contrast: request.contrast)
                }
                return Explanation(id: e.id, sequence: s)
            }
        case .bert:
            if let contrast = request.contrast {
                throw .interpret(
                    .invalidConfig(
                        OptionError(field: "contrast", value: contrast, problem: .invalid("GPT-2 only (a causal LM)"))))
            }
            if let target = request.target { options.target = .label(target) }
            if request.method == .info {
                options.regularization = try regularization(model, request, options)
            }
            // The gradient methods on a classifier explain the examples together (`explainBatch`); the rest one by one.
            let saliences = try interpreting { () throws(InterpretError) in
                try Interpret.explainBatch(model, texts: request.examples.map(\.text), options: options)
            }
            return zip(request.examples, saliences).map { Explanation(id: $0.id, salience: $1) }
        }
    }

    /// r for the information method: the std of the hidden state over the reference texts, or over the
    /// examples when there are several; nil (self-normalised loss, as the reference code) otherwise.
    static func regularization(
        _ model: LoadedModel, _ request: ExplainRequest, _ options: ExplainOptions
    ) throws(WorkbenchError) -> Tensor? {
        let samples = request.reference ?? (request.examples.count > 1 ? request.examples : [])
        guard !samples.isEmpty else { return nil }
        return try interpreting { () throws(InterpretError) -> Tensor in
            var adapters: [any SalienceModel] = []
            for s in samples { adapters.append(try salienceModel(model, text: s.text, options: options)) }
            let layer =
                (try? options.method.spec.validate(options.config))?.int("layer")
                ?? (adapters.first?.hiddenStateCount ?? 1) - 1
            return try InformationSalience.regularization(layer: layer, samples: adapters)
        }
    }
}
