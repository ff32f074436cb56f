// GPT-2 byte-level BPE (`GPT2Tokenizer`) on arbitrary bytes. The tokenizer is the GPT-2-tiny fixture's (the 256
// byte symbols, the tokens of GPT-2's first 1,000 merges, <|endoftext|>), built three times: with the default
// word cache, with a two-word cache (constant eviction) and with none, which must all agree.
//
// Input: byte 0 picks the variant and what else to run; the rest is the text (invalid UTF-8 is repaired by
// `String(decoding:)`). Checks: no crash; `decode(encode(s)) == s`; `checkEncoding` (offsets inside the text,
// non-empty, never moving backwards); the pre-tokens tile the text and spell it; the cached and uncached
// tokenizers give the same encoding; a pair truncated to N tokens has at most N.
import FuzzSupport
import Foundation
@testable import Tokenizers
import Transformer

let tokenizers: [GPT2Tokenizer] = {
    let spec: TokenizerSpec
    do { spec = try Checkpoint.load(Repository.fixture("gpt2_tiny.h5")).tokenizer } catch {
        fuzzFail("cannot load the GPT-2-tiny fixture: \(error)")
    }
    do {
        return try [32_768, 2, 0].map { (capacity: Int) throws(TokenizerError) in
            try GPT2Tokenizer(
                vocabulary: spec.vocab, merges: spec.merges,
                options: GPT2Tokenizer.Options(padToken: "<|endoftext|>", cacheCapacity: capacity))
        }
    } catch {
        fuzzFail("cannot build the tokenizers: \(error)")
    }
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = bytes(data, size)
    guard let mode = input.first else { return 0 }
    let text = String(decoding: input.dropFirst(), as: UTF8.self)
    let tokenizer = tokenizers[0]

    let enc = tokenizer.encode(text, addSpecialTokens: true)
    checkEncoding(enc, text: text, tokenizer: tokenizer)
    let decoded = tokenizer.decode(enc.ids, skipSpecialTokens: false)
    fuzzCheck(decoded == text, "decode(encode(s)) != s: \(String(reflecting: decoded)) vs \(String(reflecting: text))")
    fuzzCheck(tokenizer.tokenize(text) == enc.tokens, "tokenize differs from encode")
    if mode & 1 != 0 {
        let other = tokenizers[1 + Int(mode >> 1 & 1)]
        let again = other.encode(text, addSpecialTokens: true)
        fuzzCheck(again.ids == enc.ids && again.offsets == enc.offsets, "the cache changes the encoding: \(enc.ids) vs \(again.ids)")
    }
    if mode & 4 != 0 {
        // Pre-tokens: contiguous spans from 0 to the end whose byte-level spellings map back to the text's bytes.
        var at = 0
        var spelled: [UInt8] = []
        for (token, offset) in tokenizer.preTokenize(text) {
            fuzzCheck(offset.start == at && offset.end > at, "pre-token \(String(reflecting: token)) at \(offset), expected to start at \(at)")
            at = offset.end
            for s in token.unicodeScalars {
                guard let b = ByteLevel.byte(for: s.value) else { fuzzFail("pre-token \(String(reflecting: token)) is not byte-level") }
                spelled.append(b)
            }
        }
        fuzzCheck(at == text.unicodeScalars.count, "pre-tokens end at \(at) of \(text.unicodeScalars.count)")
        fuzzCheck(spelled == Array(text.utf8), "pre-tokens do not spell the text")
    }
    if mode & 8 != 0 {
        let scalars = Array(text.unicodeScalars)
        var a = String.UnicodeScalarView(), b = String.UnicodeScalarView()
        a.append(contentsOf: scalars[..<(scalars.count / 2)])
        b.append(contentsOf: scalars[(scalars.count / 2)...])
        let (first, second) = (String(a), String(b))
        let maxLength = Int(mode >> 4)
        let strategies: [Truncation.Strategy] = [.longestFirst, .onlyFirst, .onlySecond]
        do {
            let p = try tokenizer.encode(
                first, pair: second, addSpecialTokens: true,
                truncation: Truncation(maxLength: maxLength, strategy: strategies[Int(mode >> 4) % 3]))
            checkEncoding(p, text: first, pair: second, tokenizer: tokenizer)
            fuzzCheck(p.count <= maxLength, "pair truncated to \(maxLength) has \(p.count) tokens")
        } catch {
            checkMessage(error)
        }
        do {
            let batch = try tokenizer.encodeBatch([first, second, text], padding: .longest)
            fuzzCheck(Set(batch.map(\.count)).count == 1, "padded batch has lengths \(batch.map(\.count))")
        } catch {
            checkMessage(error)
        }
    }
    return 0
}
