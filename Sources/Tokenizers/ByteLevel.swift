// GPT-2's byte-to-unicode alphabet and a hand-written scanner for its pre-tokenisation pattern.
//
// The pattern, from OpenAI's gpt-2 `encoder.py` (and HF's ByteLevel pre-tokenizer, which runs it with
// Oniguruma):  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// Alternatives are tried in order at each position and the leftmost that matches wins; the scanner
// below decides the same thing with one scalar of look-ahead, in time linear in the text:
// - "'" followed by s, t, m, d, re, ve or ll (lower case only) is a contraction;
// - otherwise a run of letters, of numbers, or of "other" scalars (not \s, \p{L}, \p{N}), optionally
//   preceded by one U+0020 (only that space: "\t" or NBSP never joins the next word);
// - a whitespace run that reaches the end of the text is taken whole; one followed by something else
//   gives all but its last scalar (`\s+(?!\S)` backtracks one), which then starts the next piece; a
//   single whitespace scalar before a non-space is taken alone (`\s+`).
// Character classes are HF's (Oniguruma's) Unicode tables, see UnicodeTables.swift.

enum ByteLevel {
    /// GPT-2 `bytes_to_unicode`: printable Latin-1 bytes stand for themselves, the other 68 bytes
    /// (controls, space, DEL, NBSP, soft hyphen…) map to U+0100 onwards in byte order.
    static let byteToScalar: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            if (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b) {
                table[b] = UInt32(b)
            } else {
                table[b] = next
                next += 1
            }
        }
        return table
    }()

    /// The inverse of `byteToScalar`, or nil for scalars outside the alphabet.
    static func byte(for scalar: UInt32) -> UInt8? {
        if scalar < 256 {
            let b = Int(scalar)
            return (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b) ? UInt8(b) : nil
        }
        guard scalar < 256 + 68 else { return nil }
        return UInt8(byteToScalar.firstIndex(of: scalar)!)
    }

    /// The byte-level spelling of some bytes ("Ġdog" for " dog").
    static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        stringFromScalars(bytes.map { byteToScalar[Int($0)] })
    }
}

/// Classes of the GPT-2 pattern.
enum PatternClass: UInt8 {
    case letter = 0, number, space, other
}

/// Splits text into GPT-2 pre-tokens.
struct GPT2Scanner {
    let p: UnsafeBufferPointer<UInt8>
    let u = UnicodeData.shared
    static let asciiClasses: [PatternClass] = (0..<128).map { b in
        let f = UnicodeData.shared.flags(UInt32(b))
        return f & CharFlags.letter != 0
            ? .letter
            : f & CharFlags.number != 0
                ? .number
                : f & CharFlags.space != 0 ? .space : .other
    }
    let ascii = GPT2Scanner.asciiClasses

    init(_ p: UnsafeBufferPointer<UInt8>) { self.p = p }

    @inline(__always)
    func classify(_ c: UInt32) -> PatternClass {
        if c < 0x80 { return ascii[Int(c)] }
        let f = u.flags(c)
        return f & CharFlags.letter != 0
            ? .letter
            : f & CharFlags.number != 0
                ? .number
                : f & CharFlags.space != 0 ? .space : .other
    }

    /// The pre-token starting at byte `i` of a segment ending at byte `end`: its end byte and its length
    /// in scalars.
    func next(_ i: Int, _ end: Int) -> (end: Int, scalars: Int) {
        let (c, len) = decodeScalar(p, i)
        if c == 0x27 && i + 1 < end {  // 's 't 're 've 'm 'll 'd
            let b1 = p[i + 1]
            if b1 == 0x73 || b1 == 0x74 || b1 == 0x6D || b1 == 0x64 { return (i + 2, 2) }
            if i + 2 < end {
                let b2 = p[i + 2]
                if (b1 == 0x72 && b2 == 0x65) || (b1 == 0x76 && b2 == 0x65) || (b1 == 0x6C && b2 == 0x6C) {
                    return (i + 3, 3)
                }
            }
        }
        var cls = classify(c)
        var j = i + len
        var count = 1
        if c == 0x20 && j < end {  // " ?" before a letter, number or other run
            let (c2, len2) = decodeScalar(p, j)
            let k2 = classify(c2)
            if k2 != .space {
                cls = k2
                j += len2
                count = 2
            }
        }
        if cls != .space {
            while j < end {
                let (c2, len2) = decodeScalar(p, j)
                if classify(c2) != cls { break }
                j += len2
                count += 1
            }
            return (j, count)
        }
        // \s+(?!\S) then \s+
        var lastStart = i
        while j < end {
            let (c2, len2) = decodeScalar(p, j)
            if classify(c2) != .space { break }
            lastStart = j
            j += len2
            count += 1
        }
        if j == end || count == 1 { return (j, count) }
        return (lastStart, count - 1)
    }
}
