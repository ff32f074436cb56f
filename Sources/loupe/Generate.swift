// `loupe generate`: GPT-2 continuation with a KV cache, streamed token by token.
import ArgumentParser
import Foundation
import Transformer

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue a prompt with GPT-2 (greedy unless a sampling option is given).")

    @OptionGroup var model: ModelOption
    @Option(help: "The text to continue.") var prompt: String
    @Option(help: "How many new tokens at most.") var maxTokens = 20
    @Option(help: "Sampling temperature (> 0).") var temperature: Float?
    @Option(help: "Sample among the k most likely tokens.") var topK: Int?
    @Option(help: "Sample from the smallest set of tokens whose probability reaches p (0 < p ≤ 1).") var topP: Float?
    @Option(help: "Seed of the sampler.") var seed: UInt64 = 0
    @Flag(help: "Refuse a prompt longer than the model's positions instead of keeping its end.") var noTruncate = false
    @Option(help: "Output format: text (streamed) or json ({\"ids\": [...], \"text\": ...}).") var format: Format = .text

    func validate() throws {
        guard maxTokens > 0 else { throw ValidationError("--max-tokens must be positive, got \(maxTokens)") }
        if let t = temperature, !(t > 0) { throw ValidationError("--temperature must be > 0, got \(t)") }
        if let k = topK, k <= 0 { throw ValidationError("--top-k must be positive, got \(k)") }
        if let p = topP, !(p > 0 && p <= 1) { throw ValidationError("--top-p must be in (0, 1], got \(p)") }
    }

    func run() throws {
        let m = try model.load()
        guard case .gpt2(let gpt2) = m.network, m.task == .causalLM else {
            throw CLIError("\(model.model): `generate` needs a GPT-2 language model, the file holds a \(m.architecture.rawValue) \(m.task.rawValue) model")
        }
        var ids = m.tokenizer.encode(prompt, addSpecialTokens: true).ids
        if ids.isEmpty { ids = [m.eosID ?? 0] }  // an empty prompt starts from <|endoftext|>, as GPT-2 was trained
        let room = gpt2.config.nPositions - 1
        if ids.count > room {
            if noTruncate { throw CLIError("the prompt has \(ids.count) tokens; the model has \(gpt2.config.nPositions) positions") }
            warn("the prompt has \(ids.count) tokens; keeping its last \(room)")
            ids = Array(ids.suffix(room))
        }
        let config = GenerationConfig(
            maxNewTokens: maxTokens, temperature: temperature, topK: topK, topP: topP, seed: seed, eosTokenID: m.eosID)
        if format == .text { FileHandle.standardOutput.write(Data(prompt.utf8)) }
        var produced: [Int] = []
        let out = gpt2.generate(prompts: [ids], config: config, padID: m.padID) { step in
            guard format == .text else { return }
            // Decode the whole continuation and print what is new, so multi-byte characters split over
            // byte-level tokens come out whole.
            let before = m.tokenizer.decode(produced, skipSpecialTokens: false)
            produced.append(step[0])
            let after = m.tokenizer.decode(produced, skipSpecialTokens: false)
            if after.hasPrefix(before) { FileHandle.standardOutput.write(Data(after.dropFirst(before.count).utf8)) }
        }
        if format == .json {
            printJSON(["ids": out[0], "text": m.tokenizer.decode(out[0], skipSpecialTokens: false)])
        } else {
            print("")
        }
    }
}
