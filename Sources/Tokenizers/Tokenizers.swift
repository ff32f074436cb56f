// The Tokenizers module's shared vocabulary: `Encoding`, `Offset`, truncation/padding options and `Tokenizer`.
//
// Two tokenizers reproduce Hugging Face's fast (Rust `tokenizers`) results id for id:
// - `BertTokenizer`: BertNormalizer + BertPreTokenizer + WordPiece + the [CLS]/[SEP] template.
// - `GPT2Tokenizer`: the GPT-2 pre-tokenisation pattern + byte-level BPE, no post-processing.
// Offsets are Unicode-scalar indices into the original `String` (HF's Python `str` indices).

/// A half-open span `[start, end)` of Unicode scalars in the original text, like the `(start, end)`
/// pairs of HF's `offset_mapping`. Tokens that the tokenizer adds ([CLS], [SEP], padding) have (0, 0).
public struct Offset: Hashable, Sendable, CustomStringConvertible {
    public var start: Int
    public var end: Int
    public init(_ start: Int, _ end: Int) {
        self.start = start
        self.end = end
    }
    public var description: String { "(\(start), \(end))" }
}

/// The result of encoding one sequence or one pair, as HF's `Encoding`: one entry per token in every array.
public struct Encoding: Hashable, Sendable {
    /// Vocabulary ids.
    public internal(set) var ids: [Int]
    /// Token strings as they appear in the vocabulary (WordPiece pieces keep their `##`; GPT-2 tokens
    /// are in the byte-to-unicode alphabet, e.g. "Ġdog").
    public internal(set) var tokens: [String]
    /// Unicode-scalar spans in the original text of the sequence the token came from.
    public internal(set) var offsets: [Offset]
    /// Segment ids: 0 for the first sequence (and its [CLS]/[SEP]), 1 for the pair's.
    public internal(set) var typeIDs: [Int]
    /// 1 for real tokens, 0 for padding.
    public internal(set) var attentionMask: [Int]
    /// 1 for tokens added by the tokenizer ([CLS], [SEP], padding), 0 otherwise (HF `special_tokens_mask`).
    public internal(set) var specialTokensMask: [Int]
    /// Index of the pre-tokenizer word each token belongs to (HF `word_ids()`); nil for added tokens.
    /// Counting restarts at 0 in the second sequence of a pair; see `sequenceIDs`.
    public internal(set) var wordIDs: [Int?]
    /// Which input each token came from: 0, 1, or nil for added tokens (HF `sequence_ids()`).
    public internal(set) var sequenceIDs: [Int?]

    init() {
        ids = []; tokens = []; offsets = []; typeIDs = []; attentionMask = []
        specialTokensMask = []; wordIDs = []; sequenceIDs = []
    }

    init(reservingCapacity n: Int) {
        self.init()
        ids.reserveCapacity(n); tokens.reserveCapacity(n); offsets.reserveCapacity(n)
        wordIDs.reserveCapacity(n)
    }

    /// Number of tokens.
    public var count: Int { ids.count }

    /// The token range of word `word` of sequence `sequence` (HF `word_to_tokens`), or nil if absent.
    public func wordToTokens(_ word: Int, sequence: Int = 0) -> Range<Int>? {
        var lo = -1, hi = -1
        for i in 0..<ids.count where wordIDs[i] == word && sequenceIDs[i] == sequence {
            if lo < 0 { lo = i }
            hi = i + 1
        }
        return lo < 0 ? nil : lo..<hi
    }

    /// The original-text span of word `word` of sequence `sequence` (HF `word_to_chars`), or nil.
    public func wordToChars(_ word: Int, sequence: Int = 0) -> Offset? {
        guard let r = wordToTokens(word, sequence: sequence) else { return nil }
        return Offset(offsets[r.lowerBound].start, offsets[r.upperBound - 1].end)
    }

    /// Groups word pieces back into words: for each word of each sequence, in order, its token range and
    /// its span in that sequence's original text.
    public func words() -> [(sequence: Int, word: Int, tokens: Range<Int>, offset: Offset)] {
        var out: [(sequence: Int, word: Int, tokens: Range<Int>, offset: Offset)] = []
        var i = 0
        while i < ids.count {
            guard let w = wordIDs[i], let s = sequenceIDs[i] else { i += 1; continue }
            var j = i + 1
            while j < ids.count && wordIDs[j] == w && sequenceIDs[j] == s { j += 1 }
            out.append((s, w, i..<j, Offset(offsets[i].start, offsets[j - 1].end)))
            i = j
        }
        return out
    }

    /// Appends one token that came from the text.
    @inline(__always)
    mutating func append(id: Int, start: Int, end: Int, word: Int) {
        ids.append(id)
        offsets.append(Offset(start, end))
        wordIDs.append(word)
    }

    /// Fills the per-token arrays that are constant over one freshly encoded sequence.
    mutating func finish(tokenTable: [String], typeID: Int, sequence: Int) {
        let n = ids.count
        tokens = ids.map { tokenTable[$0] }
        typeIDs = Array(repeating: typeID, count: n)
        attentionMask = Array(repeating: 1, count: n)
        specialTokensMask = Array(repeating: 0, count: n)
        sequenceIDs = Array(repeating: sequence, count: n)
    }

    /// Appends a token added by the tokenizer ([CLS], [SEP], padding).
    mutating func appendAdded(id: Int, token: String, typeID: Int, attention: Int = 1) {
        ids.append(id); tokens.append(token); offsets.append(Offset(0, 0)); typeIDs.append(typeID)
        attentionMask.append(attention); specialTokensMask.append(1); wordIDs.append(nil); sequenceIDs.append(nil)
    }

    mutating func appendContents(of other: Encoding) {
        ids += other.ids; tokens += other.tokens; offsets += other.offsets; typeIDs += other.typeIDs
        attentionMask += other.attentionMask; specialTokensMask += other.specialTokensMask
        wordIDs += other.wordIDs; sequenceIDs += other.sequenceIDs
    }

    /// Keeps the first `n` tokens (HF `Encoding::truncate`, direction right; overflow is dropped).
    mutating func truncate(to n: Int) {
        guard n < ids.count else { return }
        ids.removeSubrange(n...); tokens.removeSubrange(n...); offsets.removeSubrange(n...)
        typeIDs.removeSubrange(n...); attentionMask.removeSubrange(n...)
        specialTokensMask.removeSubrange(n...); wordIDs.removeSubrange(n...); sequenceIDs.removeSubrange(n...)
    }
}

/// Truncation as HF's `TruncationParams` (direction right, stride 0). `maxLength` counts the special
/// tokens that `addSpecialTokens` adds, as HF does.
public struct Truncation: Hashable, Sendable {
    public enum Strategy: Hashable, Sendable {
        /// HF's default (`truncate_encodings` in truncation.rs): a single sequence is cut to the limit; in
        /// a pair the shorter one is kept whole if it takes at most half the limit and the longer is cut
        /// to the rest, else each gets half, the odd token going to the longer (to the second on a tie).
        case longestFirst
        case onlyFirst
        case onlySecond
    }
    public var maxLength: Int
    public var strategy: Strategy
    public init(maxLength: Int, strategy: Strategy = .longestFirst) {
        self.maxLength = maxLength
        self.strategy = strategy
    }
}

/// Batch padding, on the right, as HF's `PaddingParams`.
public enum Padding: Hashable, Sendable {
    /// Pad every encoding to the longest in the batch (HF `padding=True`).
    case longest
    /// Pad every encoding to at least this length (HF `padding="max_length"`); longer ones are left as is.
    case toLength(Int)
}

/// What the two tokenizers have in common, for code that takes either.
public protocol Tokenizer: Sendable {
    /// Encodes one text; with `addSpecialTokens` BERT wraps it as `[CLS] text [SEP]`.
    func encode(_ text: String, addSpecialTokens: Bool) -> Encoding
    /// Encodes a text and an optional pair, truncating as asked (HF `tokenizer(text, pair, truncation=…)`).
    func encode(_ text: String, pair: String?, addSpecialTokens: Bool, truncation: Truncation?)
        throws(TokenizerError) -> Encoding
    /// Encodes a batch, then pads it (HF `tokenizer(texts, pairs, padding=…, truncation=…)`).
    func encodeBatch(
        _ texts: [String], pairs: [String]?, addSpecialTokens: Bool, truncation: Truncation?,
        padding: Padding?
    ) throws(TokenizerError) -> [Encoding]
    /// The tokens of `text`, without added special tokens (HF `tokenizer.tokenize`).
    func tokenize(_ text: String) -> [String]
    /// Turns ids back into text (HF `decode`).
    func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String
    /// Vocabulary lookups; nil for unknown tokens or out-of-range ids.
    func convertTokensToIds(_ tokens: [String]) -> [Int?]
    func convertIdsToTokens(_ ids: [Int]) -> [String?]
    /// Number of ids (vocabulary plus added special tokens).
    var vocabularySize: Int { get }
}
