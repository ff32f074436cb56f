// `GPT2Tokenizer`: GPT-2 byte-level BPE, as HF `tokenizers` with a BPE model and ByteLevel pre-tokenizer/decoder.

/// GPT-2 byte-level BPE, id for id as HF `tokenizers` (BPE model, ByteLevel pre-tokenizer with
/// add_prefix_space=false, ByteLevel decoder, "<|endoftext|>" registered as a special token).
///
/// Behaviour:
/// - Special tokens written in the text (by default "<|endoftext|>") become their single id; the text
///   around them is pre-tokenized separately, as HF does.
/// - Each pre-token (see ByteLevel.swift for the pattern) is BPE-merged over its UTF-8 bytes. Any
///   `String` works, including "" (no tokens) and emoji split across several byte tokens.
/// - `decode(encode(s).ids) == s` for every `String` s (with `skipSpecialTokens: false`).
/// - Offsets are Unicode-scalar spans; a token holding part of a multi-byte scalar spans that whole
///   scalar, and a token "Ġdog" includes its space, as HF (trim_offsets off).
/// - No [CLS]-style template: `addSpecialTokens` adds nothing, a pair is the two encodings one after
///   the other (type ids 0 then 1).
/// - Cost: pre-tokenizing is linear; merging a pre-token of n bytes is O(n log n), so even a 1 MB run of
///   letters is fine. Merged words up to 64 bytes are cached (up to `cacheCapacity` distinct words).
public final class GPT2Tokenizer: Tokenizer {
    public struct Options: Hashable, Sendable {
        /// Tokens never split; ones missing from the vocabulary get new ids after it, as HF's
        /// `add_special_tokens` does.
        public var specialTokens: [String]
        /// Token used by `encodeBatch` padding (GPT-2 has none by default; HF users often use "<|endoftext|>").
        public var padToken: String?
        /// Distinct words the BPE cache keeps (0 disables it).
        public var cacheCapacity: Int
        public init(specialTokens: [String] = ["<|endoftext|>"], padToken: String? = nil, cacheCapacity: Int = 32_768) {
            self.specialTokens = specialTokens
            self.padToken = padToken
            self.cacheCapacity = cacheCapacity
        }
    }

    public let options: Options
    let idToToken: [String]
    let tokenIDs: TokenIndex
    /// The bytes each id decodes to: `idBytes[idByteStart[id]..<idByteStart[id + 1]]`.
    let idBytes: [UInt8]
    let idByteStart: [Int32]
    let model: BPEModel
    let cache: SharedBPECache
    let specials: SpecialTokenMatcher
    let specialIDs: Set<Int>
    public let padID: Int?

    /// Loads `encoder.json` / `vocab.json` and `vocab.bpe` / `merges.txt`.
    public convenience init(vocabularyFile: String, mergesFile: String, options: Options = Options())
        throws(TokenizerError)
    {
        try self.init(
            vocabulary: JSONVocab.read(vocabularyFile), merges: TextFile.readLines(
                mergesFile, maxBytes: TokenizerLimits.maxFileBytes, maxLines: TokenizerLimits.maxMerges + 1),
            options: options, vocabularySource: vocabularyFile, mergesSource: mergesFile)
    }

    /// Builds the tokenizer from the vocabulary in id order (byte-level spellings, e.g. "Ġthe") and merges
    /// as "left right" lines in rank order. Lines starting with "#version" are skipped, as HF does.
    /// Throws on an empty or duplicate token, a merge that is not two tokens separated by one space, a
    /// merge whose parts or result are not in the vocabulary, or a missing byte symbol; errors name the
    /// source and the 1-based line (for arrays: index + 1).
    public init(
        vocabulary: [String], merges: [String], options: Options = Options(),
        vocabularySource: String = "<in-memory vocabulary>",
        mergesSource: String = "<in-memory merges>"
    ) throws(TokenizerError) {
        self.options = options
        var ids = TokenIndex(capacity: vocabulary.count + options.specialTokens.count)
        for (id, token) in vocabulary.enumerated() {
            if token.isEmpty { throw .emptyToken(source: vocabularySource, line: id + 1) }
            if let first = ids.add(token, id: id) {
                throw .duplicateToken(source: vocabularySource, line: id + 1, token: token, firstLine: first + 1)
            }
        }
        var byteIDs = [UInt32](repeating: 0, count: 256)
        for b in 0..<256 {
            let symbol = stringFromScalars([ByteLevel.byteToScalar[b]])
            guard let id = ids.id(symbol) else { throw .missingToken(source: vocabularySource, token: symbol) }
            byteIDs[b] = UInt32(id)
        }
        var table = MergeTable(capacity: merges.count)
        var rank: UInt32 = 0
        for (index, line) in merges.enumerated() {
            // Byte-wise, not Character-wise: a space followed by a combining mark is one Character.
            let bytes = Array(line.utf8)
            if bytes.starts(with: "#version".utf8) { continue }
            let parts = bytes.split(separator: 0x20, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw .malformedMerge(source: mergesSource, line: index + 1, text: line)
            }
            let left = String(decoding: parts[0], as: UTF8.self), right = String(decoding: parts[1], as: UTF8.self)
            let merged = left + right
            guard let l = ids.id(left), let r = ids.id(right), let m = ids.id(merged) else {
                let missing = [left, right, merged].first { ids.id($0) == nil }!
                throw .mergeTokenNotInVocabulary(source: mergesSource, line: index + 1, token: missing)
            }
            table.insert(left: UInt32(l), right: UInt32(r), rank: rank, merged: UInt32(m))
            rank += 1
        }
        var tokens = vocabulary
        var special: [(String, Int)] = []
        for t in options.specialTokens where !t.isEmpty {
            if ids.id(t) == nil {
                _ = ids.add(t, id: tokens.count)
                tokens.append(t)
            }
            special.append((t, ids.id(t)!))
        }
        // What each id decodes to (HF ByteLevel decoder: map each char back to its byte; a token with a
        // char outside the alphabet, such as an added token, decodes to its own UTF-8).
        var bytes: [UInt8] = [], starts: [Int32] = [0]
        for t in tokens {
            let mapped = t.unicodeScalars.map { ByteLevel.byte(for: $0.value) }
            if mapped.allSatisfy({ $0 != nil }) { bytes += mapped.map { $0! } } else { bytes += Array(t.utf8) }
            starts.append(Int32(bytes.count))
        }
        idToToken = tokens
        tokenIDs = ids
        idBytes = bytes
        idByteStart = starts
        model = BPEModel(merges: table, byteIDs: byteIDs)
        cache = SharedBPECache(capacity: options.cacheCapacity)
        specials = SpecialTokenMatcher(special)
        specialIDs = Set(special.map(\.1))
        padID = options.padToken.flatMap { ids.id($0) }
    }

    public var vocabularySize: Int { idToToken.count }

    /// Encodes `text` (`addSpecialTokens` has no effect: GPT-2 adds none).
    public func encode(_ text: String, addSpecialTokens: Bool = true) -> Encoding { encodeSequence(text) }

    /// Encodes a text and optional pair (concatenated, type ids 0 then 1), truncating first.
    public func encode(
        _ text: String, pair: String?, addSpecialTokens: Bool = true,
        truncation: Truncation? = nil
    ) throws(TokenizerError) -> Encoding {
        var b = pair.map { encodeSequence($0) }
        b?.markAsPair()
        return try postProcess(
            encodeSequence(text), b, addSpecialTokens: addSpecialTokens, truncation: truncation, template: nil)
    }

    /// Encodes a batch on the calling thread, then pads it with `options.padToken`.
    public func encodeBatch(
        _ texts: [String], pairs: [String]? = nil, addSpecialTokens: Bool = true,
        truncation: Truncation? = nil, padding: Padding? = nil
    ) throws(TokenizerError) -> [Encoding] {
        try batch(texts, pairs, padding: padding, padID: padID, padToken: options.padToken) {
            (a, b) throws(TokenizerError) in
            try encode(a, pair: b, addSpecialTokens: addSpecialTokens, truncation: truncation)
        }
    }

    public func tokenize(_ text: String) -> [String] { encodeSequence(text).tokens }

    /// The text of `ids` (HF ByteLevel decoder): the bytes of every token, read as UTF-8; byte sequences
    /// that are not valid UTF-8 (e.g. half an emoji) become U+FFFD, as HF's `from_utf8_lossy`. Unknown
    /// ids are skipped.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(ids.count * 4)
        for id in ids where id >= 0 && id < idToToken.count {
            if skipSpecialTokens && specialIDs.contains(id) { continue }
            out += idBytes[Int(idByteStart[id])..<Int(idByteStart[id + 1])]
        }
        return String(decoding: out, as: UTF8.self)
    }

    public func convertTokensToIds(_ tokens: [String]) -> [Int?] { tokens.map { tokenIDs.id($0) } }
    public func convertIdsToTokens(_ ids: [Int]) -> [String?] {
        ids.map { $0 >= 0 && $0 < idToToken.count ? idToToken[$0] : nil }
    }
    public func tokenToID(_ token: String) -> Int? { tokenIDs.id(token) }

    /// HF `ByteLevel.pre_tokenize_str`: the pre-tokens of `text` in byte-level spelling, with offsets.
    public func preTokenize(_ text: String) -> [(String, Offset)] {
        var text = text
        return text.withUTF8 { p in
            let scanner = GPT2Scanner(p)
            var out: [(String, Offset)] = []
            var i = 0, si = 0
            while i < p.count {
                let (end, n) = scanner.next(i, p.count)
                out.append((ByteLevel.encode(p[i..<end]), Offset(si, si + n)))
                i = end
                si += n
            }
            return out
        }
    }

    /// Encodes one sequence: special tokens, pre-tokens, BPE, offsets.
    func encodeSequence(_ text: String) -> Encoding {
        var text = text
        return text.withUTF8 { p in
            var enc = Encoding(reservingCapacity: p.count / 3 + 4)
            let scanner = GPT2Scanner(p)
            var scratch = BPEModel.Scratch()
            var ids: [UInt32] = []
            var byteScalar: [Int32] = []
            var word = 0
            var i = 0, si = 0
            while i < p.count {
                let match = specials.next(in: p, from: i)
                let segmentEnd = match?.position ?? p.count
                while i < segmentEnd {
                    let (end, n) = scanner.next(i, segmentEnd)
                    ids.removeAll(keepingCapacity: true)
                    bpe(p.baseAddress! + i, end - i, &ids, &scratch)
                    appendTokens(ids, p, i, end, n, si, word, &enc, &byteScalar)
                    word += 1
                    i = end
                    si += n
                }
                if let match {
                    let t = specials.tokens[match.token]
                    enc.append(id: t.id, start: si, end: si + t.scalarCount, word: word)
                    word += 1
                    i += t.bytes.count
                    si += t.scalarCount
                }
            }
            enc.finish(tokenTable: idToToken, typeID: 0, sequence: 0)
            return enc
        }
    }

    @inline(__always)
    private func bpe(_ p: UnsafePointer<UInt8>, _ n: Int, _ ids: inout [UInt32], _ scratch: inout BPEModel.Scratch) {
        if n == 1 {
            ids.append(model.byteIDs[Int(p[0])])
            return
        }
        let cacheable = n <= BPECache.maxWordBytes
        var h: UInt64 = 0
        if cacheable {
            h = SequenceHash.hash(p, n)
            if cache.lookup(hash: h, p, n, into: &ids) { return }
        }
        let before = ids.count
        model.merge(p, n, into: &ids, &scratch)
        if cacheable { cache.insert(p, n, ids: ids[before...]) }
    }

    /// Offsets of the tokens of pre-token `p[start..<end]` (`scalars` scalars, the first at index `si`).
    @inline(__always)
    private func appendTokens(
        _ ids: [UInt32], _ p: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, _ scalars: Int,
        _ si: Int, _ word: Int, _ enc: inout Encoding, _ byteScalar: inout [Int32]
    ) {
        var pos = 0
        if scalars == end - start {  // ASCII: byte offsets are scalar offsets
            for id in ids {
                let len = Int(idByteStart[Int(id) + 1] - idByteStart[Int(id)])
                enc.append(id: Int(id), start: si + pos, end: si + pos + len, word: word)
                pos += len
            }
            return
        }
        byteScalar.removeAll(keepingCapacity: true)
        var s: Int32 = -1
        for k in start..<end {
            if p[k] & 0xC0 != 0x80 { s += 1 }
            byteScalar.append(s)
        }
        for id in ids {
            let len = Int(idByteStart[Int(id) + 1] - idByteStart[Int(id)])
            enc.append(
                id: Int(id), start: si + Int(byteScalar[pos]), end: si + Int(byteScalar[pos + len - 1]) + 1, word: word)
            pos += len
        }
    }
}
