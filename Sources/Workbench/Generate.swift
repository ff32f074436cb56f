// `generate`: GPT-2 continuation with the KV cache (greedy, or sampled with temperature / top-k / top-p), streamed.
import Interpret
import Transformer

public struct GenerateRequest: Codable, Sendable, SpecifiedOptions {
    /// The prompts; each is continued on its own.
    public var examples: [Example]
    public var maxTokens = 20
    public var temperature: Float?
    public var topK: Int?
    public var topP: Float?
    public var seed: UInt64 = 0
    /// Keep the end of a prompt longer than the model's positions (else refuse it).
    public var truncate = true

    public init(examples: [Example]) { self.examples = examples }

    public static let spec = ConfigSpec([
        ConfigField("max_tokens", .int, default: .int(20), minimum: 1, help: "How many new tokens at most."),
        ConfigField(
            "temperature", .double, defaultNote: "greedy", minimum: 0, exclusiveMinimum: true,
            help: "Sampling temperature."),
        ConfigField(
            "top_k", .int, defaultNote: "all tokens", minimum: 1, help: "Sample among the k most likely tokens."),
        ConfigField(
            "top_p", .double, defaultNote: "1", minimum: 0, exclusiveMinimum: true, maximum: 1,
            help: "Sample from the smallest set of tokens whose probability reaches p."),
        ConfigField("seed", .int, default: .int(0), minimum: 0, help: "Seed of the sampler."),
    ])

    public var optionValues: ConfigValues {
        var v: ConfigValues = ["max_tokens": .int(maxTokens), "seed": .int(Int(truncatingIfNeeded: seed) & Int.max)]
        if let temperature { v["temperature"] = .double(Double(temperature)) }
        if let topK { v["top_k"] = .int(topK) }
        if let topP { v["top_p"] = .double(Double(topP)) }
        return v
    }
}

public struct Generation: Codable, Sendable, Equatable {
    public var id: String
    /// Prompt and continuation ids (the prompt as the model saw it: possibly shortened, or <|endoftext|>).
    public var ids: [Int]
    /// `ids` decoded.
    public var text: String
    /// Set to the prompt's token count when its start was dropped to fit the model.
    public var truncatedPrompt: Int?

    enum CodingKeys: String, CodingKey { case id, ids, text, truncatedPrompt = "truncated_prompt" }
}

extension Workbench {
    /// Continues each prompt. `onText(example index, new text)` receives the continuation as it grows, whole
    /// characters only (a character split over byte-level tokens arrives once complete).
    public static func generate(
        _ request: GenerateRequest, model: LoadedModel, onText: (Int, String) -> Void = { _, _ in }
    ) throws(WorkbenchError) -> [Generation] {
        try request.validateOptions()
        try Limits.standard.check(request.examples)
        guard case .gpt2(let gpt2) = model.network, model.task == .causalLM else {
            throw .wrongModel(
                file: model.url.relativePath, operation: "generate", needs: "a GPT-2 language model",
                found: model.kindDescription)
        }
        let config = GenerationConfig(
            maxNewTokens: request.maxTokens, temperature: request.temperature, topK: request.topK, topP: request.topP,
            seed: request.seed, eosTokenID: model.eosID)
        var out: [Generation] = []
        for (k, e) in request.examples.enumerated() {
            var ids = model.tokenizer.encode(e.text, addSpecialTokens: true).ids
            if ids.isEmpty { ids = [model.eosID ?? 0] }  // an empty prompt starts from <|endoftext|>, as GPT-2 was trained
            let room = gpt2.config.nPositions - 1
            var cut: Int? = nil
            if ids.count > room {
                guard request.truncate else { throw .inputTooLong(id: e.id, tokens: ids.count, limit: room) }
                cut = ids.count
                ids = Array(ids.suffix(room))
            }
            var produced: [Int] = []
            let all = gpt2.generate(prompts: [ids], config: config, padID: model.padID) { step in
                // Decode the whole continuation and pass on what is new, so multi-byte characters split over
                // byte-level tokens come out whole.
                let before = model.tokenizer.decode(produced, skipSpecialTokens: false)
                produced.append(step[0])
                let after = model.tokenizer.decode(produced, skipSpecialTokens: false)
                if after.hasPrefix(before) { onText(k, String(after.dropFirst(before.count))) }
            }[0]
            out.append(
                Generation(
                    id: e.id, ids: all, text: model.tokenizer.decode(all, skipSpecialTokens: false),
                    truncatedPrompt: cut))
        }
        return out
    }
}
