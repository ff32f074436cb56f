// Typed errors of the Tokenizers module, and `TextFile`, the strict UTF-8 line reader the loaders use.
import Foundation

/// Everything that can go wrong when building or running a tokenizer. `source` is a file path, or a
/// label such as "<in-memory vocabulary>" for arrays handed over by a model loader; `line` is 1-based
/// (for in-memory arrays and JSON vocabularies, whose entries are not lines: id + 1). `description` is a
/// single line naming the problem, in the `file:line: message` form compilers use.
public enum TokenizerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The file does not exist or cannot be read.
    case unreadableFile(path: String, reason: String)
    /// A line of a text file is not valid UTF-8.
    case invalidUTF8(path: String, line: Int)
    /// A vocabulary entry is empty.
    case emptyToken(source: String, line: Int)
    /// A vocabulary entry appears twice (ids are positional, so this would silently shift them).
    case duplicateToken(source: String, line: Int, token: String, firstLine: Int)
    /// A token the tokenizer needs (e.g. "[UNK]", or a GPT-2 byte symbol) is not in the vocabulary.
    case missingToken(source: String, token: String)
    /// A merges line is not two tokens separated by one space.
    case malformedMerge(source: String, line: Int, text: String)
    /// A merges line names a token, or produces a merged token, that the vocabulary lacks.
    case mergeTokenNotInVocabulary(source: String, line: Int, token: String)
    /// A JSON vocabulary (encoder.json / vocab.json) could not be parsed.
    case malformedJSON(path: String, line: Int, column: Int, reason: String)
    /// A JSON vocabulary's ids are not exactly 0..<count (an id is negative, repeated or missing).
    case invalidTokenID(source: String, token: String, id: Int)
    /// Padding was asked for but the tokenizer has no padding token.
    case missingPaddingToken
    /// `Truncation.Strategy.onlySecond` without a pair (HF "Second sequence not provided").
    case secondSequenceNotProvided
    /// The sequence to truncate is too short to reach `maxLength` (HF "Sequence to truncate too short").
    case sequenceTooShort(maxLength: Int)
    /// A batch's `pairs` does not have one entry per text.
    case pairCountMismatch(texts: Int, pairs: Int)

    public var description: String {
        switch self {
        case let .unreadableFile(path, reason): return "\(path): cannot read file: \(reason)"
        case let .invalidUTF8(path, line): return "\(path):\(line): invalid UTF-8"
        case let .emptyToken(source, line): return "\(source):\(line): empty token"
        case let .duplicateToken(source, line, token, first):
            return "\(source):\(line): duplicate token \(quoted(token)) (first on line \(first))"
        case let .missingToken(source, token): return "\(source): vocabulary has no \(quoted(token)) token"
        case let .malformedMerge(source, line, text):
            return "\(source):\(line): malformed merge \(quoted(text)) (expected two tokens separated by one space)"
        case let .mergeTokenNotInVocabulary(source, line, token):
            return "\(source):\(line): merge uses \(quoted(token)), which is not in the vocabulary"
        case let .malformedJSON(path, line, column, reason):
            return "\(path):\(line):\(column): malformed JSON: \(reason)"
        case let .invalidTokenID(source, token, id):
            return "\(source): token \(quoted(token)) has id \(id); ids must be 0..<count, each used once"
        case .missingPaddingToken: return "padding requested but the tokenizer has no padding token"
        case .secondSequenceNotProvided: return "truncation strategy onlySecond needs a second sequence"
        case let .sequenceTooShort(maxLength):
            return "sequence to truncate is too short to respect max length \(maxLength)"
        case let .pairCountMismatch(texts, pairs): return "batch has \(texts) texts but \(pairs) pairs"
        }
    }
}

/// Renders a token in messages: Swift string-literal escaping keeps control characters visible and the
/// message on one line.
func quoted(_ token: String) -> String {
    String(reflecting: token.count > 80 ? String(token.prefix(80)) + "…" : token)
}

/// Strict text-file reading for vocabulary and merges files.
public enum TextFile {
    /// Reads `path` as lines. Lines end at "\n"; a "\r" before it is dropped too (so CRLF files read the
    /// same); a final line without "\n" is kept and a trailing "\n" does not make an extra empty line.
    /// Throws `TokenizerError.invalidUTF8` naming the file and the 1-based line of the first invalid byte
    /// sequence, or `.unreadableFile`.
    /// A file of more than `maxLines` lines or `maxBytes` bytes is refused before any line is made a String.
    public static func readLines(_ path: String, maxBytes: Int = .max, maxLines: Int = .max) throws(TokenizerError)
        -> [String]
    {
        let bytes = try readBytes(path, maxBytes: maxBytes)
        if maxLines < .max {
            var count = 0
            for b in bytes where b == 0x0A { count += 1 }
            if let last = bytes.last, last != 0x0A { count += 1 }
            if count > maxLines {
                throw .unreadableFile(path: path, reason: "\(count) lines, over the limit of \(maxLines)")
            }
        }
        return try lines(of: bytes, path: path)
    }

    /// Reads a whole file's bytes. Only a regular file is opened (a FIFO would block `open` forever), and one
    /// larger than `maxBytes` is refused before it is read.
    public static func readBytes(_ path: String, maxBytes: Int = .max) throws(TokenizerError) -> [UInt8] {
        let kind = FileKind(path: path)
        if let why = kind.notRegularReason { throw .unreadableFile(path: path, reason: why) }
        if let n = kind.bytes, n > maxBytes {
            throw .unreadableFile(path: path, reason: "the file is \(n) bytes, over the limit of \(maxBytes)")
        }
        // Read straight into the array (no Data copy beside it), so a file's peak cost is its size once.
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw .unreadableFile(path: path, reason: errno == EACCES ? "permission denied" : String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(min(kind.bytes ?? 0, maxBytes))
        var block = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = block.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw .unreadableFile(path: path, reason: String(cString: strerror(errno))) }
            if n == 0 { return bytes }
            bytes.append(contentsOf: block[0..<n])
            if bytes.count > maxBytes {  // grown since stat
                throw .unreadableFile(path: path, reason: "the file is over the limit of \(maxBytes) bytes")
            }
        }
    }

    /// Splits bytes into lines as `readLines` does, validating UTF-8 line by line.
    public static func lines(of bytes: [UInt8], path: String) throws(TokenizerError) -> [String] {
        var out: [String] = []
        var start = 0
        var line = 1
        let n = bytes.count
        while start < n {
            var end = start
            while end < n && bytes[end] != 0x0A { end += 1 }
            var stop = end
            if stop > start && bytes[stop - 1] == 0x0D { stop -= 1 }
            guard let s = bytes.withUnsafeBufferPointer({ validUTF8(UnsafeBufferPointer(rebasing: $0[start..<stop])) })
            else {
                throw .invalidUTF8(path: path, line: line)
            }
            out.append(s)
            start = end + 1
            line += 1
        }
        return out
    }

    /// The string for `bytes` if they are valid UTF-8, else nil (never repairs).
    static func validUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        var it = bytes.makeIterator()
        var utf8 = UTF8()
        loop: while true {
            switch utf8.decode(&it) {
            case .scalarValue: continue
            case .emptyInput: break loop
            case .error: return nil
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
