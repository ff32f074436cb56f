// `BertTokenizer`: HF's BertTokenizerFast (BertNormalizer, BertPreTokenizer, WordPiece, [CLS]/[SEP] template).

/// BERT WordPiece tokenization, id for id as Hugging Face's `BertTokenizerFast`.
///
/// Behaviour (see WordPiece.swift for the pipeline):
/// - Text clean-up drops NUL, U+FFFD and control/format characters and turns every whitespace character
///   into a space; CJK ideographs become words of their own (HF's Rust ranges, which start the CJK
///   Extension F range at U+2B920 where Python's BasicTokenizer says U+2B820).
/// - Uncased models lowercase and, unless `stripAccents` says otherwise, strip accents (NFD, drop Mn).
/// - Punctuation (ASCII 33–47, 58–64, 91–96, 123–126 and Unicode P*) is split off one char at a time.
/// - Words longer than `maxInputCharsPerWord` (100) normalized chars, or that WordPiece cannot cover,
///   become a single [UNK] spanning the word.
/// - The special tokens [CLS], [SEP], [PAD], [MASK], [UNK] written in the text are matched
///   case-sensitively before normalization and kept whole ("[mask]" in an uncased model is not one).
/// - Character classes and mappings are HF's own tables (UnicodeTables.swift), not the Swift runtime's.
/// - Any `String` is accepted, including "" (which encodes to [CLS] [SEP]) and multi-megabyte lines:
///   every step is linear in the text length (WordPiece probes at most the longest vocabulary entry's
///   length from each position, and words over 100 chars are not probed at all).
public final class BertTokenizer: Tokenizer {
    public struct Options: Hashable, Sendable {
        /// Lowercase the text (uncased models).
        public var doLowerCase: Bool
        /// Strip accents; nil follows `doLowerCase`, as HF does.
        public var stripAccents: Bool?
        /// Put CJK ideographs in words of their own.
        public var tokenizeChineseChars: Bool
        /// Longer words become [UNK].
        public var maxInputCharsPerWord: Int
        public var unkToken = "[UNK]", clsToken = "[CLS]", sepToken = "[SEP]"
        public var padToken = "[PAD]", maskToken = "[MASK]"

        public init(
            doLowerCase: Bool = true, stripAccents: Bool? = nil, tokenizeChineseChars: Bool = true,
            maxInputCharsPerWord: Int = 100
        ) {
            self.doLowerCase = doLowerCase
            self.stripAccents = stripAccents
            self.tokenizeChineseChars = tokenizeChineseChars
            self.maxInputCharsPerWord = maxInputCharsPerWord
        }
    }

    public let options: Options
    let doLowerCase: Bool
    let stripAccents: Bool
    let tokenizeChineseChars: Bool
    let maxInputCharsPerWord: Int
    let idToToken: [String]
    let tokenIDs: TokenIndex
    /// Vocabulary entries that may start a word (all of them), and "##" entries with the "##" removed.
    let wholeWords: SequenceTable<UInt32>
    let continuations: SequenceTable<UInt32>
    let specials: SpecialTokenMatcher
    let specialIDs: Set<Int>
    let asciiClass: [UInt8]
    let asciiLower: [UInt8]
    public let unkID: Int
    public let clsID: Int
    public let sepID: Int
    public let padID: Int?
    public let maskID: Int?

    /// Loads a `vocab.txt` (one token per line; the line number minus one is the id), reading it with
    /// `TextFile.readLines`, so invalid UTF-8 is reported with its line.
    public convenience init(vocabularyFile path: String, options: Options = Options()) throws(TokenizerError) {
        try self.init(vocabulary: TextFile.readLines(
                path, maxBytes: TokenizerLimits.maxFileBytes, maxLines: TokenizerLimits.maxVocabulary), options: options, source: path)
    }

    /// Builds the tokenizer from the vocabulary in id order (e.g. read from a weight file).
    /// Throws for empty or duplicate entries and when [UNK], [CLS] or [SEP] is missing; `source` names the
    /// origin in error messages and `line` in them is index + 1.
    public init(
        vocabulary: [String], options: Options = Options(),
        source: String = "<in-memory vocabulary>"
    ) throws(TokenizerError) {
        self.options = options
        doLowerCase = options.doLowerCase
        stripAccents = options.stripAccents ?? options.doLowerCase
        tokenizeChineseChars = options.tokenizeChineseChars
        maxInputCharsPerWord = options.maxInputCharsPerWord
        var ids = TokenIndex(capacity: vocabulary.count)
        var cont = SequenceTable<UInt32>(capacity: vocabulary.count)
        for (id, token) in vocabulary.enumerated() {
            if token.isEmpty { throw .emptyToken(source: source, line: id + 1) }
            if let first = ids.add(token, id: id) {
                throw .duplicateToken(source: source, line: id + 1, token: token, firstLine: first + 1)
            }
            let scalars = token.unicodeScalars.map(\.value)
            if scalars.count > 2 && scalars[0] == 0x23 && scalars[1] == 0x23 {
                cont.insert(Array(scalars[2...]), value: Int32(id))
            }
        }
        func required(_ t: String) throws(TokenizerError) -> Int {
            guard let id = ids.id(t) else { throw .missingToken(source: source, token: t) }
            return id
        }
        unkID = try required(options.unkToken)
        clsID = try required(options.clsToken)
        sepID = try required(options.sepToken)
        padID = ids.id(options.padToken)
        maskID = ids.id(options.maskToken)
        idToToken = vocabulary
        tokenIDs = ids
        wholeWords = ids.table
        continuations = cont
        let named = [options.padToken, options.unkToken, options.clsToken, options.sepToken, options.maskToken]
        let present = named.compactMap { t in ids.id(t).map { (t, $0) } }
        specials = SpecialTokenMatcher(present)
        specialIDs = Set(present.map(\.1))
        // ASCII fast path, derived from the same tables as the general path.
        let u = UnicodeData.shared
        var cls = [UInt8](repeating: 0, count: 128), lower = [UInt8](repeating: 0, count: 128)
        for b in 0..<128 {
            let f = u.flags(UInt32(b))
            let l = options.doLowerCase && b >= 65 && b <= 90 ? b + 32 : b
            lower[b] = UInt8(l)
            if f & CharFlags.removed != 0 {
                cls[b] = ASCIIClass.drop.rawValue
            } else if f & CharFlags.bertSpace != 0 {
                cls[b] = ASCIIClass.space.rawValue
            } else if u.flags(UInt32(l)) & CharFlags.punctuation != 0 {
                cls[b] = ASCIIClass.punctuation.rawValue
            } else {
                cls[b] = ASCIIClass.keep.rawValue
            }
        }
        asciiClass = cls
        asciiLower = lower
    }

    public var vocabularySize: Int { idToToken.count }

    /// Encodes `text`; with `addSpecialTokens` as `[CLS] text [SEP]` (HF `tokenizer(text)`).
    public func encode(_ text: String, addSpecialTokens: Bool = true) -> Encoding {
        var enc = encodeSequence(text)
        if addSpecialTokens { enc = applyTemplate(enc, nil) }
        return enc
    }

    /// Encodes a text and optional pair as `[CLS] a [SEP] b [SEP]` (type ids 0…0 1…1), truncating first.
    public func encode(
        _ text: String, pair: String?, addSpecialTokens: Bool = true,
        truncation: Truncation? = nil
    ) throws(TokenizerError) -> Encoding {
        let a = encodeSequence(text)
        var b = pair.map { encodeSequence($0) }
        b?.markAsPair()
        var template: ((Encoding, Encoding?) -> Encoding)? = nil
        if addSpecialTokens { template = { self.applyTemplate($0, $1) } }
        return try postProcess(a, b, addSpecialTokens: addSpecialTokens, truncation: truncation, template: template)
    }

    /// Encodes a batch (one at a time, on the calling thread), then pads it (HF `tokenizer(texts, …)`).
    public func encodeBatch(
        _ texts: [String], pairs: [String]? = nil, addSpecialTokens: Bool = true,
        truncation: Truncation? = nil, padding: Padding? = nil
    ) throws(TokenizerError) -> [Encoding] {
        try batch(texts, pairs, padding: padding, padID: padID, padToken: options.padToken) {
            (a, b) throws(TokenizerError) in
            try encode(a, pair: b, addSpecialTokens: addSpecialTokens, truncation: truncation)
        }
    }

    /// WordPiece tokens of `text` without [CLS]/[SEP] (HF `tokenizer.tokenize`).
    public func tokenize(_ text: String) -> [String] { encodeSequence(text).tokens }

    /// HF's WordPiece decoder (decoders/wordpiece.rs, cleanup on): tokens joined by spaces, "##" pieces
    /// glued to the previous one, then per token " ." → "." and the other clean-ups HF lists. Unknown
    /// ids are skipped; `skipSpecialTokens` drops [CLS], [SEP], [PAD], [MASK] and [UNK].
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        var out = ""
        var first = true
        for id in ids where id >= 0 && id < idToToken.count {
            if skipSpecialTokens && specialIDs.contains(id) { continue }
            var token = idToToken[id]
            if !first {
                // Byte-wise: `hasPrefix` compares Characters, and "##" + a combining mark is not "##".
                let u = token.utf8
                if u.count >= 2 && u.first == 0x23 && u[u.index(after: u.startIndex)] == 0x23 {
                    token = String(decoding: u.dropFirst(2), as: UTF8.self)
                } else {
                    token = " " + token
                }
            }
            first = false
            out += BertTokenizer.cleanup(token)
        }
        return out
    }

    /// HF `decoders::wordpiece::cleanup`, applied to one token (with its leading space) at a time.
    static func cleanup(_ s: String) -> String {
        guard s.utf8.contains(0x20) else { return s }
        var s = s
        for (from, to) in [
            (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
            (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
        ] {
            s = s.replacingAll(from, with: to)
        }
        return s
    }

    public func convertTokensToIds(_ tokens: [String]) -> [Int?] { tokens.map { tokenIDs.id($0) } }
    public func convertIdsToTokens(_ ids: [Int]) -> [String?] {
        ids.map { $0 >= 0 && $0 < idToToken.count ? idToToken[$0] : nil }
    }
    /// The id of `token`, or nil.
    public func tokenToID(_ token: String) -> Int? { tokenIDs.id(token) }

    /// [CLS] a [SEP] (b [SEP]): HF's TemplateProcessing for BERT.
    private func applyTemplate(_ a: Encoding, _ b: Encoding?) -> Encoding {
        var out = Encoding(reservingCapacity: a.count + (b?.count ?? 0) + 3)
        out.appendAdded(id: clsID, token: idToToken[clsID], typeID: 0)
        out.appendContents(of: a)
        out.appendAdded(id: sepID, token: idToToken[sepID], typeID: 0)
        if let b {
            out.appendContents(of: b)
            out.appendAdded(id: sepID, token: idToToken[sepID], typeID: 1)
        }
        return out
    }
}

extension String {
    /// Replaces every non-overlapping occurrence, left to right (Rust `str::replace`).
    func replacingAll(_ target: String, with replacement: String) -> String {
        let s = Array(utf8), t = Array(target.utf8), r = Array(replacement.utf8)
        guard !t.isEmpty, s.count >= t.count else { return self }
        var out: [UInt8] = []
        out.reserveCapacity(s.count)
        var i = 0
        var changed = false
        while i < s.count {
            if i + t.count <= s.count && s[i] == t[0] && Array(s[i..<(i + t.count)]) == t {
                out += r
                i += t.count
                changed = true
            } else {
                out.append(s[i])
                i += 1
            }
        }
        return changed ? String(decoding: out, as: UTF8.self) : self
    }
}
