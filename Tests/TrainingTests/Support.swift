// Shared helpers of the training tests: temporary directories, a small vocabulary and synthetic data.
import Foundation
import Tensor
import Testing
import Training
import Transformer

/// Tests/Fixtures, found from this file's path.
let fixturesDirectory = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

/// A fresh empty directory under the system temporary directory.
func temporaryDirectory(_ name: String = #function) -> URL {
    let safe = name.filter { $0.isLetter || $0.isNumber }
    let url = FileManager.default.temporaryDirectory.appendingPathComponent(
        "loupe-training-\(safe)-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

func write(_ text: String, to url: URL) {
    try! Data(text.utf8).write(to: url)
}

/// The 1,688-token WordPiece vocabulary of the tiny fixtures, written as a vocab.txt.
func smallVocabulary(in dir: URL) throws -> URL {
    let c = try Checkpoint.load(fixturesDirectory.appendingPathComponent("bert_tiny_cls.h5"))
    let url = dir.appendingPathComponent("vocab.txt")
    write(c.tokenizer.vocab.joined(separator: "\n") + "\n", to: url)
    return url
}

/// `count` sentences of 3–8 words drawn from common English words, with labels drawn independently
/// (nothing to learn but the examples themselves).
func randomExamples(_ count: Int, seed: UInt64) -> [LabeledExample] {
    let words = """
        the a film movie story is was not very good bad great dull funny sad long short it this that and but
        with of to in for on at as by an be are has have its one all more than so too much some just like
        """.split(whereSeparator: \.isWhitespace).map(String.init)
    var rng = RandomGenerator(seed: seed)
    return (0..<count).map { _ in
        let n = 3 + Int(rng.next() % 6)
        let text = (0..<n).map { _ in words[Int(rng.next() % UInt64(words.count))] }.joined(separator: " ")
        return LabeledExample(text: text, label: Int(rng.next() % 2))
    }
}

/// Every parameter of a BERT by name.
func parameters(_ bert: Bert) -> [String: Tensor] {
    var b = bert
    var out: [String: Tensor] = [:]
    b.visitParameters { name, t in out[name] = t }
    return out
}

/// Whether two tensors hold the same bits.
func sameBits(_ a: Tensor, _ b: Tensor) -> Bool {
    a.shape == b.shape && a.scalars.map(\.bitPattern) == b.scalars.map(\.bitPattern)
}

/// The BERT of a checkpoint.
func bert(_ c: Checkpoint) throws -> Bert {
    guard case .bert(let b) = try LoadedModel(c).network else { throw TrainingError.model("not BERT") }
    return b
}
