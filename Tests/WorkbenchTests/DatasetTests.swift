// The example reader: text, GLUE TSV and JSON Lines into Example {id, text, label?}, strict, streamed.
import Foundation
import Testing
import Workbench

func temporaryFile(_ name: String, _ bytes: [UInt8]) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-workbench-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let url = dir.appendingPathComponent(name)
    try Data(bytes).write(to: url)
    return url.path
}

func temporaryFile(_ name: String, _ text: String) throws -> String { try temporaryFile(name, Array(text.utf8)) }

func read(_ path: String, format: DatasetFormat? = nil) throws(DatasetError) -> [Example] {
    var r = try ExampleReader(path: path, format: format)
    return try r.readAll()
}

func datasetError(_ body: () throws(DatasetError) -> Void) -> DatasetError? {
    do { try body() } catch { return error }
    return nil
}

@Suite struct DatasetTests {
    @Test func textFileIdsAreLineNumbers() throws {
        let p = try temporaryFile("texts.txt", "first\r\nsecond\n\nfourth\n\n")
        let e = try read(p)
        #expect(e.map(\.id) == ["0", "1", "2", "3"])
        #expect(e.map(\.text) == ["first", "second", "", "fourth"])
        #expect(e.allSatisfy { $0.label == nil })
    }

    @Test func glueTSVUsesIdxAndLabel() throws {
        let p = try temporaryFile("dev.tsv", "idx\tsentence\tlabel\n7\ta fine film\t1\n9\ta dull one\t0\n")
        #expect(
            try read(p) == [
                Example(id: "7", text: "a fine film", label: "1"), Example(id: "9", text: "a dull one", label: "0"),
            ])
        let noIdx = try temporaryFile("train.tsv", "sentence\tlabel\nyes\t1\nno\t0\n")
        #expect(try read(noIdx).map(\.id) == ["0", "1"])
        let bad = try temporaryFile("bad.tsv", "text\tlabel\nyes\t1\n")
        #expect(
            datasetError { () throws(DatasetError) in _ = try read(bad) }?.description.hasPrefix(
                "\(bad):1: a TSV needs a `sentence` column") == true)
    }

    @Test func jsonLinesTakeIdsAndLabelsAsStringsOrNumbers() throws {
        let p = try temporaryFile(
            "data.jsonl",
            "{\"id\": 12, \"text\": \"naïve\", \"label\": 1}\n\n{\"id\": \"a-7\", \"text\": \"b\", \"label\": \"positive\"}\n{\"text\": \"c\"}\n"
        )
        let e = try read(p)
        #expect(
            e == [
                Example(id: "12", text: "naïve", label: "1"), Example(id: "a-7", text: "b", label: "positive"),
                Example(id: "2", text: "c"),
            ])
    }

    @Test func badLinesNameFileAndLine() throws {
        let utf8 = try temporaryFile("bad.txt", Array("ok\n".utf8) + [0x62, 0xFF, 0x0A])
        #expect(datasetError { () throws(DatasetError) in _ = try read(utf8) } == .invalidUTF8(path: utf8, line: 2))
        let json = try temporaryFile("bad.jsonl", "{\"text\": \"a\"}\n{\"text\": \"b\"\n")
        #expect(
            datasetError { () throws(DatasetError) in _ = try read(json) }?.description == "\(json):2: invalid JSON")
        let missing = try temporaryFile("missing.jsonl", "{\"id\": 1}\n")
        #expect(
            datasetError { () throws(DatasetError) in _ = try read(missing) }?.description
                == "\(missing):1: missing `text`")
        let notObject = try temporaryFile("array.jsonl", "[1, 2]\n")
        #expect(
            datasetError { () throws(DatasetError) in _ = try read(notObject) }?.description
                == "\(notObject):1: expected a JSON object")
        // JSONDecoder traps on some 513-deep inputs; the reader refuses deep nesting first.
        let deep = try temporaryFile("deep.jsonl", "{\"text\": \"a\"}\n" + String(repeating: "[", count: 513) + "\n")
        #expect(
            datasetError { () throws(DatasetError) in _ = try read(deep) }?.description
                == "\(deep):2: nested deeper than 64 levels")
        #expect(
            datasetError { () throws(DatasetError) in _ = try read("/no/such/file.txt") }
                == .unreadable(path: "/no/such/file.txt", reason: "no such file"))
        let empty = try temporaryFile("empty.txt", "")
        #expect(datasetError { () throws(DatasetError) in _ = try read(empty) } == .empty(path: empty))
    }

    /// A file far larger than the reader's 64 KB block is read line by line, and a limit stops early.
    @Test func readsLargeFilesInBatches() throws {
        var text = ""
        for i in 0..<50_000 { text += "{\"id\": \"r\(i)\", \"text\": \"sentence number \(i)\"}\n" }
        let p = try temporaryFile("big.jsonl", text)
        var reader = try ExampleReader(path: p)
        let first = try reader.readAll(limit: 1000)
        #expect(first.count == 1000 && first.last?.id == "r999" && reader.line == 1000)
        var n = first.count
        while let e = try reader.next() {
            n += 1
            if n == 50_000 { #expect(e.text == "sentence number 49999") }
        }
        #expect(n == 50_000)
    }
}
