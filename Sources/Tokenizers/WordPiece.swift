// BERT's encoding hot path: BertNormalizer + BertPreTokenizer + WordPiece fused into one pass over UTF-8.
//
// HF applies its steps to a whole `NormalizedString` in turn (normalizers/bert.rs):
//   1. clean_text: drop NUL, U+FFFD and `is_control` chars; every whitespace char becomes " ";
//   2. handle_chinese_chars: " " before and after each CJK ideograph;
//   3. strip_accents (default: same as lowercase): NFD of each char on its own, then drop Mn;
//   4. lowercase: Rust `char::to_lowercase` of each char;
// then BertPreTokenizer splits on whitespace (dropped) and punctuation (kept, isolated), and WordPiece
// (models/wordpiece/mod.rs) runs greedy longest-match-first on each word. Every step maps one char to
// zero or more chars independently of its neighbours, so one left-to-right pass over the original
// scalars gives the same result. Each normalized scalar remembers the original scalar it came from,
// which yields HF's offsets: a token spans [origin of its first char, origin of its last char + 1).

/// Per-call state: the word being built and the encoding being filled.
struct WordPieceRun {
    var word: [UInt32] = []
    var origin: [Int32] = []
    var hashes: [UInt64] = []
    var enc: Encoding
    var wordIndex = 0
    var scratch: [UInt32] = []
    var scratch2: [UInt32] = []

    init(capacity: Int) {
        enc = Encoding(reservingCapacity: capacity)
        word.reserveCapacity(64); origin.reserveCapacity(64); hashes.reserveCapacity(64)
    }

    @inline(__always)
    mutating func add(_ c: UInt32, _ at: Int) {
        word.append(c)
        origin.append(Int32(truncatingIfNeeded: at))
    }
}

/// Classes of ASCII bytes after clean_text and lowercasing, for the fast path.
enum ASCIIClass: UInt8 {
    case drop = 0, space, punctuation, keep
}

extension BertTokenizer {
    /// Encodes one sequence (no [CLS]/[SEP]); offsets and word ids as HF's for that sequence.
    func encodeSequence(_ text: String) -> Encoding {
        var text = text
        return text.withUTF8 { p in
            var run = WordPieceRun(capacity: p.count / 3 + 4)
            let u = UnicodeData.shared
            var i = 0
            var si = 0  // index of the current scalar in the original text
            var special = specials.next(in: p, from: 0)
            asciiClass.withUnsafeBufferPointer { cls in
                asciiLower.withUnsafeBufferPointer { lower in
                    while i < p.count {
                        if let s = special, s.position == i {
                            flushWord(&run)
                            let t = specials.tokens[s.token]
                            run.enc.append(id: t.id, start: si, end: si + t.scalarCount, word: run.wordIndex)
                            run.wordIndex += 1
                            i += t.bytes.count
                            si += t.scalarCount
                            special = specials.next(in: p, from: i)
                            continue
                        }
                        let b = p[i]
                        if b < 0x80 {
                            switch cls[Int(b)] {
                            case ASCIIClass.keep.rawValue: run.add(UInt32(lower[Int(b)]), si)
                            case ASCIIClass.space.rawValue: flushWord(&run)
                            case ASCIIClass.punctuation.rawValue:
                                flushWord(&run)
                                run.add(UInt32(b), si)
                                flushWord(&run)
                            default: break
                            }
                            i += 1
                        } else {
                            let (c, len) = decodeScalar(p, i)
                            normalizeNonASCII(c, at: si, u, &run)
                            i += len
                        }
                        si += 1
                    }
                }
            }
            flushWord(&run)
            run.enc.finish(tokenTable: idToToken, typeID: 0, sequence: 0)
            return run.enc
        }
    }

    /// Steps 1-4 and the pre-tokenizer for one non-ASCII scalar.
    @inline(never)
    func normalizeNonASCII(_ c: UInt32, at si: Int, _ u: UnicodeData, _ run: inout WordPieceRun) {
        let f = u.flags(c)
        if f & CharFlags.removed != 0 { return }
        if f & CharFlags.bertSpace != 0 { flushWord(&run); return }
        let isolate = tokenizeChineseChars && f & CharFlags.cjk != 0
        if isolate { flushWord(&run) }
        run.scratch.removeAll(keepingCapacity: true)
        run.scratch2.removeAll(keepingCapacity: true)
        if stripAccents && f & CharFlags.decomposes != 0 {
            u.appendNFD(c, to: &run.scratch)
        } else {
            run.scratch.append(c)
        }
        for d in run.scratch {
            let g = u.flags(d)
            if stripAccents && g & CharFlags.mark != 0 { continue }
            if doLowerCase && g & CharFlags.lowercases != 0 {
                u.appendLowercase(d, to: &run.scratch2)
            } else {
                run.scratch2.append(d)
            }
        }
        for e in run.scratch2 {
            let g = u.flags(e)
            if g & CharFlags.space != 0 {
                flushWord(&run)
            } else if g & CharFlags.punctuation != 0 {
                flushWord(&run)
                run.add(e, si)
                flushWord(&run)
            } else {
                run.add(e, si)
            }
        }
        if isolate { flushWord(&run) }
    }

    /// Runs WordPiece on the finished word, appends its tokens and starts a new word.
    @inline(__always)
    func flushWord(_ run: inout WordPieceRun) {
        if run.word.isEmpty { return }
        wordPiece(&run)
        run.wordIndex += 1
        run.word.removeAll(keepingCapacity: true)
        run.origin.removeAll(keepingCapacity: true)
    }

    /// Greedy longest-match-first (HF `WordPiece::tokenize`): from each start, the longest vocabulary
    /// entry (with "##" after the first piece); if some start has none, or the word has more than
    /// `maxInputCharsPerWord` chars, the whole word becomes one [UNK].
    func wordPiece(_ run: inout WordPieceRun) {
        let n = run.word.count
        let wordStart = Int(run.origin[0]), wordEnd = Int(run.origin[n - 1]) + 1
        if n > maxInputCharsPerWord {
            run.enc.append(id: unkID, start: wordStart, end: wordEnd, word: run.wordIndex)
            return
        }
        let mark = run.enc.ids.count
        let ok: Bool = run.word.withUnsafeBufferPointer { w in
            let base = w.baseAddress!
            var start = 0
            while start < n {
                // Branch instead of `let table = …`: copying the table struct costs six retains.
                let first = start == 0
                let limit = min(n, start + (first ? wholeWords.maxKeyLength : continuations.maxKeyLength))
                // Hashes of every prefix of w[start..<limit], then probe from the longest down.
                run.hashes.removeAll(keepingCapacity: true)
                var h = SequenceHash.seed
                for k in start..<limit {
                    h = SequenceHash.step(h, w[k])
                    run.hashes.append(h)
                }
                var end = limit
                var id: Int32 = -1
                while end > start {
                    let h = run.hashes[end - start - 1]
                    id =
                        first
                        ? wholeWords.find(hash: h, base + start, end - start)
                        : continuations.find(hash: h, base + start, end - start)
                    if id >= 0 { break }
                    end -= 1
                }
                if id < 0 { return false }
                run.enc.append(
                    id: Int(id), start: Int(run.origin[start]), end: Int(run.origin[end - 1]) + 1,
                    word: run.wordIndex)
                start = end
            }
            return true
        }
        if !ok {
            run.enc.ids.removeSubrange(mark...)
            run.enc.offsets.removeSubrange(mark...)
            run.enc.wordIDs.removeSubrange(mark...)
            run.enc.append(id: unkID, start: wordStart, end: wordEnd, word: run.wordIndex)
        }
    }

    /// HF `normalizer.normalize_str`: the normalized text, without splitting.
    public func normalize(_ text: String) -> String {
        var out: [UInt32] = []
        out.reserveCapacity(text.utf8.count)
        normalizeScalars(text) { c, _ in out.append(c) }
        return stringFromScalars(out)
    }

    /// Calls `emit(scalar, originalIndex)` for each normalized scalar (steps 1-4 above).
    func normalizeScalars(_ text: String, _ emit: (UInt32, Int) -> Void) {
        let u = UnicodeData.shared
        var a: [UInt32] = [], b: [UInt32] = []
        for (si, s) in text.unicodeScalars.enumerated() {
            let c = s.value
            let f = u.flags(c)
            if f & CharFlags.removed != 0 { continue }
            if f & CharFlags.bertSpace != 0 { emit(0x20, si); continue }
            let pad = tokenizeChineseChars && f & CharFlags.cjk != 0
            if pad { emit(0x20, si) }
            a.removeAll(keepingCapacity: true); b.removeAll(keepingCapacity: true)
            if stripAccents && f & CharFlags.decomposes != 0 { u.appendNFD(c, to: &a) } else { a.append(c) }
            for d in a {
                let g = u.flags(d)
                if stripAccents && g & CharFlags.mark != 0 { continue }
                if doLowerCase && g & CharFlags.lowercases != 0 { u.appendLowercase(d, to: &b) } else { b.append(d) }
            }
            for e in b { emit(e, si) }
            if pad { emit(0x20, si) }
        }
    }

    /// HF `BertPreTokenizer.pre_tokenize_str`: splits (already normalized) text on whitespace, which
    /// is dropped, and on punctuation, which becomes one-char pieces. Offsets index `text`'s scalars.
    public func preTokenize(_ text: String) -> [(String, Offset)] {
        let u = UnicodeData.shared
        var out: [(String, Offset)] = []
        var word: [UInt32] = []
        var start = 0
        func flush(_ at: Int) {
            if !word.isEmpty { out.append((stringFromScalars(word), Offset(start, at))) }
            word.removeAll(keepingCapacity: true)
        }
        for (si, s) in text.unicodeScalars.enumerated() {
            let f = u.flags(s.value)
            if f & CharFlags.space != 0 {
                flush(si)
            } else if f & CharFlags.punctuation != 0 {
                flush(si)
                out.append((String(s), Offset(si, si + 1)))
            } else {
                if word.isEmpty { start = si }
                word.append(s.value)
            }
        }
        flush(text.unicodeScalars.count)
        return out
    }
}
