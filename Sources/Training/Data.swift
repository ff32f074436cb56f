// GLUE-format TSV data (SST-2): finding the data directory, strict reading, tokenising, length-grouped batches.
import Foundation
import Tensor
import Tokenizers

/// One labelled sentence.
public struct LabeledExample: Sendable, Equatable {
    public var text: String
    public var label: Int
    public init(text: String, label: Int) {
        self.text = text
        self.label = label
    }
}

/// GLUE single-sentence classification files: a header naming a `sentence` and a `label` column, then one
/// example per line, fields separated by TAB (`sentence<TAB>label` for SST-2).
public enum GLUEData {
    /// Reads `file` strictly: a missing file, an empty file, a header without `sentence` or `label`, a row with
    /// too few fields, or a label outside `0..<classes` is an error naming the file and line; nothing is
    /// skipped silently. Text must be UTF-8.
    public static func read(_ file: String, classes: Int = 2) throws(TrainingError) -> [LabeledExample] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: file, isDirectory: &isDir) else {
            throw .unreadable(path: file, detail: "no such file")
        }
        if isDir.boolValue { throw .unreadable(path: file, detail: "is a directory, expected a TSV file") }
        let lines: [String]
        do { lines = try TextFile.readLines(file) } catch {
            throw .unreadable(path: file, detail: FieldText(error.description))
        }
        guard let header = lines.first, !header.isEmpty else {
            throw .noExamples(file: file)
        }
        let columns = header.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        guard let textColumn = columns.firstIndex(of: "sentence") else {
            throw .badHeader(file: file, detail: "no `sentence` column in the header \(columns)")
        }
        guard let labelColumn = columns.firstIndex(of: "label") else {
            throw .badHeader(file: file, detail: "no `label` column in the header \(columns)")
        }
        var examples: [LabeledExample] = []
        examples.reserveCapacity(lines.count)
        for (i, line) in lines.enumerated().dropFirst() {
            if line.isEmpty && i == lines.count - 1 { continue }  // a blank last line
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count > max(textColumn, labelColumn) else {
                throw .badRow(
                    file: file, line: i + 1,
                    detail:
                        "\(fields.count) field\(fields.count == 1 ? "" : "s"), expected \(columns.count) \(columns); is the label column missing?"
                )
            }
            let raw = fields[labelColumn].trimmingCharacters(in: .whitespaces)
            guard let label = Int(raw), (0..<classes).contains(label) else {
                throw .badRow(
                    file: file, line: i + 1,
                    detail: "label \(String(reflecting: String(fields[labelColumn]))) is not one of 0...\(classes - 1)")
            }
            examples.append(LabeledExample(text: String(fields[textColumn]), label: label))
        }
        if examples.isEmpty { throw .noExamples(file: file) }
        return examples
    }

    /// The data directory: `explicit` when given; else `$LOUPE_DATA_DIR/sst2`; else `../shared/data/sst2`
    /// relative to the working directory. A directory counts when it holds train.tsv.
    public static func locate(
        explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
        workingDirectory: String = FileManager.default.currentDirectoryPath
    ) throws(TrainingError) -> URL {
        if let explicit {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: explicit, isDirectory: &isDir) else {
                throw .unreadable(
                    path: explicit,
                    detail: "no such directory (\(field: "data") wants a directory with train.tsv and dev.tsv)")
            }
            guard isDir.boolValue else {
                throw .unreadable(
                    path: explicit,
                    detail: "not a directory (\(field: "data") wants a directory with train.tsv and dev.tsv)")
            }
            return URL(fileURLWithPath: explicit)
        }
        var candidates: [String] = []
        if let env = environment["LOUPE_DATA_DIR"], !env.isEmpty { candidates.append(env + "/sst2") }
        candidates.append(
            URL(fileURLWithPath: workingDirectory).appendingPathComponent("../shared/data/sst2").standardized.path)
        for c in candidates where FileManager.default.fileExists(atPath: c + "/train.tsv") {
            return URL(fileURLWithPath: c)
        }
        throw .dataNotFound(searched: candidates)
    }

    /// The bert-base-uncased WordPiece vocabulary: `$LOUPE_DATA_DIR/vocab/bert-base-uncased-vocab.txt`, else
    /// `../shared/data/vocab/bert-base-uncased-vocab.txt`; nil when neither exists.
    public static func defaultVocabulary(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        workingDirectory: String = FileManager.default.currentDirectoryPath
    ) -> URL? {
        var candidates: [String] = []
        if let env = environment["LOUPE_DATA_DIR"], !env.isEmpty { candidates.append(env + "/vocab") }
        candidates.append(
            URL(fileURLWithPath: workingDirectory).appendingPathComponent("../shared/data/vocab").standardized.path)
        for c in candidates where FileManager.default.fileExists(atPath: c + "/bert-base-uncased-vocab.txt") {
            return URL(fileURLWithPath: c + "/bert-base-uncased-vocab.txt")
        }
        return nil
    }
}

/// Examples tokenised once: ids with [CLS]/[SEP], cut to the maximum length (HF `truncation=True`).
public struct EncodedDataset: Sendable {
    public let ids: [[Int]]
    public let labels: [Int]
    public var count: Int { labels.count }

    public init(_ examples: [LabeledExample], tokenizer: any Tokenizer, maxLength: Int) {
        let truncation = Truncation(maxLength: maxLength)
        ids = examples.map { e in
            // A single sequence with maxLength ≥ 2 always fits [CLS] text [SEP]; fall back to cutting by hand.
            let enc =
                (try? tokenizer.encode(e.text, pair: nil, addSpecialTokens: true, truncation: truncation))
                ?? tokenizer.encode(e.text, addSpecialTokens: true)
            return Array(enc.ids.prefix(maxLength))
        }
        labels = examples.map(\.label)
    }

    /// The rows `indices` padded on the right to their longest member ("dynamic padding", transformers
    /// `DataCollatorWithPadding`): ids, attention mask and labels.
    public func batch(_ indices: [Int], padID: Int) -> (ids: [Int], mask: [Int], labels: [Int], length: Int) {
        let length = max(1, indices.map { ids[$0].count }.max() ?? 1)
        var out = [Int](repeating: padID, count: indices.count * length)
        var mask = [Int](repeating: 0, count: indices.count * length)
        for (r, i) in indices.enumerated() {
            for (t, id) in ids[i].enumerated() {
                out[r * length + t] = id
                mask[r * length + t] = 1
            }
        }
        return (out, mask, indices.map { labels[$0] }, length)
    }
}

/// The order of training batches in one epoch, as transformers' `LengthGroupedSampler` (`group_by_length`):
/// a seeded random permutation is cut into mega-batches of 50 batches, each mega-batch is sorted by length
/// (longest first) and cut into batches, so a batch holds sentences of similar length and padding is small,
/// while the order still changes every epoch. The mega-batch holding the longest example goes first, so an
/// out-of-memory batch shows up at once (as in transformers). The order depends only on (seed, epoch).
public enum BatchPlan {
    public static let megaBatchFactor = 50

    public static func batches(lengths: [Int], batchSize: Int, seed: UInt64, epoch: Int) -> [[Int]] {
        var rng = RandomGenerator(seed: seed &+ 0x5851_F42D_4C95_7F2D &* UInt64(epoch + 1))
        var order = Array(lengths.indices)
        // Fisher–Yates with the documented generator (not Swift's unspecified shuffle algorithm).
        if order.count > 1 {
            for i in stride(from: order.count - 1, to: 0, by: -1) {
                let j = Int(rng.next() % UInt64(i + 1))
                order.swapAt(i, j)
            }
        }
        let mega = batchSize * megaBatchFactor
        var megaBatches: [[Int]] = stride(from: 0, to: order.count, by: mega).map {
            // Longest first; equal lengths keep their permuted order (Python's stable `sorted(reverse=True)`).
            order[$0..<min($0 + mega, order.count)].enumerated()
                .sorted { (lengths[$0.element], $1.offset) > (lengths[$1.element], $0.offset) }.map(\.element)
        }
        if let longest = megaBatches.indices.max(by: { lengths[megaBatches[$0][0]] < lengths[megaBatches[$1][0]] }) {
            megaBatches.swapAt(0, longest)
        }
        return megaBatches.flatMap { m in
            stride(from: 0, to: m.count, by: batchSize).map { Array(m[$0..<min($0 + batchSize, m.count)]) }
        }
    }
}
