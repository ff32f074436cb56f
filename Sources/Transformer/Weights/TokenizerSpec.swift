// What a tokenizer needs from a checkpoint (vocab, merges, settings), read from a Hugging Face directory.

import Foundation
import Tokenizers

/// The tokenizer stored with a checkpoint: the `/tokenizer` group of a Loupe file (docs/weights-format.md,
/// "Group /tokenizer"), or the same values read from a Hugging Face directory exactly as convert.py does.
public struct TokenizerSpec: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        /// BERT WordPiece.
        case wordpiece
        /// GPT-2 byte-level BPE.
        case bpe
    }

    public var type: Kind
    /// Tokens by id (index = token id).
    public var vocab: [String]
    /// BPE merges "left right" in rank order (index 0 = highest priority); empty for WordPiece.
    public var merges: [String]
    /// WordPiece: lower-case the input (BertNormalizer `lowercase`).
    public var doLowerCase: Bool
    /// WordPiece: strip accents; nil means "follow doLowerCase", as transformers does for `strip_accents=None`.
    public var stripAccents: Bool?
    /// WordPiece: put spaces around CJK characters.
    public var tokenizeChineseChars: Bool
    public var unkToken: String
    /// WordPiece special tokens (nil for BPE).
    public var clsToken: String?
    public var sepToken: String?
    public var padToken: String?
    public var maskToken: String?
    /// BPE special tokens (nil for WordPiece).
    public var bosToken: String?
    public var eosToken: String?
    /// BPE: add a space before the first word (ByteLevel `add_prefix_space`).
    public var addPrefixSpace: Bool
    /// Longest input in tokens (tokenizer_config.json `model_max_length`, else the model's positions).
    public var modelMaxLength: Int
    /// sentence-transformers only: truncate to this many tokens, [CLS] and [SEP] included.
    public var maxSeqLength: Int?

    public init(
        type: Kind, vocab: [String], merges: [String] = [], doLowerCase: Bool = true, stripAccents: Bool? = nil,
        tokenizeChineseChars: Bool = true, unkToken: String, clsToken: String? = nil, sepToken: String? = nil,
        padToken: String? = nil, maskToken: String? = nil, bosToken: String? = nil, eosToken: String? = nil,
        addPrefixSpace: Bool = false, modelMaxLength: Int, maxSeqLength: Int? = nil
    ) {
        self.type = type
        self.vocab = vocab
        self.merges = merges
        self.doLowerCase = doLowerCase
        self.stripAccents = stripAccents
        self.tokenizeChineseChars = tokenizeChineseChars
        self.unkToken = unkToken
        self.clsToken = clsToken
        self.sepToken = sepToken
        self.padToken = padToken
        self.maskToken = maskToken
        self.bosToken = bosToken
        self.eosToken = eosToken
        self.addPrefixSpace = addPrefixSpace
        self.modelMaxLength = modelMaxLength
        self.maxSeqLength = maxSeqLength
    }
}

// MARK: - Reading a Hugging Face directory (weights-scripts/convert.py `read_tokenizer`)

extension TokenizerSpec {
    /// Reads the tokenizer of a Hugging Face model directory the way convert.py does, so that loading the
    /// directory and loading its converted .h5 give equal specs. `positions` is the config's
    /// max_position_embeddings / n_positions (the `model_max_length` fallback).
    static func readHuggingFace(
        directory: URL, architecture: Checkpoint.Architecture, positions: Int
    ) throws(WeightError) -> TokenizerSpec {
        let dir = HFTokenizerFiles(directory)
        let tc = try dir.json("tokenizer_config.json") ?? [:]
        let stm = try dir.json("special_tokens_map.json") ?? [:]

        // tokenizer_config.json, else special_tokens_map.json; a string or an AddedToken {"content": ...}.
        func special(_ name: String, _ fallback: String) -> String {
            for source in [tc[name], stm[name]] {
                let value = source?.string ?? source?["content"]?.string
                if let value, !value.isEmpty { return value }
            }
            return fallback
        }
        // HF writes 1e30 for "no limit": anything but a positive integer below 2^62 falls back to the positions.
        var maxLength = positions
        if let n = tc["model_max_length"]?.number, n == n.rounded(), n > 0, n < 4.6e18 {
            maxLength = Int(n)
        }

        switch architecture {
        case .bert:
            // tokenizer.json (often ~0.5 MB) is parsed only when it is needed: for the vocab, or for a
            // normaliser setting tokenizer_config.json leaves out.
            let settings = ["do_lower_case", "strip_accents", "tokenize_chinese_chars"]
            let needJSON = !dir.exists("vocab.txt") || !settings.allSatisfy { tc.keys.contains($0) }
            let tj = needJSON ? try dir.json("tokenizer.json") : nil
            var norm = tj?["normalizer"]?.object ?? [:]
            if norm["type"]?.string != "BertNormalizer" { norm = [:] }
            let vocab: [String]
            if dir.exists("vocab.txt") {
                // transformers load_vocab: one token per line, newline stripped (Python universal newlines).
                vocab = try dir.lines("vocab.txt", limit: TokenizerLimits.maxVocabulary)
            } else if let tj, tj["model"]?["type"]?.string == "WordPiece" {
                vocab = try tokenizerJSONVocab(tj, file: dir.path("tokenizer.json"))
            } else {
                throw .badTokenizer(
                    file: directory.path, detail: "no vocab (vocab.txt, or tokenizer.json with a WordPiece model)")
            }
            let strip: Bool? =
                tc.keys.contains("strip_accents")
                ? truthy(tc["strip_accents"], nilIfNull: true)
                : truthy(norm["strip_accents"], nilIfNull: true)
            return TokenizerSpec(
                type: .wordpiece, vocab: vocab,
                doLowerCase: truthy(
                    tc.keys.contains("do_lower_case") ? tc["do_lower_case"] : norm["lowercase"] ?? .bool(true))
                    ?? false,
                stripAccents: strip,
                tokenizeChineseChars: truthy(
                    tc.keys.contains("tokenize_chinese_chars")
                        ? tc["tokenize_chinese_chars"] : norm["handle_chinese_chars"] ?? .bool(true)) ?? false,
                unkToken: special("unk_token", "[UNK]"), clsToken: special("cls_token", "[CLS]"),
                sepToken: special("sep_token", "[SEP]"), padToken: special("pad_token", "[PAD]"),
                maskToken: special("mask_token", "[MASK]"), modelMaxLength: maxLength)
        case .gpt2:
            let vocab: [String]
            let merges: [String]
            var tj: [String: JSONValue]? = nil
            if dir.exists("vocab.json") && dir.exists("merges.txt") {
                let vj = try dir.json("vocab.json") ?? [:]
                vocab = try vocabFromIDs(vj, file: dir.path("vocab.json"))
                merges = try readMergesTxt(dir.lines("merges.txt", limit: TokenizerLimits.maxMerges + 1), file: dir.path("merges.txt"))
            } else if let j = try dir.json("tokenizer.json"), let model = j["model"]?.object,
                model["type"]?.string == "BPE"
            {
                tj = j
                vocab = try tokenizerJSONVocab(j, file: dir.path("tokenizer.json"))
                let list = model["merges"]?.array ?? []
                if list.count > TokenizerLimits.maxMerges {
                    throw .badTokenizer(
                        file: dir.path("tokenizer.json"),
                        detail: "\(list.count) merges, over the limit of \(TokenizerLimits.maxMerges)")
                }
                merges = try list.map { (m) throws(WeightError) -> String in
                    if let s = m.string { return s }
                    if let pair = m.strings, pair.count == 2 { return pair.joined(separator: " ") }
                    throw .badTokenizer(
                        file: dir.path("tokenizer.json"),
                        detail: "model.merges entry \(m.jsonText) is not \"a b\" or [a, b]")
                }
            } else {
                throw .badTokenizer(
                    file: directory.path,
                    detail: "no vocab (vocab.json + merges.txt, or tokenizer.json with a BPE model)")
            }
            var addPrefix = tc["add_prefix_space"].flatMap { truthy($0, nilIfNull: true) }
            if addPrefix == nil {
                if tj == nil { tj = try dir.json("tokenizer.json") }
                let pre = tj?["pre_tokenizer"]?.object ?? [:]
                addPrefix = pre["type"]?.string == "ByteLevel" ? truthy(pre["add_prefix_space"] ?? .bool(false)) : false
            }
            return TokenizerSpec(
                type: .bpe, vocab: vocab, merges: merges, unkToken: special("unk_token", "<|endoftext|>"),
                bosToken: special("bos_token", "<|endoftext|>"), eosToken: special("eos_token", "<|endoftext|>"),
                addPrefixSpace: addPrefix ?? false, modelMaxLength: maxLength)
        }
    }
}

/// The optional tokenizer files of a model directory.
private struct HFTokenizerFiles {
    let directory: URL
    init(_ directory: URL) { self.directory = directory }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
    func exists(_ name: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path(name), isDirectory: &isDir) && !isDir.boolValue
    }
    /// The file's JSON object, or nil when the file is absent.
    func json(_ name: String) throws(WeightError) -> [String: JSONValue]? {
        guard exists(name) else { return nil }
        return try readJSONObject(path(name), error: { .badTokenizer(file: $0, detail: $1) })
    }
    /// Lines as Python's text mode reads them: "\r\n", "\r" and "\n" all end a line; a final newline adds
    /// no empty line. The content must be UTF-8.
    func lines(_ name: String, limit: Int) throws(WeightError) -> [String] {
        let p = path(name)
        let data: [UInt8]
        do { data = try TextFile.readBytes(p, maxBytes: TokenizerLimits.maxFileBytes) } catch {
            if case .unreadableFile(_, let reason) = error { throw .unreadable(file: p, detail: reason) }
            throw .unreadable(file: p, detail: error.description)
        }
        // A line count over the limit is refused before any line becomes a String.
        var count = 0
        for (k, b) in data.enumerated() where b == 0x0A || (b == 0x0D && (k + 1 == data.count || data[k + 1] != 0x0A)) {
            count += 1
        }
        if count > limit { throw .badTokenizer(file: p, detail: "\(count) lines, over the limit of \(limit)") }
        var lines: [String] = []
        var start = data.startIndex
        var i = data.startIndex
        func take(_ end: Data.Index) throws(WeightError) {
            guard let s = String(validating: data[start..<end], as: UTF8.self) else {
                throw .badTokenizer(file: p, detail: "line \(lines.count + 1) is not valid UTF-8")
            }
            lines.append(s)
        }
        while i < data.endIndex {
            let b = data[i]
            if b == 0x0A || b == 0x0D {
                try take(i)
                i += (b == 0x0D && i + 1 < data.endIndex && data[i + 1] == 0x0A) ? 2 : 1
                start = i
            } else {
                i += 1
            }
        }
        if start < data.endIndex { try take(data.endIndex) }
        return lines
    }
}

/// `merges.txt`: the "#version" header line and blank lines skipped; every other line is "left right".
private func readMergesTxt(_ lines: [String], file: String) throws(WeightError) -> [String] {
    var merges: [String] = []
    for (n, line) in lines.enumerated() {
        if (n == 0 && line.hasPrefix("#version")) || line.allSatisfy(\.isWhitespace) { continue }
        guard line.split(separator: " ", omittingEmptySubsequences: false).count == 2 else {
            throw .badTokenizer(file: file, detail: "line \(n + 1): expected \"a b\", got \"\(line)\"")
        }
        merges.append(line)
    }
    return merges
}

/// tokenizer.json `model.vocab` plus `added_tokens` (an added token keeps the id of an existing entry).
private func tokenizerJSONVocab(_ tj: [String: JSONValue], file: String) throws(WeightError) -> [String] {
    var vocab = tj["model"]?["vocab"]?.object ?? [:]
    for case let added? in (tj["added_tokens"]?.array ?? []).map(\.object) {
        if let content = added["content"]?.string, vocab[content] == nil { vocab[content] = added["id"] }
    }
    if vocab.isEmpty { throw .badTokenizer(file: file, detail: "model.vocab is empty") }
    return try vocabFromIDs(vocab, file: file)
}

/// token → id maps (vocab.json, tokenizer.json): ids must be exactly 0..<n, one token each.
private func vocabFromIDs(_ map: [String: JSONValue], file: String) throws(WeightError) -> [String] {
    if map.count > TokenizerLimits.maxVocabulary {
        throw .badTokenizer(
            file: file, detail: "\(map.count) vocabulary entries, over the limit of \(TokenizerLimits.maxVocabulary)")
    }
    var byID = [String?](repeating: nil, count: map.count)
    for (token, value) in map.sorted(by: { $0.key < $1.key }) {
        guard let n = value.number, n == n.rounded(), n >= 0 else {
            throw .badTokenizer(file: file, detail: "token \"\(token)\" has invalid id \(value.jsonText)")
        }
        guard n < Double(map.count) else {
            throw .badTokenizer(
                file: file, detail: "token ids are not 0..\(map.count - 1) (\"\(token)\" has id \(value.jsonText))")
        }
        let id = Int(n)
        if let other = byID[id] {
            throw .badTokenizer(file: file, detail: "id \(id) is used by both \"\(other)\" and \"\(token)\"")
        }
        byID[id] = token
    }
    return byID.map { $0! }  // n distinct ids in 0..<n: every slot is filled
}

/// Python truthiness of a JSON value (`bool(x)`), an absent one counting as null; nil for null when `nilIfNull`.
func truthy(_ value: JSONValue?, nilIfNull: Bool = false) -> Bool? {
    (value ?? .null).truthy(nilIfNull: nilIfNull)
}
