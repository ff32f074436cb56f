// BERT WordPiece (`BertTokenizer`) on arbitrary bytes. The tokenizer is the BERT-tiny fixture's (1,688 entries: the
// pieces bert-base-uncased uses on SST-2, letters, digits, punctuation and their ## forms), in four option sets.
//
// Input: byte 0 picks the options and what else to run; the rest is the text (invalid UTF-8 is repaired to U+FFFD
// by `String(decoding:)`, as the CLI reads text). Checks: no crash; `checkEncoding` (offsets inside the text,
// non-empty, never moving backwards; ids, tokens and masks consistent); `tokenize` equals the encoding's text
// tokens; a pair truncated to N tokens has at most N; batch padding gives equal lengths.
import FuzzSupport
import Foundation
import Tokenizers
import Transformer

let tokenizers: [BertTokenizer] = {
    let vocab: [String]
    do { vocab = try Checkpoint.load(Repository.fixture("bert_tiny_cls.h5")).tokenizer.vocab } catch {
        fuzzFail("cannot load the BERT-tiny fixture: \(error)")
    }
    let options = [
        BertTokenizer.Options(),  // uncased: lowercase + strip accents
        BertTokenizer.Options(doLowerCase: false),  // cased
        BertTokenizer.Options(doLowerCase: true, stripAccents: false, tokenizeChineseChars: false),
        BertTokenizer.Options(doLowerCase: false, stripAccents: true, maxInputCharsPerWord: 8),
    ]
    do { return try options.map { o throws(TokenizerError) in try BertTokenizer(vocabulary: vocab, options: o) } } catch {
        fuzzFail("cannot build the tokenizers: \(error)")
    }
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = bytes(data, size)
    guard let mode = input.first else { return 0 }
    let tokenizer = tokenizers[Int(mode & 3)]
    let text = String(decoding: input.dropFirst(), as: UTF8.self)

    let enc = tokenizer.encode(text, addSpecialTokens: true)
    checkEncoding(enc, text: text, tokenizer: tokenizer)
    fuzzCheck(enc.ids.first == tokenizer.clsID && enc.ids.last == tokenizer.sepID, "not [CLS] … [SEP]: \(enc.tokens)")
    let plain = tokenizer.tokenize(text)
    fuzzCheck(plain == Array(enc.tokens.dropFirst().dropLast()), "tokenize \(plain) differs from encode \(enc.tokens)")
    _ = tokenizer.decode(enc.ids, skipSpecialTokens: mode & 4 != 0)

    if mode & 8 != 0 {
        // A pair: the text cut in two at a scalar boundary, truncated to (mode >> 4) tokens with a strategy.
        let scalars = Array(text.unicodeScalars)
        var a = String.UnicodeScalarView(), b = String.UnicodeScalarView()
        a.append(contentsOf: scalars[..<(scalars.count / 2)])
        b.append(contentsOf: scalars[(scalars.count / 2)...])
        let (first, second) = (String(a), String(b))
        let maxLength = Int(mode >> 4)
        let strategies: [Truncation.Strategy] = [.longestFirst, .onlyFirst, .onlySecond]
        let strategy = strategies[Int(mode >> 4) % 3]
        do {
            let p = try tokenizer.encode(
                first, pair: second, addSpecialTokens: true, truncation: Truncation(maxLength: maxLength, strategy: strategy))
            checkEncoding(p, text: first, pair: second, tokenizer: tokenizer)
            fuzzCheck(p.count <= max(maxLength, 3), "pair truncated to \(maxLength) has \(p.count) tokens")
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
