// The streaming worker (`--format jsonl`): one line out per line in, in order, errors as lines, shards and resume.
import Foundation
import Testing

func objects(_ text: String) throws -> [[String: Any]] {
    try text.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:] }
}

@Suite struct WorkerTests {
    let model = "Tests/Fixtures/bert_tiny_cls.h5"
    /// Good records around broken JSON, a record without text, a blank line and invalid UTF-8.
    let records = Data(
        """
        {"id": "a", "text": "a fine film"}
        {"id": "b", "text": "broken
        {"id": "c"}

        {"id": 7, "text": "a dull film"}

        """.utf8) + Data([0xFF, 0xFE, 0x0A]) + Data("{\"id\": \"z\", \"text\": \"the last one\"}\n".utf8)

    @Test func oneLinePerRecordInOrderWithErrorLines() throws {
        let r = try run(["predict", "--model", model, "--input", "-", "--format", "jsonl"], stdin: records)
        #expect(r.status == 1)  // some records failed
        let lines = try objects(r.stdout)
        #expect(lines.map { $0["id"] as? String } == ["a", "1", "2", "7", "4", "z"])
        #expect(lines.map { $0["error"] != nil } == [false, true, true, false, true, false])
        #expect((lines[2]["error"] as? [String: Any])?["message"] as? String == "-:3: missing `text`")
        // The results are the objects `--format json` prints for the same texts (batched with other records, so
        // padded differently: equal to float32 rounding).
        let plain = try run(
            ["predict", "--model", model, "--text", "a fine film", "--text", "a dull film", "--format", "json"], stdin: Data())
        let expected = try objects(plain.stdout)
        for (line, reference) in [(lines[0], expected[0]), (lines[3], expected[1])] {
            #expect(same(line, reference) == nil, "\(same(line, reference) ?? "")")
        }
    }

    /// A repeated id keeps each record's own result.
    @Test func repeatedIDsKeepTheirOwnLines() throws {
        let input = Data("{\"id\": \"x\", \"text\": \"good\"}\n{\"id\": \"x\", \"text\": \"a much longer text here\"}\n".utf8)
        let r = try run(["tokenize", "--model", model, "--input", "-", "--format", "jsonl"], stdin: input)
        let lines = try objects(r.stdout)
        #expect(lines.count == 2 && (lines[0]["ids"] as? [Int])?.count == 3 && (lines[1]["ids"] as? [Int])?.count == 10)
    }

    @Test func strictStopsAtTheFirstBadRecord() throws {
        let r = try run(["explain", "--model", model, "--method", "grad-input", "--input", "-", "--format", "jsonl", "--strict"], stdin: records)
        #expect(r.status == 1)
        #expect(try objects(r.stdout).map { $0["id"] as? String } == ["a"])
        #expect(r.stderr.contains("-:2: invalid JSON"))
    }

    /// Shards split the records disjointly and together cover them; resume skips ids already written.
    @Test func shardsAndResume() throws {
        var ids: [[String]] = []
        for i in 0..<3 {
            let r = try run(["tokenize", "--model", model, "--input", "-", "--format", "jsonl", "--shard", "\(i)/3"], stdin: records)
            ids.append(try objects(r.stdout).compactMap { $0["id"] as? String })
        }
        let all = ids.flatMap { $0 }
        #expect(all.sorted() == ["1", "2", "4", "7", "a", "z"] && Set(all).count == all.count)
        let earlier = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-resume-\(UUID().uuidString).jsonl")
        try Data("{\"id\":\"a\"}\n{\"id\":\"1\"}\n{\"id\":\"7\",\"tru".utf8).write(to: earlier)  // the last line cut by a kill
        let r = try run(["tokenize", "--model", model, "--input", "-", "--format", "jsonl", "--resume", earlier.path], stdin: records)
        #expect(try objects(r.stdout).map { $0["id"] as? String } == ["2", "7", "4", "z"])
        let bad = try run(["tokenize", "--model", model, "--input", "-", "--format", "jsonl", "--shard", "3/3"], stdin: records)
        #expect(bad.status != 0 && bad.stderr.contains("--shard wants I/N"))
    }
}
