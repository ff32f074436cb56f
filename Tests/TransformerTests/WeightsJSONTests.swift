// JSONValue and JSON syntax errors: booleans stay apart from numbers, and invalid JSON is reported with its position.

import Foundation
import Testing
import Transformer

@Suite("Weights: JSON values and syntax errors")
struct WeightsJSONTests {
    func parse(_ text: String) throws(JSONSyntaxError) -> JSONValue { try JSONValue(parsing: Data(text.utf8)) }

    @Test("Every kind of value decodes to its case; true/false are never numbers")
    func kinds() throws {
        let v = try parse(#"{"a": [true, false, null, 1, 1.5, -2e3, "s", {}], "b": {"c": "\u00e9\/"}}"#)
        #expect(
            v
                == .object([
                    "a": .array([
                        .bool(true), .bool(false), .null, .number(1), .number(1.5), .number(-2000), .string("s"),
                        .object([:]),
                    ]),
                    "b": .object(["c": .string("é/")]),
                ]))
        let a = try #require(v["a"]?.array)
        #expect(a[0].bool == true && a[0].number == nil && a[0].int == nil)
        #expect(a[3].int == 1 && a[3].bool == nil && a[4].int == nil && a[5].int == -2000)
        #expect(a.map { $0.truthy() } == [true, false, false, true, true, true, true, false])
        #expect(a[2].truthy(nilIfNull: true) == nil && a[2].isNull)
        #expect(v["b"]?["c"]?.string == "é/" && v["missing"] == nil && a[6]["x"] == nil)
        #expect(try parse(#"["x", "y"]"#).strings == ["x", "y"] && (try parse(#"["x", 1]"#).strings) == nil)
        #expect(try parse("1.0").int == 1 && (try parse("1e300").int) == nil)
        #expect(try parse(#"[true, "5", 2.5, {"k": null}]"#).jsonText == #"[true, "5", 2.5, {"k": null}]"#)
    }

    @Test("Encoding and decoding again gives the same value")
    func roundTrip() throws {
        let v = try parse(#"{"x": [1, true, "t", null, {"y": -0.25}], "z": false}"#)
        #expect(try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(v)) == v)
    }

    @Test("A syntax error is reported with line, column and byte offset")
    func syntaxErrors() throws {
        let cases: [(String, String)] = [
            (
                #"{"model_type": "bert","#,
                "line 1, column 23, byte 22: unexpected end of the text, expected a string key or '}'"
            ),
            ("{\"a\":\n [1, 2,, 3]}", "line 2, column 8, byte 13: expected a value"),
            (#"{"a": 1} x"#, "line 1, column 10, byte 9: unexpected text after the JSON value"),
            (#"{"é": tru}"#, "line 1, column 7, byte 7: expected true"),  // é is one column, two bytes
            (#"{"a" 1}"#, "line 1, column 6, byte 5: expected ':'"),
            ("[01]", "line 1, column 2, byte 1: number with a leading zero"),
            ("[1e400]", "line 1, column 2, byte 1: number 1e400 is out of range"),
            (#"["\ud800"]"#, #"line 1, column 3, byte 2: \u escape of a lone surrogate"#),
            (#"["\x"]"#, "line 1, column 3, byte 2: invalid escape sequence"),
            ("[\"a\u{1}\"]", "line 1, column 4, byte 3: unescaped control character in a string"),
            ("", "line 1, column 1, byte 0: unexpected end of the text, expected a value"),
            // JSONDecoder itself traps on this one (its error position runs past the end of the text).
            (String(repeating: "[", count: 513), "line 1, column 513, byte 512: nested more than 512 levels deep"),
        ]
        for (text, expected) in cases {
            #expect(throws: JSONSyntaxError.self, "\(text)") { try parse(text) }
            do {
                _ = try parse(text)
            } catch {
                #expect(error.description == expected)
            }
        }
        do {
            _ = try JSONValue(parsing: Data([0x5B, 0x22, 0xFF, 0x22, 0x5D]))
            Issue.record("invalid UTF-8 was accepted")
        } catch {
            #expect(error.description == "line 1, column 3, byte 2: invalid UTF-8 in a string")
        }
        // What JSONDecoder accepts stays accepted: a byte-order mark, a trailing comma, 512 levels.
        #expect(try JSONValue(parsing: Data([0xEF, 0xBB, 0xBF] + Array("[1,]".utf8))) == .array([.number(1)]))
        #expect((try? parse(String(repeating: "[", count: 512) + String(repeating: "]", count: 512))) != nil)
    }
}

@Suite("Weights: JSON files of a Hugging Face directory")
struct WeightsHuggingFaceJSONTests {
    func load(_ dir: URL) -> (Checkpoint?, WeightError?) {
        do { return (try Checkpoint.load(dir), nil) } catch { return (nil, error) }
    }

    @Test("config.json that is not JSON names the position")
    func configPosition() throws {
        let dir = try copyOfMicroHF()
        defer { removeTemporary(dir) }
        let config = dir.appendingPathComponent("config.json")
        try Data("{\"model_type\": \"bert\",\n  \"hidden_size\": 8,,\n}".utf8).write(to: config)
        #expect(
            load(dir).1
                == .badConfig(
                    file: config.path,
                    detail: "not valid JSON (line 2, column 20, byte 42: expected a string key or '}')"))
    }

    @Test("modules.json: invalid JSON names the position; a list of non-objects is refused")
    func modulesJSON() throws {
        let dir = try copyOfMicroHF()
        defer { removeTemporary(dir) }
        let modules = dir.appendingPathComponent("modules.json")
        try Data("[{\"type\": 1}".utf8).write(to: modules)
        #expect(
            load(dir).1
                == .badConfig(
                    file: modules.path,
                    detail:
                        "not valid JSON (line 1, column 13, byte 12: unexpected end of the text, expected ',' or ']')"))
        try Data("[\"sentence_transformers.models.Transformer\"]".utf8).write(to: modules)
        #expect(load(dir).1 == .badConfig(file: modules.path, detail: "expected a JSON list of module objects"))
        // A type that is not a string is no module type Loupe knows.
        try Data("[{\"type\": 1, \"path\": \"\"}]".utf8).write(to: modules)
        #expect(
            load(dir).1
                == .unsupportedFile(
                    file: modules.path,
                    detail: "module type \"?\" is not supported (only Transformer, Pooling, Normalize)"))
        try Data("[{\"type\": \"sentence_transformers.models.Transformer\", \"path\": \"\"}]".utf8).write(to: modules)
        let (cp, e) = load(dir)
        #expect(e == nil && cp?.task == .featureExtraction)
    }

    @Test("A boolean is not a token id, nor a model_max_length")
    func booleansAreNotNumbers() throws {
        let dir = try copyOfMicroHF()
        defer { removeTemporary(dir) }
        try editJSON(dir.appendingPathComponent("tokenizer_config.json")) { $0["model_max_length"] = true }
        let (cp, e) = load(dir)
        #expect(e == nil && cp?.tokenizer.modelMaxLength == 16)  // max_position_embeddings, not 1
        // Without vocab.txt the vocabulary comes from tokenizer.json, where `true` is not id 1.
        try FileManager.default.removeItem(at: dir.appendingPathComponent("vocab.txt"))
        let tokenizer = dir.appendingPathComponent("tokenizer.json")
        #expect(load(dir).1 == nil)
        try editJSON(tokenizer) { json in
            var model = json["model"] as? [String: Any] ?? [:]
            var vocab = model["vocab"] as? [String: Any] ?? [:]
            vocab["[UNK]"] = true
            model["vocab"] = vocab
            json["model"] = model
        }
        #expect(load(dir).1 == .badTokenizer(file: tokenizer.path, detail: "token \"[UNK]\" has invalid id true"))
    }
}
