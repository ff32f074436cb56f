// Invariants of an `Encoding` that hold for every text and both tokenizers.
import Tokenizers

/// Checks `enc`, the encoding of `text` (one sequence, or the pair `text` + `pair`): parallel arrays of one length,
/// ids inside the vocabulary with their own token strings, and for every token taken from the text a non-empty
/// span inside that text, spans never moving backwards; word ids never decrease within a sequence.
public func checkEncoding(
    _ enc: Encoding, text: String, pair: String? = nil, tokenizer: some Tokenizer, file: StaticString = #fileID,
    line: UInt = #line
) {
    let n = enc.ids.count
    for (name, count) in [
        ("tokens", enc.tokens.count), ("offsets", enc.offsets.count), ("typeIDs", enc.typeIDs.count),
        ("attentionMask", enc.attentionMask.count), ("specialTokensMask", enc.specialTokensMask.count),
        ("wordIDs", enc.wordIDs.count), ("sequenceIDs", enc.sequenceIDs.count),
    ] {
        fuzzCheck(count == n, "\(name) has \(count) entries for \(n) ids", file: file, line: line)
    }
    let names = tokenizer.convertIdsToTokens(enc.ids)
    let lengths = [text.unicodeScalars.count, pair?.unicodeScalars.count ?? 0]
    var last: [(start: Int, end: Int, word: Int)?] = [nil, nil]
    for i in 0..<n {
        let id = enc.ids[i]
        fuzzCheck(id >= 0 && id < tokenizer.vocabularySize, "id \(id) outside the vocabulary", file: file, line: line)
        fuzzCheck(names[i] == enc.tokens[i], "token \(i) is \(enc.tokens[i]) but id \(id) is \(names[i] ?? "nil")", file: file, line: line)
        guard let s = enc.sequenceIDs[i] else {
            fuzzCheck(enc.specialTokensMask[i] == 1 && enc.offsets[i] == Offset(0, 0) && enc.wordIDs[i] == nil,
                "added token \(i) has mask \(enc.specialTokensMask[i]), offset \(enc.offsets[i]), word \(String(describing: enc.wordIDs[i]))",
                file: file, line: line)
            continue
        }
        fuzzCheck(s == 0 || (s == 1 && pair != nil), "token \(i) has sequence \(s)", file: file, line: line)
        let o = enc.offsets[i]
        fuzzCheck(0 <= o.start && o.start < o.end && o.end <= lengths[s],
            "token \(i) \(String(reflecting: enc.tokens[i])) has offset \(o) in a text of \(lengths[s]) scalars", file: file, line: line)
        guard let w = enc.wordIDs[i] else { fuzzFail("token \(i) from the text has no word id", file: file, line: line) }
        if let p = last[s] {
            fuzzCheck(o.start >= p.start && o.end >= p.end, "offset \(o) of token \(i) goes back from (\(p.start), \(p.end))", file: file, line: line)
            fuzzCheck(w >= p.word, "word id \(w) of token \(i) goes back from \(p.word)", file: file, line: line)
        }
        last[s] = (o.start, o.end, w)
    }
}
