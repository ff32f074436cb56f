// Character classes and per-scalar NFD / lowercase with HF's exact tables, behind O(1) lookups.
//
// The tables in UnicodeTables.swift / UnicodeMappings.swift are measured from HF `tokenizers`, so results
// do not depend on the Unicode version of the Swift runtime (HF's own tables are older: e.g. U+1734 is
// still a non-spacing mark for it and U+2E43 is not punctuation).

/// Bits of `UnicodeData.flags(_:)`.
struct CharFlags {
    static let removed: UInt16 = 1  // BertNormalizer clean_text deletes it
    static let bertSpace: UInt16 = 2  // clean_text maps it to " " (includes \t \n \r and " ")
    static let punctuation: UInt16 = 4  // BertPreTokenizer isolates it
    static let mark: UInt16 = 8  // non-spacing mark, dropped by strip_accents
    static let letter: UInt16 = 16  // \p{L} in the GPT-2 pattern
    static let number: UInt16 = 32  // \p{N}
    static let space: UInt16 = 64  // \s, also Rust `char::is_whitespace`
    static let cjk: UInt16 = 128  // BertNormalizer `is_chinese_char`
    static let decomposes: UInt16 = 256  // NFD changes it
    static let lowercases: UInt16 = 512  // lowercase changes it
}

final class UnicodeData: Sendable {
    static let shared = UnicodeData()

    /// Flags of every BMP scalar; scalars above U+FFFF go through `supplementaryFlags`.
    let bmp: [UInt16]
    private let classRanges: [(UInt16, [UInt32])]
    /// NFD and lowercase results, as (start, count) into `mappingStorage`.
    private let nfd: [UInt32: (Int32, Int32)]
    private let lower: [UInt32: (Int32, Int32)]
    private let mappingStorage: [UInt32]

    private init() {
        let classes: [(UInt16, String)] = [
            (CharFlags.removed, UnicodeTables.bertRemoved), (CharFlags.bertSpace, UnicodeTables.bertWhitespace),
            (CharFlags.punctuation, UnicodeTables.bertPunctuation), (CharFlags.mark, UnicodeTables.nonspacingMark),
            (CharFlags.letter, UnicodeTables.regexLetter), (CharFlags.number, UnicodeTables.regexNumber),
            (CharFlags.space, UnicodeTables.regexSpace),
        ]
        var ranges: [(UInt16, [UInt32])] = classes.map { ($0.0, UnicodeData.parseHex($0.1)) }
        ranges.append((CharFlags.cjk, UnicodeData.cjkRanges))
        ranges[1].1 += [0x20, 0x20]  // " " itself is whitespace for clean_text (it maps to itself)
        var table = [UInt16](repeating: 0, count: 0x10000)
        for (bit, flat) in ranges {
            for i in stride(from: 0, to: flat.count, by: 2) where flat[i] < 0x10000 {
                for c in flat[i]...min(flat[i + 1], 0xFFFF) { table[Int(c)] |= bit }
            }
        }
        var storage: [UInt32] = []
        func index(_ text: String, bit: UInt16) -> [UInt32: (Int32, Int32)] {
            let flat = UnicodeData.parseHex(text)
            var map: [UInt32: (Int32, Int32)] = [:]
            var i = 0
            while i < flat.count {
                let c = flat[i], n = Int(flat[i + 1])
                map[c] = (Int32(storage.count), Int32(n))
                storage += flat[(i + 2)..<(i + 2 + n)]
                if c < 0x10000 { table[Int(c)] |= bit }
                i += 2 + n
            }
            return map
        }
        nfd = index(UnicodeTables.nfd, bit: CharFlags.decomposes)
        lower = index(UnicodeTables.lowercase, bit: CharFlags.lowercases)
        for c in 0xAC00...0xD7A3 { table[c] |= CharFlags.decomposes }  // Hangul syllables
        mappingStorage = storage
        classRanges = ranges
        bmp = table
    }

    /// HF's `is_chinese_char` ranges (tokenizers normalizers/bert.rs). Note 0x2B920, not Python's 0x2B820.
    static let cjkRanges: [UInt32] = [
        0x4E00, 0x9FFF, 0x3400, 0x4DBF, 0x20000, 0x2A6DF, 0x2A700, 0x2B73F,
        0x2B740, 0x2B81F, 0x2B920, 0x2CEAF, 0xF900, 0xFAFF, 0x2F800, 0x2FA1F,
    ].chunked2Sorted()

    @inline(__always)
    func flags(_ c: UInt32) -> UInt16 {
        c < 0x10000 ? bmp[Int(c)] : supplementaryFlags(c)
    }

    func supplementaryFlags(_ c: UInt32) -> UInt16 {
        var f: UInt16 = 0
        for (bit, flat) in classRanges where UnicodeData.contains(flat, c) { f |= bit }
        if nfd[c] != nil { f |= CharFlags.decomposes }
        if lower[c] != nil { f |= CharFlags.lowercases }
        return f
    }

    /// Appends HF's NFD of the single scalar `c` (`NormalizedString::nfd` works one char at a time, so
    /// there is no canonical reordering across scalars). Only call when `flags(c)` has `.decomposes`.
    func appendNFD(_ c: UInt32, to out: inout [UInt32]) {
        if c >= 0xAC00 && c <= 0xD7A3 {
            // Hangul syllable decomposition, Unicode §3.12.
            let s = c - 0xAC00
            out.append(0x1100 + s / 588)
            out.append(0x1161 + (s % 588) / 28)
            if s % 28 != 0 { out.append(0x11A7 + s % 28) }
        } else if let (start, n) = nfd[c] {
            out += mappingStorage[Int(start)..<Int(start + n)]
        } else {
            out.append(c)
        }
    }

    /// Appends Rust `char::to_lowercase(c)` (context-free: Σ is always σ). Only call with `.lowercases`.
    func appendLowercase(_ c: UInt32, to out: inout [UInt32]) {
        if let (start, n) = lower[c] {
            out += mappingStorage[Int(start)..<Int(start + n)]
        } else {
            out.append(c)
        }
    }

    /// Binary search in sorted closed ranges flattened as [lo0, hi0, lo1, hi1, ...].
    static func contains(_ flat: [UInt32], _ c: UInt32) -> Bool {
        var lo = 0, hi = flat.count / 2
        while lo < hi {
            let mid = (lo + hi) / 2
            if flat[2 * mid + 1] < c { lo = mid + 1 } else { hi = mid }
        }
        return lo < flat.count / 2 && flat[2 * lo] <= c
    }

    /// Parses the generated tables: hexadecimal numbers separated by spaces or newlines.
    static func parseHex(_ text: String) -> [UInt32] {
        var out: [UInt32] = []
        var value: UInt32 = 0
        var inNumber = false
        for b in text.utf8 {
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = value << 4 | UInt32(b - 48); inNumber = true
            case UInt8(ascii: "A")...UInt8(ascii: "F"): value = value << 4 | UInt32(b - 55); inNumber = true
            default:
                if inNumber { out.append(value) }
                value = 0
                inNumber = false
            }
        }
        if inNumber { out.append(value) }
        return out
    }
}

extension Array where Element == UInt32 {
    /// Sorts [lo, hi] pairs by lo, keeping the flat layout.
    fileprivate func chunked2Sorted() -> [UInt32] {
        stride(from: 0, to: count, by: 2).map { (self[$0], self[$0 + 1]) }.sorted { $0.0 < $1.0 }.flatMap {
            [$0.0, $0.1]
        }
    }
}

/// Decodes the UTF-8 scalar starting at `i` (the input comes from a Swift `String`, so it is valid).
@inline(__always)
func decodeScalar(_ p: UnsafeBufferPointer<UInt8>, _ i: Int) -> (UInt32, Int) {
    let b0 = UInt32(p[i])
    if b0 < 0x80 { return (b0, 1) }
    if b0 < 0xE0 { return ((b0 & 0x1F) << 6 | UInt32(p[i + 1] & 0x3F), 2) }
    if b0 < 0xF0 {
        return ((b0 & 0x0F) << 12 | UInt32(p[i + 1] & 0x3F) << 6 | UInt32(p[i + 2] & 0x3F), 3)
    }
    return (
        (b0 & 0x07) << 18 | UInt32(p[i + 1] & 0x3F) << 12 | UInt32(p[i + 2] & 0x3F) << 6 | UInt32(p[i + 3] & 0x3F), 4
    )
}

/// Appends the UTF-8 encoding of scalar `c`.
@inline(__always)
func appendUTF8(_ c: UInt32, to out: inout [UInt8]) {
    if c < 0x80 {
        out.append(UInt8(c))
    } else if c < 0x800 {
        out.append(UInt8(0xC0 | c >> 6)); out.append(UInt8(0x80 | c & 0x3F))
    } else if c < 0x10000 {
        out.append(UInt8(0xE0 | c >> 12)); out.append(UInt8(0x80 | (c >> 6) & 0x3F)); out.append(UInt8(0x80 | c & 0x3F))
    } else {
        out.append(UInt8(0xF0 | c >> 18)); out.append(UInt8(0x80 | (c >> 12) & 0x3F))
        out.append(UInt8(0x80 | (c >> 6) & 0x3F)); out.append(UInt8(0x80 | c & 0x3F))
    }
}

/// Builds a `String` from scalars.
func stringFromScalars<C: Collection>(_ scalars: C) -> String where C.Element == UInt32 {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(scalars.count)
    for c in scalars { appendUTF8(c, to: &bytes) }
    return String(decoding: bytes, as: UTF8.self)
}
