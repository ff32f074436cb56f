// Sequence salience (LIT's): each token of a GPT-2 continuation explained over the prompt and the tokens before it.
import Foundation
import Tensor
import Tokenizers
import Transformer

/// Salience of each token of a continuation over the prompt and the tokens before it (LIT's sequence
/// salience): row j explains continuation token j from the prefix prompt + continuation[..<j].
public struct SequenceSalience: Sendable {
    public var method: MethodID
    /// Prompt plus continuation, decoded.
    public var text: String
    /// All tokens (decoded one by one) and their spans in `text`.
    public var tokens: [String]
    public var offsets: [(start: Int, end: Int)]
    public var ids: [Int]
    public var promptLength: Int
    /// One explanation per continuation token; `steps[j].scores` has promptLength + j entries.
    public var steps: [Salience]
    public var seconds: Double = 0
}

extension SequenceSalience {
    /// Explains each token of `continuation` (token ids after the prompt's), or of GPT-2's greedy
    /// continuation of `maxTokens` tokens when `continuation` is nil. With `contrast` (one token), the one
    /// continuation token (given, or the greedy one) is explained against it: score(target) − score(contrast),
    /// "why this token rather than that one" (inseq's contrastive attribution).
    public static func explain(
        model: LoadedModel, prompt: String, continuation: String?, maxTokens: Int, method: any SalienceMethod,
        score: ScoreKind = .prob, contrast: String? = nil
    ) throws(InterpretError) -> SequenceSalience {
        guard case .gpt2(let gpt2) = model.network, model.task == .causalLM else {
            throw .noPrediction("\(model.url.path): sequence salience needs a GPT-2 language model (causal-lm)")
        }
        let start = Date()
        var promptIDs = model.tokenizer.encode(prompt, addSpecialTokens: true).ids
        if promptIDs.isEmpty, let eos = model.eosID { promptIDs = [eos] }  // as `loupe generate`
        guard !promptIDs.isEmpty else { throw .badInput("the prompt encodes to no tokens") }
        var contrastID: Int?
        if let contrast {
            let c = model.tokenizer.encode(contrast, addSpecialTokens: true).ids
            guard c.count == 1 else {
                throw .invalidConfig(
                    OptionError(field: "contrast", value: contrast, problem: .invalid("one token (it encodes to \(c.count))")))
            }
            contrastID = c[0]
        }
        var all: [Int]
        if let continuation {
            let more = model.tokenizer.encode(continuation, addSpecialTokens: true).ids
            guard !more.isEmpty else { throw .badInput("the target \"\(continuation)\" encodes to no tokens") }
            if contrast != nil && more.count != 1 {
                throw .invalidConfig(
                    OptionError(
                        field: "target", value: continuation,
                        problem: .invalid("one token when a contrast is given (it encodes to \(more.count))")))
            }
            all = promptIDs + more
        } else {
            guard maxTokens >= 1 else {
                throw .invalidConfig(
                    OptionError(field: "max_tokens", value: String(maxTokens), problem: .invalid("at least 1")))
            }
            all =
                gpt2.generate(
                    prompts: [promptIDs],
                    config: GenerationConfig(maxNewTokens: contrast == nil ? maxTokens : 1, eosTokenID: model.eosID),
                    padID: model.padID)[0]
        }
        guard all.count <= gpt2.config.nPositions else {
            throw .badInput(
                "prompt and continuation have \(all.count) tokens; the model has \(gpt2.config.nPositions) positions")
        }
        // Display tokens and their spans: decode growing prefixes so that spans index the decoded text.
        var tokens: [String] = [], offsets: [(start: Int, end: Int)] = []
        var previous = 0
        for k in all.indices {
            tokens.append(model.tokenizer.decode([all[k]], skipSpecialTokens: false))
            let n = model.tokenizer.decode(Array(all[...k]), skipSpecialTokens: false).unicodeScalars.count
            offsets.append((previous, max(previous, n)))
            previous = max(previous, n)
        }
        let text = model.tokenizer.decode(all, skipSpecialTokens: false)
        var steps: [Salience] = []
        for j in promptIDs.count..<all.count {
            let m = try TransformerSalienceModel(
                model: model, ids: Array(all[..<j]), target: all[j], text: text, tokens: Array(tokens[..<j]),
                offsets: Array(offsets[..<j]), score: score, recordInput: method.id.usesInputGradientOnly,
                contrast: contrastID)
            steps.append(try method.explain(m))
        }
        var out = SequenceSalience(
            method: method.id, text: text, tokens: tokens, offsets: offsets, ids: all,
            promptLength: promptIDs.count, steps: steps)
        out.seconds = Date().timeIntervalSince(start)
        return out
    }
}
