// Broken inputs: each bad fixture, and broken variants of bert_micro_hf built on the fly, gives its typed error.

import Foundation
import Tensor
import Testing
import Transformer

@Suite("Weights: broken inputs give typed errors")
struct WeightsErrorTests {
    /// Loads `url`, requires a WeightError, checks its description is one line naming the file and `mentions`.
    func failure(_ url: URL, mentions: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) -> WeightError?
    {
        let e = weightError { () throws(WeightError) in try Checkpoint.load(url) }
        guard let e else {
            Issue.record("\(url.lastPathComponent) loaded without error", sourceLocation: sourceLocation)
            return nil
        }
        let text = e.description
        #expect(!text.contains("\n"), sourceLocation: sourceLocation)
        #expect(text.hasPrefix(e.file), sourceLocation: sourceLocation)
        #expect(text.contains(url.lastPathComponent), "\(text)", sourceLocation: sourceLocation)
        for m in mentions { #expect(text.contains(m), "\(text) should mention \(m)", sourceLocation: sourceLocation) }
        return e
    }

    @Test("bad/truncated.h5: not a readable HDF5 file")
    func truncatedHDF5() {
        let url = fixture("bad/truncated.h5")
        let e = failure(url, mentions: ["not a readable HDF5 file", "truncated"])
        guard case .truncated(let file, _)? = e else { return #expect(Bool(false), "\(String(describing: e))") }
        #expect(file == url.path)
    }

    @Test("bad/not_hdf5.h5: not an HDF5 file")
    func notHDF5() {
        let url = fixture("bad/not_hdf5.h5")
        #expect(failure(url, mentions: ["not an HDF5 file"]) == .notHDF5(file: url.path))
    }

    @Test("bad/format_notloupe.h5: not a Loupe weight file")
    func notLoupe() {
        let url = fixture("bad/format_notloupe.h5")
        #expect(
            failure(url, mentions: ["not a Loupe weight file", "notloupe"])
                == .notLoupe(file: url.path, found: "notloupe"))
    }

    @Test("bad/version3.h5: unsupported format version 3")
    func version3() {
        let url = fixture("bad/version3.h5")
        #expect(
            failure(url, mentions: ["unsupported format version 3"]) == .unsupportedVersion(file: url.path, found: 3))
    }

    @Test("bad/wrong_shape.h5: shape mismatch naming the tensor and both shapes")
    func wrongShape() {
        let url = fixture("bad/wrong_shape.h5")
        let key = "bert.encoder.layer.0.intermediate.dense.weight"
        #expect(
            failure(url, mentions: [key, "[8, 16]", "[16, 8]"])
                == .shapeMismatch(file: url.path, key: key, expected: [16, 8], found: [8, 16]))
    }

    @Test("bad/missing_tensor.h5: missing tensor naming it")
    func missingTensor() {
        let url = fixture("bad/missing_tensor.h5")
        let key = "bert.encoder.layer.0.attention.output.dense.weight"
        #expect(failure(url, mentions: ["missing tensor", key]) == .missingTensor(file: url.path, key: key))
    }

    @Test("bad/extra_tensor.h5: unexpected tensor naming it")
    func extraTensor() {
        let url = fixture("bad/extra_tensor.h5")
        let key = "bert.encoder.layer.0.attention.self.unexpected.weight"
        #expect(failure(url, mentions: ["unexpected tensor", key]) == .unexpectedTensor(file: url.path, key: key))
    }

    @Test("bad/truncated_safetensors/: data shorter than the header's offsets")
    func truncatedSafetensors() {
        let dir = fixture("bad/truncated_safetensors")
        let file = dir.appendingPathComponent("model.safetensors").path
        let e = failure(dir, mentions: ["model.safetensors", "truncated"])
        guard case .safetensors(let f, let key?, let detail)? = e else {
            return #expect(Bool(false), "\(String(describing: e))")
        }
        #expect(f == file && detail.contains("past the end of the data section"))
        #expect(e!.description.contains(key))
    }

    @Test("bad/corrupt_header_safetensors/: header is not valid JSON")
    func corruptHeader() {
        let dir = fixture("bad/corrupt_header_safetensors")
        // Byte 66 of the header is '?' where a key's opening quote belongs.
        let e = failure(
            dir,
            mentions: [
                "model.safetensors",
                "header is not valid JSON (line 1, column 67, byte 66: expected a string key or '}')",
            ])
        guard case .safetensors(let f, nil, _)? = e else { return #expect(Bool(false), "\(String(describing: e))") }
        #expect(f == dir.appendingPathComponent("model.safetensors").path)
    }

    @Test("A path that does not exist")
    func noSuchPath() {
        let url = fixturesDirectory.appendingPathComponent("no_such_model.h5")
        #expect(failure(url, mentions: ["no such file"]) == .fileNotFound(file: url.path))
    }

    @Test("A directory without config.json")
    func directoryWithoutConfig() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporary(dir) }
        #expect(
            failure(dir, mentions: ["no config.json"])
                == .unsupportedFile(file: dir.path, detail: "no config.json: not a Hugging Face model directory"))
    }

    @Test("A config.json with an unsupported model_type")
    func unsupportedModelType() throws {
        let dir = try copyOfMicroHF()
        defer { removeTemporary(dir) }
        let config = dir.appendingPathComponent("config.json")
        try editJSON(config) { $0["model_type"] = "roberta" }
        #expect(
            failure(dir, mentions: ["config.json", "roberta"])
                == .unsupportedArchitecture(file: config.path, found: "roberta"))
    }

    @Test("config.json describing no valid model: typed badConfig naming the key")
    func badConfigValues() throws {
        let cases: [(String, Any, String)] = [
            ("hidden_size", 9, "not a multiple of num_attention_heads"),
            ("num_hidden_layers", 0, "num_hidden_layers must be positive"),
            ("hidden_size", "eight", "hidden_size"),
            ("pad_token_id", 57, "pad_token_id 57"),
            ("num_labels", 3, "num_labels is 3"),
            ("position_embedding_type", "relative_key", "relative_key"),
        ]
        for (key, value, mention) in cases {
            let dir = try copyOfMicroHF()
            defer { removeTemporary(dir) }
            let config = dir.appendingPathComponent("config.json")
            try editJSON(config) { $0[key] = value }
            let e = failure(dir, mentions: ["config.json", mention])
            guard case .badConfig(let f, _)? = e else {
                return #expect(Bool(false), "\(key): \(String(describing: e))")
            }
            #expect(f == config.path)
        }
    }

    @Test("config.json that is not JSON")
    func configNotJSON() throws {
        let dir = try copyOfMicroHF()
        defer { removeTemporary(dir) }
        try Data("{\"model_type\": \"bert\",".utf8).write(to: dir.appendingPathComponent("config.json"))
        let e = failure(dir, mentions: ["not valid JSON (line 1, column 23, byte 22: unexpected end of the text"])
        guard case .badConfig? = e else { return #expect(Bool(false), "\(String(describing: e))") }
    }

    @Test("A PyTorch pickle is refused with the convert.py way out")
    func pytorchBin() throws {
        let dir = try copyOfMicroHF()
        defer { removeTemporary(dir) }
        try FileManager.default.removeItem(at: dir.appendingPathComponent("model.safetensors"))
        try Data([0x80, 0x02]).write(to: dir.appendingPathComponent("pytorch_model.bin"))
        let e = failure(dir, mentions: ["pytorch_model.bin", "convert.py"])
        guard case .unsupportedFile? = e else { return #expect(Bool(false), "\(String(describing: e))") }
        let direct = failure(dir.appendingPathComponent("pytorch_model.bin"), mentions: ["convert.py"])
        guard case .unsupportedFile? = direct else { return #expect(Bool(false), "\(String(describing: direct))") }
    }

    @Test("A tokenizer with more tokens than embedding rows")
    func vocabLargerThanEmbeddings() throws {
        let dir = try copyOfMicroHF()
        defer { removeTemporary(dir) }
        let vocab = dir.appendingPathComponent("vocab.txt")
        try (String(contentsOf: vocab, encoding: .utf8) + "extra\n").write(to: vocab, atomically: true, encoding: .utf8)
        let file = dir.appendingPathComponent("model.safetensors").path
        #expect(
            failure(dir, mentions: ["58 tokens", "57 rows", "bert.embeddings.word_embeddings.weight"])
                == .vocabMismatch(
                    file: file, key: "bert.embeddings.word_embeddings.weight", tokens: 58, embeddingRows: 57))
    }
}

@Suite("Weights: safetensors strictness")
struct WeightsSafeTensorsTests {
    /// bert_micro_hf/ with model.safetensors replaced by `bytes`; returns the load error (nil if it loads).
    func loadMicro(_ bytes: [UInt8]) throws -> (WeightError?, String) {
        let dir = try copyOfMicroHF()
        defer { removeTemporary(dir) }
        let file = dir.appendingPathComponent("model.safetensors")
        try write(bytes, to: file)
        return (weightError { () throws(WeightError) in try Checkpoint.load(dir) }, file.path)
    }

    func microTensors() throws -> [RawTensor] { try microTensorsByStoredName().map { RawTensor.f32($0.0, $0.1) } }

    func expectSafetensorsError(
        _ bytes: [UInt8], key: String?, mentions: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let (e, file) = try loadMicro(bytes)
        guard case .safetensors(let f, let k, let detail)? = e else {
            Issue.record("expected a safetensors error, got \(String(describing: e))", sourceLocation: sourceLocation)
            return
        }
        #expect(f == file && k == key, sourceLocation: sourceLocation)
        #expect(detail.contains(mentions), "\(detail)", sourceLocation: sourceLocation)
        #expect(e!.description.hasPrefix(file), sourceLocation: sourceLocation)
    }

    @Test("A rebuilt valid file loads (the baseline of the mutations below)")
    func baseline() throws {
        let (e, _) = try loadMicro(try safetensorsBytes(microTensors()))
        #expect(e == nil)
    }

    @Test("Header length beyond the file, file shorter than 8 bytes")
    func headerLength() throws {
        var bytes = try safetensorsBytes(microTensors())
        bytes.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { Array($0) })
        try expectSafetensorsError(bytes, key: nil, mentions: "runs past the end of the file")
        try expectSafetensorsError([1, 2, 3], key: nil, mentions: "shorter than the 8-byte header length")
    }

    @Test("Unknown dtype, offsets inconsistent with the shape, overlaps, gaps, trailing bytes")
    func headerEntries() throws {
        let tensors = try microTensors()
        let name = "bert.pooler.dense.bias"
        try expectSafetensorsError(
            safetensorsBytes(tensors) { h in
                var e = h[name] as! [String: Any]
                e["dtype"] = "Q4"
                h[name] = e
            }, key: name, mentions: "unknown dtype")
        try expectSafetensorsError(
            safetensorsBytes(tensors) { h in
                var e = h[name] as! [String: Any]
                e["shape"] = [9]
                h[name] = e
            }, key: name, mentions: "needs 36")
        try expectSafetensorsError(
            safetensorsBytes(tensors) { h in
                var e = h[name] as! [String: Any]
                e["data_offsets"] = [8, 0]
                h[name] = e
            }, key: name, mentions: "0 <= begin <= end")
        // Two tensors claiming the same bytes.
        try expectSafetensorsError(
            safetensorsBytes(tensors) { h in
                let first = h["bert.embeddings.LayerNorm.bias"] as! [String: Any]
                var e = h["bert.embeddings.LayerNorm.weight"] as! [String: Any]
                e["data_offsets"] = first["data_offsets"]
                h["bert.embeddings.LayerNorm.weight"] = e
            }, key: "bert.embeddings.LayerNorm.weight", mentions: "overlap")
        var trailing = try safetensorsBytes(tensors)
        trailing += [0, 0, 0, 0]
        try expectSafetensorsError(trailing, key: nil, mentions: "tensors end at byte")
        try expectSafetensorsError(
            safetensorsBytes(tensors) { h in h["bert.pooler.dense.bias"] = ["dtype": "F32", "shape": [8]] },
            key: "bert.pooler.dense.bias", mentions: "data_offsets")
    }

    @Test("A kept tensor in an integer dtype is unsupportedDType naming it")
    func integerTensor() throws {
        var tensors = try microTensors()
        let i = tensors.firstIndex { $0.name == "bert.pooler.dense.bias" }!
        tensors[i].dtype = "I32"
        let (e, file) = try loadMicro(try safetensorsBytes(tensors))
        #expect(e == .unsupportedDType(file: file, key: "bert.pooler.dense.bias", dtype: "I32"))
    }

    @Test("F16 and BF16 tensors widen exactly")
    func halfPrecision() throws {
        let original = try microTensorsByStoredName()
        for (kind, make) in [("F16", RawTensor.f16), ("BF16", RawTensor.bf16)] {
            let dir = try copyOfMicroHF()
            defer { removeTemporary(dir) }
            try write(
                safetensorsBytes(original.map { make($0.0, $0.1) }), to: dir.appendingPathComponent("model.safetensors")
            )
            let cp = try Checkpoint.load(dir)
            for (name, t) in original {
                let want: [Float] = t.scalars.map {
                    kind == "F16" ? Float(Float16($0)) : Float(bitPattern: $0.bitPattern & 0xFFFF_0000)
                }
                #expect(cp.tensors[CheckpointNames.key(of: name, prefix: "bert.")]?.scalars == want, "\(kind) \(name)")
            }
        }
    }

    @Test("All 65,536 float16 bit patterns widen to the IEEE value")
    func everyHalf() throws {
        // A 1-layer BERT whose word embeddings [8192, 8] hold every float16 bit pattern once.
        let dir = try copyOfMicroHF()
        defer { removeTemporary(dir) }
        try editJSON(dir.appendingPathComponent("config.json")) { $0["vocab_size"] = 8192 }
        var tensors = try microTensorsByStoredName().map { RawTensor.f32($0.0, $0.1) }
        let i = tensors.firstIndex { $0.name == "bert.embeddings.word_embeddings.weight" }!
        let patterns = (0...UInt16.max).map { $0 }
        tensors[i] = RawTensor(
            name: tensors[i].name, dtype: "F16", shape: [8192, 8], bytes: patterns.withUnsafeBytes { Array($0) })
        try write(safetensorsBytes(tensors), to: dir.appendingPathComponent("model.safetensors"))
        let values = try #require(Checkpoint.load(dir).tensors["embeddings.word_embeddings.weight"]).scalars
        var wrong = 0
        #expect(values.count == patterns.count)
        for (bits, v) in zip(patterns, values) {
            // IEEE 754 binary16: sign, 5-bit exponent (bias 15), 10-bit fraction; decoded independently here.
            let sign: Float = bits & 0x8000 != 0 ? -1 : 1
            let exp = Int((bits >> 10) & 0x1F)
            let frac = Float(bits & 0x3FF)
            if exp == 0x1F {
                if frac == 0 ? v != sign * .infinity : !(v.isNaN && (v.sign == .minus) == (sign < 0)) { wrong += 1 }
            } else {
                let want =
                    exp == 0
                    ? sign * frac * 0x1p-24
                    : sign * (1 + frac / 1024) * Float(sign: .plus, exponent: exp - 15, significand: 1)
                if v.bitPattern != want.bitPattern { wrong += 1 }
            }
        }
        #expect(wrong == 0)
    }

    @Test("Legacy names: LayerNorm.gamma/beta renamed, position_ids buffer dropped; a name stored twice is refused")
    func legacyNames() throws {
        let original = try microTensorsByStoredName()
        var tensors = original.map { (name, t) -> RawTensor in
            var n = name
            if n.hasSuffix("LayerNorm.weight") { n = String(n.dropLast(6)) + "gamma" }
            if n.hasSuffix("LayerNorm.bias") { n = String(n.dropLast(4)) + "beta" }
            return RawTensor.f32(n, t)
        }
        let positionIDs = (0..<16).map { Int64($0) }
        tensors.append(
            RawTensor(
                name: "bert.embeddings.position_ids", dtype: "I64", shape: [1, 16],
                bytes: positionIDs.withUnsafeBytes { Array($0) }))
        let dir = try copyOfMicroHF()
        defer { removeTemporary(dir) }
        let file = dir.appendingPathComponent("model.safetensors")
        try write(safetensorsBytes(tensors), to: file)
        let cp = try Checkpoint.load(dir)
        let expected = try #require(WeightsFixtureTests.digests.fixtures["bert_micro.h5"])
        expectDigests(cp, expected.tensors, count: expected.tensor_count)
        #expect(cp.notes.contains("dropped bert.embeddings.position_ids (buffer: arange(max_position_embeddings))"))
        #expect(cp.notes.contains("renamed bert.embeddings.LayerNorm.gamma -> bert.embeddings.LayerNorm.weight"))

        // gamma next to weight: the same parameter twice.
        tensors.append(
            RawTensor.f32(
                "bert.embeddings.LayerNorm.weight", original.first { $0.0 == "bert.embeddings.LayerNorm.weight" }!.1))
        try write(safetensorsBytes(tensors), to: file)
        #expect(
            weightError { () throws(WeightError) in try Checkpoint.load(dir) }
                == .duplicateTensor(
                    file: file.path, key: "bert.embeddings.LayerNorm.gamma", other: "bert.embeddings.LayerNorm.weight"))
    }

    @Test("Names without the base prefix load too; a mixture is refused")
    func prefixes() throws {
        let original = try microTensorsByStoredName()
        let dir = try copyOfMicroHF()
        defer { removeTemporary(dir) }
        let file = dir.appendingPathComponent("model.safetensors")
        let bare = original.map { RawTensor.f32(CheckpointNames.key(of: $0.0, prefix: "bert."), $0.1) }
        try write(safetensorsBytes(bare), to: file)
        let cp = try Checkpoint.load(dir)
        #expect(cp.storedPrefix == "" && cp.tensors.count == 25)
        for (name, t) in original {
            #expect(cp.tensors[CheckpointNames.key(of: name, prefix: "bert.")]?.scalars == t.scalars)
        }

        var mixed = original.map { RawTensor.f32($0.0, $0.1) }
        let i = mixed.firstIndex { $0.name == "bert.pooler.dense.bias" }!
        mixed[i].name = "pooler.dense.bias"
        try write(safetensorsBytes(mixed), to: file)
        #expect(
            weightError { () throws(WeightError) in try Checkpoint.load(dir) }
                == .missingTensor(file: file.path, key: "bert.pooler.dense.bias"))
    }

    @Test("Sharded checkpoint (model.safetensors.index.json) loads; a wrong shard entry is refused")
    func sharded() throws {
        let original = try microTensorsByStoredName()
        let dir = try copyOfMicroHF()
        defer { removeTemporary(dir) }
        try FileManager.default.removeItem(at: dir.appendingPathComponent("model.safetensors"))
        let half = original.count / 2
        let shards = [Array(original[..<half]), Array(original[half...])]
        var weightMap: [String: String] = [:]
        for (n, shard) in shards.enumerated() {
            let name = "model-0000\(n + 1)-of-00002.safetensors"
            try write(safetensorsBytes(shard.map { RawTensor.f32($0.0, $0.1) }), to: dir.appendingPathComponent(name))
            for (t, _) in shard { weightMap[t] = name }
        }
        let index = dir.appendingPathComponent("model.safetensors.index.json")
        try JSONSerialization.data(withJSONObject: ["metadata": [:] as [String: Any], "weight_map": weightMap]).write(
            to: index)
        let cp = try Checkpoint.load(dir)
        let expected = try #require(WeightsFixtureTests.digests.fixtures["bert_micro.h5"])
        expectDigests(cp, expected.tensors, count: expected.tensor_count)

        weightMap["bert.pooler.dense.bias"] = "model-00001-of-00002.safetensors"
        try JSONSerialization.data(withJSONObject: ["weight_map": weightMap]).write(to: index)
        let e = weightError { () throws(WeightError) in try Checkpoint.load(dir) }
        guard case .safetensors(let f, "bert.pooler.dense.bias", _)? = e else {
            return #expect(Bool(false), "\(String(describing: e))")
        }
        #expect(f == index.path)
    }
}
