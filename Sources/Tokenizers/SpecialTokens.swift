// Finds special tokens ([CLS], [MASK], <|endoftext|>, …) in raw text so they are never split.
//
// HF's `AddedVocabulary` cuts the original text at its special tokens (an Aho-Corasick automaton,
// leftmost-longest, case-sensitive, before normalization) and tokenizes only the pieces in between.
// A handful of short tokens needs no automaton: test the candidates at each byte that can start one.

struct SpecialTokenMatcher: Sendable {
    struct Token: Sendable {
        let bytes: [UInt8]
        let id: Int
        let scalarCount: Int
    }
    /// Longest first, so the first hit at a position is the leftmost-longest match.
    let tokens: [Token]
    private let startsToken: [Bool]

    init(_ tokens: [(String, Int)]) {
        self.tokens = tokens.filter { !$0.0.isEmpty }
            .map { Token(bytes: Array($0.0.utf8), id: $0.1, scalarCount: $0.0.unicodeScalars.count) }
            .sorted { $0.bytes.count > $1.bytes.count }
        var starts = [Bool](repeating: false, count: 256)
        for t in self.tokens { starts[Int(t.bytes[0])] = true }
        startsToken = starts
    }

    var isEmpty: Bool { tokens.isEmpty }

    /// The first match at or after byte `from`: its byte position and index into `tokens`.
    func next(in p: UnsafeBufferPointer<UInt8>, from: Int) -> (position: Int, token: Int)? {
        if tokens.isEmpty { return nil }
        var i = from
        let n = p.count
        while i < n {
            if startsToken[Int(p[i])] {
                for (k, t) in tokens.enumerated() where t.bytes.count <= n - i {
                    var same = true
                    for j in 0..<t.bytes.count where p[i + j] != t.bytes[j] {
                        same = false
                        break
                    }
                    if same { return (i, k) }
                }
            }
            i += 1
        }
        return nil
    }
}
