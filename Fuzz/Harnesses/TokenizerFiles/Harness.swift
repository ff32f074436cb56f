// The tokenizer files of a Hugging Face directory (`TokenizerSpec.readHuggingFace`: tokenizer_config.json,
// special_tokens_map.json, tokenizer.json, vocab.txt or vocab.json + merges.txt), then the tokenizer built from
// the spec as `LoadedModel` builds it, on one sentence.
//
// Input: byte 0 says the architecture (bit 0: GPT-2) and which files exist (bits 1-5, in the order above, the
// vocabulary file being vocab.txt for BERT and vocab.json for GPT-2); the rest is split at NUL bytes into the
// files' contents in that order. Checks: no crash, a one-line error for every refusal, and an accepted
// tokenizer's encoding passes `checkEncoding`.
import FuzzSupport
import Foundation
import Tokenizers
@testable import Transformer

let names = ["tokenizer_config.json", "special_tokens_map.json", "tokenizer.json", "vocab", "merges.txt"]
let sentence = "The movie was a charming and often affecting journey. Ünïcödé, 日本語, emoji 🙂 <|endoftext|> [MASK]"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = bytes(data, size)
    guard let mode = input.first else { return 0 }
    let architecture: Checkpoint.Architecture = mode & 1 == 0 ? .bert : .gpt2
    let contents = sections(input.dropFirst(), parts: names.count)
    for (i, name) in names.enumerated() {
        let file = name == "vocab" ? (architecture == .bert ? "vocab.txt" : "vocab.json") : name
        Scratch.remove(file == "vocab.txt" ? "vocab.json" : file == "vocab.json" ? "vocab.txt" : "")
        if mode & (2 << i) != 0 {
            Scratch.write(i < contents.count ? contents[i] : [], to: file)
        } else {
            Scratch.remove(file)
        }
    }
    let spec: TokenizerSpec
    do {
        spec = try TokenizerSpec.readHuggingFace(
            directory: URL(fileURLWithPath: Scratch.directory), architecture: architecture, positions: 512)
    } catch {
        checkMessage(error)
        return 0
    }
    fuzzCheck(spec.modelMaxLength > 0, "model_max_length \(spec.modelMaxLength)")
    do {
        switch spec.type {
        case .wordpiece:
            var options = BertTokenizer.Options(
                doLowerCase: spec.doLowerCase, stripAccents: spec.stripAccents,
                tokenizeChineseChars: spec.tokenizeChineseChars)
            options.unkToken = spec.unkToken
            if let t = spec.clsToken { options.clsToken = t }
            if let t = spec.sepToken { options.sepToken = t }
            if let t = spec.padToken { options.padToken = t }
            if let t = spec.maskToken { options.maskToken = t }
            let tokenizer = try BertTokenizer(vocabulary: spec.vocab, options: options)
            checkEncoding(tokenizer.encode(sentence, addSpecialTokens: true), text: sentence, tokenizer: tokenizer)
        case .bpe:
            let tokenizer = try GPT2Tokenizer(
                vocabulary: spec.vocab, merges: spec.merges,
                options: GPT2Tokenizer.Options(specialTokens: [spec.eosToken ?? "<|endoftext|>"], padToken: spec.padToken))
            let enc = tokenizer.encode(sentence, addSpecialTokens: true)
            checkEncoding(enc, text: sentence, tokenizer: tokenizer)
            fuzzCheck(tokenizer.decode(enc.ids) == sentence, "decode(encode(s)) != s")
        }
    } catch {
        checkMessage(error)
    }
    return 0
}
