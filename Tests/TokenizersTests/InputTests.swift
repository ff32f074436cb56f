// Bad and extreme inputs: typed errors that name file and line, in-memory constructors, 1 MB lines.
import Foundation
import Testing
import Tokenizers

/// A scratch directory for files written by one test.
func temporaryFile(_ name: String, _ bytes: [UInt8]) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-tokenizers-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let url = dir.appendingPathComponent(name)
    try Data(bytes).write(to: url)
    return url.path
}

func temporaryFile(_ name: String, _ text: String) throws -> String { try temporaryFile(name, Array(text.utf8)) }

/// Runs `body`, expecting it to throw exactly `expected`, and checks the message mentions `mentions`.
func expectError(
    _ expected: TokenizerError, mentions: [String], _ body: () throws(TokenizerError) -> Void,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    do {
        try body()
        Issue.record("expected \(expected) but nothing was thrown", sourceLocation: sourceLocation)
    } catch {
        #expect(error == expected, sourceLocation: sourceLocation)
        let message = error.description
        #expect(!message.contains("\n"), "message is one line: \(message)", sourceLocation: sourceLocation)
        for m in mentions { #expect(message.contains(m), "\(message) mentions \(m)", sourceLocation: sourceLocation) }
    }
}

/// A JSON string literal; non-ASCII as \\u escapes (surrogate pairs above the BMP), as Python's json.dumps.
func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.utf16 {
        switch u {
        case 0x22: out += "\\\""
        case 0x5C: out += "\\\\"
        case 0x20..<0x7F: out.unicodeScalars.append(Unicode.Scalar(UInt8(u)))
        default: out += "\\u" + String(repeating: "0", count: 4 - String(u, radix: 16).count) + String(u, radix: 16)
        }
    }
    return out + "\""
}

/// A tiny byte-level vocabulary: the 256 byte symbols plus whatever `extra` holds.
func byteVocabulary(_ extra: [String] = []) -> [String] {
    var symbols = (0..<256).map { b -> String in
        let scalar: UInt32
        if (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b) {
            scalar = UInt32(b)
        } else {
            scalar =
                256
                + UInt32(
                    (0..<b).filter {
                        !((33...126).contains($0) || (161...172).contains($0) || (174...255).contains($0))
                    }.count)
        }
        return String(Character(Unicode.Scalar(scalar)!))
    }
    symbols += extra
    return symbols
}

@Suite struct InputTests {
    static let miniBert = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "dog", "##s", "a", "##b"]

    @Test func invalidUTF8NamesFileAndLine() throws {
        let path = try temporaryFile(
            "vocab.txt", Array("[PAD]\n[UNK]\nok\n".utf8) + [0x66, 0xC3, 0x28, 0x0A] + Array("x\n".utf8))
        expectError(.invalidUTF8(path: path, line: 4), mentions: [path, ":4:", "invalid UTF-8"]) {
            () throws(TokenizerError) in
            _ = try TextFile.readLines(path)
        }
        expectError(.invalidUTF8(path: path, line: 4), mentions: [path, ":4:"]) { () throws(TokenizerError) in
            _ = try BertTokenizer(vocabularyFile: path)
        }
        // Truncated sequences, overlong encodings and surrogates encoded in UTF-8 are all invalid.
        for bad: [UInt8] in [[0xE2, 0x82], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xFF]] {
            let p = try temporaryFile("bad.txt", Array("a\n".utf8) + bad)
            expectError(.invalidUTF8(path: p, line: 2), mentions: [":2:"]) { () throws(TokenizerError) in
                _ = try TextFile.readLines(p)
            }
        }
    }

    @Test func textFileLinesAndMissingFiles() throws {
        let path = try temporaryFile("lines.txt", "a\r\nb\n\nc")
        #expect(try TextFile.readLines(path) == ["a", "b", "", "c"])
        #expect(try TextFile.readLines(try temporaryFile("empty.txt", "")) == [])
        let missing = "/nonexistent/dir/vocab.txt"
        expectError(.unreadableFile(path: missing, reason: "no such file"), mentions: [missing, "no such file"]) {
            () throws(TokenizerError) in
            _ = try BertTokenizer(vocabularyFile: missing)
        }
    }

    @Test func bertVocabularyErrors() throws {
        let noUNK = try temporaryFile("vocab.txt", "[PAD]\n[CLS]\n[SEP]\nthe\n")
        expectError(.missingToken(source: noUNK, token: "[UNK]"), mentions: [noUNK, "[UNK]"]) {
            () throws(TokenizerError) in
            _ = try BertTokenizer(vocabularyFile: noUNK)
        }
        let dup = try temporaryFile("vocab.txt", "[UNK]\n[CLS]\n[SEP]\nthe\ndog\nthe\n")
        expectError(
            .duplicateToken(source: dup, line: 6, token: "the", firstLine: 4),
            mentions: [dup, ":6:", "\"the\"", "line 4"]
        ) { () throws(TokenizerError) in
            _ = try BertTokenizer(vocabularyFile: dup)
        }
        let empty = try temporaryFile("vocab.txt", "[UNK]\n[CLS]\n\n[SEP]\n")
        expectError(.emptyToken(source: empty, line: 3), mentions: [empty, ":3:", "empty token"]) {
            () throws(TokenizerError) in
            _ = try BertTokenizer(vocabularyFile: empty)
        }
        expectError(.missingToken(source: "<in-memory vocabulary>", token: "[SEP]"), mentions: ["in-memory", "[SEP]"]) {
            () throws(TokenizerError) in
            _ = try BertTokenizer(vocabulary: ["[UNK]", "[CLS]"])
        }
    }

    @Test func gpt2MergesAndJSONErrors() throws {
        let vocab = byteVocabulary(["th", "the"])
        let json =
            "{" + vocab.enumerated().map { "\(jsonString($0.element)): \($0.offset)" }.joined(separator: ", ") + "}"
        let vocabPath = try temporaryFile("vocab.json", json)
        let good = try temporaryFile("merges.txt", "#version: 0.2\nt h\nth e\n")
        let t = try GPT2Tokenizer(vocabularyFile: vocabPath, mergesFile: good)
        #expect(t.encode("the").tokens == ["the"])

        let malformed = try temporaryFile("merges.txt", "#version: 0.2\nt h\nthe\n")
        expectError(.malformedMerge(source: malformed, line: 3, text: "the"), mentions: [malformed, ":3:", "\"the\""]) {
            () throws(TokenizerError) in
            _ = try GPT2Tokenizer(vocabularyFile: vocabPath, mergesFile: malformed)
        }
        let twoSpaces = try temporaryFile("merges.txt", "t  h\n")
        expectError(.malformedMerge(source: twoSpaces, line: 1, text: "t  h"), mentions: [":1:"]) {
            () throws(TokenizerError) in
            _ = try GPT2Tokenizer(vocabularyFile: vocabPath, mergesFile: twoSpaces)
        }
        let unknown = try temporaryFile("merges.txt", "t h\nth x\n")
        expectError(
            .mergeTokenNotInVocabulary(source: unknown, line: 2, token: "thx"), mentions: [unknown, ":2:", "\"thx\""]
        ) { () throws(TokenizerError) in
            _ = try GPT2Tokenizer(vocabularyFile: vocabPath, mergesFile: unknown)
        }
        let badJSON = try temporaryFile("vocab.json", "{\"a\": 0,\n \"b\" 1}")
        expectError(
            .malformedJSON(path: badJSON, line: 2, column: 6, reason: "expected ':'"),
            mentions: [badJSON, ":2:6:", "':'"]
        ) { () throws(TokenizerError) in
            _ = try GPT2Tokenizer(vocabularyFile: badJSON, mergesFile: good)
        }
        let gap = try temporaryFile("vocab.json", "{\"a\": 0, \"b\": 2}")
        expectError(.invalidTokenID(source: gap, token: "b", id: 2), mentions: [gap, "\"b\"", "id 2"]) {
            () throws(TokenizerError) in
            _ = try GPT2Tokenizer(vocabularyFile: gap, mergesFile: good)
        }
        let noBytes = try temporaryFile("vocab.json", "{\"a\": 0}")
        expectError(.missingToken(source: noBytes, token: "Ā"), mentions: [noBytes, "\"Ā\""]) {
            () throws(TokenizerError) in
            _ = try GPT2Tokenizer(vocabularyFile: noBytes, mergesFile: good)
        }
        expectError(
            .malformedMerge(source: "<in-memory merges>", line: 2, text: ""), mentions: ["in-memory merges", ":2:"]
        ) { () throws(TokenizerError) in
            _ = try GPT2Tokenizer(vocabulary: vocab, merges: ["t h", ""])
        }
    }

    @Test func runtimeErrors() throws {
        let bert = try BertTokenizer(vocabulary: Self.miniBert)
        expectError(.secondSequenceNotProvided, mentions: ["second sequence"]) { () throws(TokenizerError) in
            _ = try bert.encode("the dog", pair: nil, truncation: Truncation(maxLength: 3, strategy: .onlySecond))
        }
        expectError(.sequenceTooShort(maxLength: 1), mentions: ["too short", "1"]) { () throws(TokenizerError) in
            _ = try bert.encode(
                "the", pair: "the dog the dog", truncation: Truncation(maxLength: 4, strategy: .onlyFirst))
        }
        expectError(.pairCountMismatch(texts: 2, pairs: 1), mentions: ["2 texts", "1 pairs"]) {
            () throws(TokenizerError) in
            _ = try bert.encodeBatch(["a", "b"], pairs: ["c"])
        }
        let gpt2 = try GPT2Tokenizer(vocabulary: byteVocabulary(), merges: [])
        expectError(.missingPaddingToken, mentions: ["padding"]) { () throws(TokenizerError) in
            _ = try gpt2.encodeBatch(["a", "bb"], padding: .longest)
        }
    }

    @Test func inMemoryConstructorsWork() throws {
        let bert = try BertTokenizer(vocabulary: Self.miniBert)
        let e = bert.encode("The dogs, ab!")
        #expect(e.tokens == ["[CLS]", "the", "dog", "##s", "[UNK]", "a", "##b", "[UNK]", "[SEP]"])
        #expect(e.wordIDs == [nil, 0, 1, 1, 2, 3, 3, 4, nil])
        let padded = try bert.encodeBatch(["the", "the dog dog"], padding: .toLength(6))
        #expect(padded.map(\.ids) == [[2, 5, 3, 0, 0, 0], [2, 5, 6, 6, 3, 0]])
        #expect(padded.map(\.attentionMask) == [[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 0]])
        #expect(padded[0].specialTokensMask == [1, 0, 1, 1, 1, 1])

        // Canonically equivalent but different entries stay different (Swift String == would merge them).
        let nfc = "\u{E9}", nfd = "e\u{301}"
        let exact = try BertTokenizer(
            vocabulary: ["[UNK]", "[CLS]", "[SEP]", nfc, nfd], options: .init(doLowerCase: false))
        #expect(exact.convertTokensToIds([nfc, nfd]) == [3, 4])
        #expect(exact.encode(nfc + " " + nfd, addSpecialTokens: false).ids == [3, 4])

        let gpt2 = try GPT2Tokenizer(
            vocabulary: byteVocabulary(["Ġt", "Ġth"]), merges: ["Ġ t", "Ġt h"], options: .init(specialTokens: ["<s>"]))
        let g = gpt2.encode("a th<s>")
        #expect(g.tokens == ["a", "Ġth", "<s>"])
        #expect(g.ids == [97, 257, 258])
        #expect(gpt2.vocabularySize == 259)
        #expect(gpt2.decode(g.ids) == "a th<s>" && gpt2.decode(g.ids, skipSpecialTokens: true) == "a th")
    }

    @Test func emptyInputs() throws {
        let bert = try Reference.bert(), gpt2 = try Reference.gpt2()
        #expect(bert.encode("").tokens == ["[CLS]", "[SEP]"])
        #expect(bert.encode("", addSpecialTokens: false).count == 0)
        #expect(bert.encode(" \u{0}\u{200B} \n").tokens == ["[CLS]", "[SEP]"])
        #expect(gpt2.encode("").count == 0)
        #expect(gpt2.decode([]) == "" && bert.decode([]) == "")
        #expect(try bert.encodeBatch([]).isEmpty)
    }

    /// 1 MB single lines: linear time, no recursion, no crash. Word over 100 chars → one [UNK]; GPT-2 BPE
    /// of a 1 MB word is O(n log n) and round-trips.
    @Test func megabyteLines() throws {
        let bert = try Reference.bert(), gpt2 = try Reference.gpt2()
        let n = 1 << 20
        let word = String(repeating: "a", count: n)
        let b = bert.encode(word)
        #expect(b.tokens == ["[CLS]", "[UNK]", "[SEP]"])
        #expect(b.offsets[1] == Offset(0, n))
        let g = gpt2.encode(word)
        #expect(gpt2.decode(g.ids) == word)
        #expect(g.offsets.first?.start == 0 && g.offsets.last?.end == n)
        let sentence = String(repeating: "the dog, ", count: n / 9)
        #expect(bert.encode(sentence).count == 3 * (n / 9) + 2)
        #expect(gpt2.decode(gpt2.encode(sentence).ids) == sentence)
        let emoji = String(repeating: "🥰", count: n / 4)
        #expect(gpt2.decode(gpt2.encode(emoji).ids) == emoji)
        #expect(bert.encode(emoji).count == 3)
        let spaces = String(repeating: " ", count: n) + "x"
        #expect(gpt2.encode(spaces).tokens.suffix(1) == ["Ġx"])
    }
}

@Suite struct ConcurrencyTests {
    /// One tokenizer shared by several tasks (the BPE cache is behind a lock) gives the same ids as
    /// encoding on one thread.
    @Test func sharedTokenizersAreThreadSafe() async throws {
        let bert = try Reference.bert(), gpt2 = try Reference.gpt2()
        let sentences = Array(try sst2Sentences("dev").prefix(400))
        let expected = sentences.map { (bert.encode($0).ids, gpt2.encode($0).ids) }
        let fresh = try GPT2Tokenizer(
            vocabularyFile: Paths.shared("vocab/gpt2-encoder.json"),
            mergesFile: Paths.shared("vocab/gpt2-vocab.bpe"), options: .init(cacheCapacity: 64))
        let results = await withTaskGroup(of: [Bool].self) { group in
            for k in 0..<4 {
                group.addTask {
                    let order = k % 2 == 0 ? Array(sentences.indices) : Array(sentences.indices.reversed())
                    return order.map { i in
                        bert.encode(sentences[i]).ids == expected[i].0 && gpt2.encode(sentences[i]).ids == expected[i].1
                            && fresh.encode(sentences[i]).ids == expected[i].1
                    }
                }
            }
            var all: [Bool] = []
            for await r in group { all += r }
            return all
        }
        #expect(results.count == 4 * sentences.count && results.allSatisfy { $0 })
    }
}
