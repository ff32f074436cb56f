// The Tokenizers module's own file readers, as `BertTokenizer(vocabularyFile:)` and
// `GPT2Tokenizer(vocabularyFile:mergesFile:)` use them: `TextFile` (strict UTF-8 lines of vocab.txt / merges.txt)
// and `JSONVocab` (encoder.json / vocab.json), then the tokenizer built from what they read, on one sentence.
//
// Input: byte 0 bit 0 picks BERT (the rest is vocab.txt) or GPT-2 (the rest is encoder.json, a NUL, then
// vocab.bpe). Checks: no crash, a one-line error for every refusal, and an accepted tokenizer's encoding passes
// `checkEncoding` (GPT-2: and decodes back to the sentence).
import FuzzSupport
import Foundation
@testable import Tokenizers

let sentence = "The movie was a charming and often affecting journey. Ünïcödé, 日本語, emoji 🙂 <|endoftext|> [MASK]"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = bytes(data, size)
    guard let mode = input.first else { return 0 }
    do {
        if mode & 1 == 0 {
            let path = Scratch.write(input.dropFirst(), to: "vocab.txt")
            let tokenizer = try BertTokenizer(
                vocabularyFile: path, options: BertTokenizer.Options(doLowerCase: mode & 2 == 0))
            checkEncoding(tokenizer.encode(sentence, addSpecialTokens: true), text: sentence, tokenizer: tokenizer)
        } else {
            let parts = sections(input.dropFirst(), parts: 2)
            let vocab = Scratch.write(parts[0], to: "encoder.json")
            let merges = Scratch.write(parts.count > 1 ? parts[1] : [], to: "vocab.bpe")
            let tokenizer = try GPT2Tokenizer(vocabularyFile: vocab, mergesFile: merges)
            let enc = tokenizer.encode(sentence, addSpecialTokens: true)
            checkEncoding(enc, text: sentence, tokenizer: tokenizer)
            fuzzCheck(tokenizer.decode(enc.ids) == sentence, "decode(encode(s)) != s")
        }
    } catch {
        checkMessage(error)
    }
    return 0
}
