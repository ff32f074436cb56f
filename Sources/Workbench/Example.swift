// Datasets: `Example {id, text, label?}` read from text files, GLUE TSVs and JSON Lines, streamed with file:line errors.
import Foundation
import Tokenizers

/// One input of every operation. `id` is stable: given by the file (JSON Lines `id`, GLUE `idx`), else the
/// 0-based row number (the header of a TSV is not a row); every result carries it.
public struct Example: Codable, Sendable, Hashable {
    public var id: String
    public var text: String
    /// The gold label as the file spells it: a class name or a class index ("0", "1" in GLUE).
    public var label: String?
    /// The example this one was derived from (an edit or a counterfactual), as LIT keeps it.
    public var parent: String?

    public init(id: String, text: String, label: String? = nil, parent: String? = nil) {
        self.id = id
        self.text = text
        self.label = label
        self.parent = parent
    }

    /// Examples from texts given directly (e.g. repeated `--text`): ids "0", "1", …
    public static func list(_ texts: [String]) -> [Example] {
        texts.enumerated().map { Example(id: String($0.offset), text: $0.element) }
    }

    enum CodingKeys: String, CodingKey { case id, text, label, parent }

    /// JSON Lines accept a number or a string for `id` and `label` (`{"id": 3, "label": 1}` is common).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func loose(_ key: CodingKeys) throws -> String? {
            guard c.contains(key) else { return nil }
            if try c.decodeNil(forKey: key) { return nil }
            if let i = try? c.decode(Int.self, forKey: key) { return String(i) }
            if let s = try? c.decode(String.self, forKey: key) { return s }
            if let d = try? c.decode(Double.self, forKey: key) { return String(d) }  // beyond Int, or fractional
            throw DecodingError.dataCorruptedError(
                forKey: key, in: c, debugDescription: "expected a string or a number")
        }
        id = try loose(.id) ?? ""
        text = try c.decode(String.self, forKey: .text)
        label = try loose(.label)
        parent = try loose(.parent)
    }
}

/// How a file holds examples.
public enum DatasetFormat: String, Codable, Sendable, CaseIterable {
    /// One text per line; ids are line numbers from 0.
    case text
    /// A header naming a `sentence` column (and optionally `label`, `idx`), TAB-separated fields (GLUE).
    case tsv
    /// One JSON object per line: `{"id": …, "text": …, "label": …}`; `id` and `label` optional.
    case jsonl

    /// The format a path's name says (.jsonl, .ndjson → JSON Lines); else nil, and the first line decides.
    public static func guess(path: String) -> DatasetFormat? {
        let lower = path.lowercased()
        return lower.hasSuffix(".jsonl") || lower.hasSuffix(".ndjson") ? .jsonl : nil
    }
}

/// Why a dataset could not be read; each case names the file, and the 1-based line where one is at fault.
public enum DatasetError: Error, Equatable, Sendable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case empty(path: String)
    case invalidUTF8(path: String, line: Int)
    case badHeader(path: String, detail: String)
    case missingField(path: String, line: Int, field: String, detail: String)
    case badJSON(path: String, line: Int, detail: String)
    case badLabel(path: String, line: Int, label: String, known: String)
    /// A line longer than `Limits.textBytes`: refused (and skipped) without holding it in memory.
    case lineTooLong(path: String, line: Int, limit: Int)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): return "\(path): \(reason)"
        case .empty(let path): return "\(path): the file is empty"
        case .invalidUTF8(let path, let line): return "\(path):\(line): invalid UTF-8"
        case .badHeader(let path, let detail): return "\(path):1: \(detail)"
        case .missingField(let path, let line, let field, let detail):
            return "\(path):\(line): missing `\(field)` (\(detail))"
        case .badJSON(let path, let line, let detail): return "\(path):\(line): \(detail)"
        case .badLabel(let path, let line, let label, let known):
            return "\(path):\(line): label \(String(reflecting: label)) is not one of \(known)"
        case .lineTooLong(let path, let line, let limit):
            return "\(path):\(line): the line is longer than the limit of \(limit) bytes"
        }
    }
}

/// Reads examples one at a time from a file (or standard input, path "-"), holding one line in memory: a 1 GB
/// file is never read at once. Lines end at "\n" (a "\r" before it is dropped); every line must be UTF-8.
public struct ExampleReader {
    public let path: String
    public private(set) var format: DatasetFormat
    /// The 1-based line of the last example returned (or refused).
    public private(set) var line = 0
    /// The 0-based row of the last example returned or refused: a refused line's id is this number.
    public private(set) var lastRow = -1
    private var lines: LineReader
    private var columns: (text: Int, label: Int?, idx: Int?, count: Int)?
    private var row = 0
    /// A line read ahead (the format probe, or the look-ahead past a blank line), with its number.
    private var pending: (bytes: [UInt8], number: Int)?

    public init(path: String, format: DatasetFormat? = nil) throws(DatasetError) {
        self.path = path
        lines = try LineReader(path: path)
        if let f = format ?? DatasetFormat.guess(path: path) {
            self.format = f
        } else {
            // A first line that is a JSON object means JSON Lines (as a worker reads stdin); otherwise, as before
            // JSON Lines existed, a first line with a TAB is a TSV header and anything else a text.
            guard let first = try lines.next() else { throw .empty(path: path) }
            pending = first
            let start = first.bytes.first { $0 != 0x20 && $0 != 0x09 }
            self.format = start == 0x7B ? .jsonl : first.bytes.contains(0x09) ? .tsv : .text
        }
        if self.format == .tsv {
            guard let header = try take() else { throw .empty(path: path) }
            let names = try decode(header.bytes, line: 1).split(separator: "\t", omittingEmptySubsequences: false).map(
                String.init)
            guard let text = names.firstIndex(of: "sentence") else {
                throw .badHeader(path: path, detail: "a TSV needs a `sentence` column; the header has \(names)")
            }
            columns = (text, names.firstIndex(of: "label"), names.firstIndex(of: "idx"), names.count)
        }
    }

    /// The next example, or nil at the end. A blank last line is not an example (of a text file, neither
    /// are blank lines at the end); a blank line inside a JSON Lines file is skipped.
    public mutating func next() throws(DatasetError) -> Example? {
        while true {
            let taken: (bytes: [UInt8], number: Int)?
            do { taken = try take() } catch {
                if case .lineTooLong(_, let number, _) = error {  // a refused line is still a row, as below
                    (line, lastRow) = (number, row)
                    row += 1
                }
                throw error
            }
            guard let (bytes, number) = taken else { return nil }
            line = number
            if bytes.isEmpty, try isAtEnd() { return nil }
            if format == .jsonl && bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }  // blank: not a row
            // The row number is the line's whether it reads or not, so a caller that goes on after a bad line
            // (a streaming worker) keeps every later id where it was.
            let row = self.row
            self.row += 1
            lastRow = row
            let text = try decode(bytes, line: line)
            switch format {
            case .text: return Example(id: String(row), text: text)
            case .tsv:
                let c = columns!
                let fields = text.split(separator: "\t", omittingEmptySubsequences: false)
                guard c.text < fields.count else {
                    throw .missingField(path: path, line: line, field: "sentence", detail: "\(fields.count) fields")
                }
                let label = c.label.flatMap {
                    $0 < fields.count ? String(fields[$0]).trimmingCharacters(in: .whitespaces) : nil
                }
                let idx = c.idx.flatMap {
                    $0 < fields.count ? String(fields[$0]).trimmingCharacters(in: .whitespaces) : nil
                }
                return Example(id: idx ?? String(row), text: String(fields[c.text]), label: label)
            case .jsonl:
                // Foundation's JSONDecoder traps (instead of throwing) on some inputs nested 513 deep; no example
                // needs a tenth of that, so such a line is refused before it reaches the decoder.
                guard nestingDepth(bytes) <= 64 else {
                    throw .badJSON(path: path, line: line, detail: "nested deeper than 64 levels")
                }
                var e: Example
                do { e = try JSONDecoder().decode(Example.self, from: Data(bytes)) } catch let error as DecodingError {
                    throw .badJSON(path: path, line: line, detail: describe(error))
                } catch {
                    throw .badJSON(path: path, line: line, detail: "not a JSON object")
                }
                if e.id.isEmpty { e.id = String(row) }
                return e
            }
        }
    }

    /// The line read ahead, else the next one.
    private mutating func take() throws(DatasetError) -> (bytes: [UInt8], number: Int)? {
        if let p = pending {
            pending = nil
            return p
        }
        return try lines.next()
    }

    /// Every remaining example (for data sets that fit in memory).
    public mutating func readAll(limit: Int? = nil) throws(DatasetError) -> [Example] {
        var out: [Example] = []
        while limit.map({ out.count < $0 }) ?? true, let e = try next() { out.append(e) }
        return out
    }

    /// Whether only blank lines remain (then a blank line ends a text or TSV file instead of being an example).
    private mutating func isAtEnd() throws(DatasetError) -> Bool {
        guard format != .jsonl else { return false }
        guard let following = try lines.next() else { return true }
        pending = following
        return false
    }

    private func decode(_ bytes: [UInt8], line: Int) throws(DatasetError) -> String {
        guard let s = String(validating: bytes, as: UTF8.self) else { throw .invalidUTF8(path: path, line: line) }
        return s
    }

    private func describe(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, _): return "missing `\(key.stringValue)`"
        case .typeMismatch(_, let c), .valueNotFound(_, let c):
            let field = c.codingPath.last?.stringValue ?? "the line"
            return field == "the line" ? "expected a JSON object" : "`\(field)`: \(c.debugDescription)"
        case .dataCorrupted(let c):
            if let field = c.codingPath.last?.stringValue { return "`\(field)`: \(c.debugDescription)" }
            return "invalid JSON"
        @unknown default: return "invalid JSON"
        }
    }
}

/// Lines of a file read in 64 KB blocks, each at most `maxLineBytes` long.
struct LineReader {
    private let handle: FileHandle
    private let path: String
    private let maxLineBytes: Int
    private var buffer: [UInt8] = []
    private var start = 0
    private var eof = false
    private var lineNumber = 0
    /// Where the newline search resumes: bytes before it (from `start`) are known to hold none.
    private var scanned = 0

    /// Opens a regular file, or a pipe (`-` for stdin, `<(…)`, a FIFO): a pipe is opened without waiting for a
    /// writer, so a FIFO nobody writes to reads as empty instead of blocking `open` forever.
    init(path: String, maxLineBytes: Int = Limits.standard.textBytes) throws(DatasetError) {
        self.path = path
        self.maxLineBytes = maxLineBytes
        if path == "-" {
            handle = FileHandle.standardInput
            return
        }
        switch FileKind(path: path) {
        case .missing: throw .unreadable(path: path, reason: "no such file")
        case .directory: throw .unreadable(path: path, reason: "is a directory")
        case .regular, .other: break
        }
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)  // reads wait for data as usual
        handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
    }

    /// The next line's bytes without its "\n" (and "\r") and its 1-based number, or nil at the end. A line over
    /// `maxLineBytes` is read past (never held whole) and reported as `.lineTooLong`; the next call goes on after it.
    mutating func next() throws(DatasetError) -> (bytes: [UInt8], number: Int)? {
        var overlong = false
        while true {
            if let nl = buffer[(start + scanned)...].firstIndex(of: 0x0A) {
                scanned = 0
                if overlong {
                    start = nl + 1
                    lineNumber += 1
                    throw .lineTooLong(path: path, line: lineNumber, limit: maxLineBytes)
                }
                var end = nl
                if end > start && buffer[end - 1] == 0x0D { end -= 1 }
                let out = Array(buffer[start..<end])
                start = nl + 1
                lineNumber += 1
                return (out, lineNumber)
            }
            scanned = buffer.count - start
            if overlong || scanned > maxLineBytes {
                // Too long already: drop what is held and look for the end of the line in the next blocks.
                overlong = true
                buffer.removeAll(keepingCapacity: true)
                (start, scanned) = (0, 0)
                if eof {
                    lineNumber += 1
                    throw .lineTooLong(path: path, line: lineNumber, limit: maxLineBytes)
                }
            }
            if eof {
                guard start < buffer.count else { return nil }
                var end = buffer.count
                if buffer[end - 1] == 0x0D { end -= 1 }
                let out = Array(buffer[start..<end])
                (start, scanned) = (buffer.count, 0)
                lineNumber += 1
                return (out, lineNumber)
            }
            if start > 0 {
                buffer.removeFirst(start)
                start = 0
            }
            let chunk: Data?
            do { chunk = try handle.read(upToCount: 1 << 16) } catch {
                throw .unreadable(path: path, reason: error.localizedDescription)
            }
            if let chunk, !chunk.isEmpty { buffer.append(contentsOf: chunk) } else { eof = true }
        }
    }
}

/// The deepest nesting of arrays and objects in a JSON text (brackets inside strings do not count).
public func nestingDepth(_ bytes: [UInt8]) -> Int {
    var depth = 0, deepest = 0, inString = false, escaped = false
    for b in bytes {
        if inString {
            if escaped { escaped = false } else if b == 0x5C { escaped = true } else if b == 0x22 { inString = false }
            continue
        }
        switch b {
        case 0x22: inString = true
        case 0x5B, 0x7B:
            depth += 1
            deepest = max(deepest, depth)
        case 0x5D, 0x7D: depth -= 1
        default: break
        }
    }
    return deepest
}

extension Example {
    /// Whether the example belongs to shard `index` of `count`: FNV-1a 64 of the id's UTF-8, modulo `count`, so
    /// every worker handed the whole input keeps a disjoint, deterministic part.
    public func inShard(_ index: Int, of count: Int) -> Bool {
        count <= 1 || fnv1a(id) % UInt64(count) == UInt64(index)
    }

    /// The ids an earlier run already wrote to its JSON Lines output (results and error lines alike), so that a
    /// restarted job skips them. A line that does not decode (the last one of a killed job) counts as not done.
    public static func completedIDs(in path: String) throws(DatasetError) -> Set<String> {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        var lines = try LineReader(path: path, maxLineBytes: .max)  // this tool's own output, not an input
        var done = Set<String>()
        struct Line: Decodable { let id: String }
        while let (bytes, _) = try lines.next() {
            guard nestingDepth(bytes) <= 64, let l = try? JSONDecoder().decode(Line.self, from: Data(bytes)) else { continue }
            done.insert(l.id)
        }
        return done
    }
}
