// `tokenize`: tokens, ids and character offsets of examples, exactly as the model's Hugging Face tokenizer gives them.
import Interpret
import Transformer

public struct TokenizeRequest: Codable, Sendable {
    public var examples: [Example]
    public init(examples: [Example]) { self.examples = examples }
}

public struct Tokenization: Codable, Sendable, Equatable {
    public var id: String
    public var tokens: [String]
    public var ids: [Int]
    /// Unicode-scalar [start, end) spans in the text; [0, 0] for added tokens.
    public var offsets: [[Int]]
}

extension Workbench {
    /// Tokenizes each example with [CLS]/[SEP] (or none for GPT-2), untruncated.
    public static func tokenize(_ request: TokenizeRequest, model: LoadedModel) -> [Tokenization] {
        request.examples.map { e in
            let enc = model.tokenizer.encode(e.text, addSpecialTokens: true)
            return Tokenization(
                id: e.id, tokens: enc.tokens, ids: enc.ids, offsets: enc.offsets.map { [$0.start, $0.end] })
        }
    }
}
