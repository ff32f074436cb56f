// Hostile checkpoints built at run time: untrusted sizes, special files, ambiguous headers, traps, tokenizer limits.
//
// One test per class of problem (issue 17's hostile probe); each case is made in a temporary directory from the
// valid bert_micro fixtures, and each asserts the one-line error names the file and the field, tensor or limit.
import CHDF5
import Foundation
import Tensor
import Testing
import Tokenizers
import Transformer

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Hostile inputs: sizes, special files, ambiguity, traps")
struct HostileInputTests {
    /// The error loading `url` gives: one line, starting with `file`, mentioning each of `mentions`.
    func expectFailure(
        _ url: URL, file: String, mentions: [String], sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard let e = weightError({ () throws(WeightError) in try Checkpoint.load(url) }) else {
            Issue.record("\(url.path) loaded without error", sourceLocation: sourceLocation)
            return
        }
        let text = e.description
        #expect(!text.contains("\n"), sourceLocation: sourceLocation)
        #expect(text.hasPrefix(file), "\(text)", sourceLocation: sourceLocation)
        for m in mentions { #expect(text.contains(m), "\(text) should mention \(m)", sourceLocation: sourceLocation) }
    }

    /// Sizes read from a file are checked against the file and the config before anything is allocated.
    @Test func untrustedSizesAreCheckedBeforeAllocation() throws {
        // A config with 10⁷ layers next to a small weight file: refused before 10⁸ expected names are built.
        let layers = try copyOfMicroHF()
        defer { removeTemporary(layers) }
        let config = layers.appendingPathComponent("config.json")
        try editJSON(config) { $0["num_hidden_layers"] = 10_000_000 }
        expectFailure(layers, file: config.path, mentions: ["the config implies at least", "weights"])

        // Dimensions whose products overflow Int: n_embd 2⁶² (4 · n_embd overflows) and hidden_size 2³².
        #expect(throws: ConfigError("n_embd 4611686018427387904 is too large (4 · n_embd overflows)")) {
            try GPT2Config(nEmbd: 1 << 62, nHead: 1).validate()
        }
        #expect(throws: ConfigError("hidden_size is too large: the model's size overflows a 64-bit integer")) {
            try BertConfig(hiddenSize: 1 << 32, numAttentionHeads: 1).validate()
        }

        // A safetensors header claiming a 10¹²-element tensor: its byte count is checked against its offsets.
        let huge = try copyOfMicroHF()
        defer { removeTemporary(huge) }
        let weights = huge.appendingPathComponent("model.safetensors")
        let tensors = try microTensorsByStoredName().map { RawTensor.f32($0.0, $0.1) }
        try write(
            safetensorsBytes(tensors) { h in
                var e = h["classifier.bias"] as! [String: Any]
                e["shape"] = [1_000_000, 1_000_000]
                h["classifier.bias"] = e
            }, to: weights)
        expectFailure(huge, file: weights.path, mentions: ["classifier.bias", "[1000000, 1000000]", "needs 4000000000000"])

        // An .h5 whose word-embedding dataset claims 10⁸ rows (never written, so the file stays small).
        let h5 = try makeTemporaryDirectory()
        defer { removeTemporary(h5) }
        let file = h5.appendingPathComponent("claims.h5")
        try FileManager.default.copyItem(at: fixture("bert_micro.h5"), to: file)
        try replaceDataset(in: file, "/weights/bert.embeddings.word_embeddings.weight", dims: [100_000_000, 8])
        expectFailure(
            file, file: file.path,
            mentions: ["bert.embeddings.word_embeddings.weight", "[100000000, 8]", "claims more bytes than the file's"])

        // A vocabulary over the documented cap is refused by counting lines, before a String is made of each.
        let vocab = try copyOfMicroHF()
        defer { removeTemporary(vocab) }
        let lines = TokenizerLimits.maxVocabulary + 1
        try Data((0..<lines).map { "t\($0)\n" }.joined().utf8).write(to: vocab.appendingPathComponent("vocab.txt"))
        expectFailure(
            vocab, file: vocab.appendingPathComponent("vocab.txt").path,
            mentions: ["\(lines) lines, over the limit of \(TokenizerLimits.maxVocabulary)"])
    }

    /// A tokenizer.json whose vocabulary object is over the entry limit is refused from a byte scan, before the
    /// JSON is parsed (JSONDecoder's time on one object grows faster than its size: 3·10⁶ entries took 87 s).
    @Test func oversizedJSONContainersAreRefusedBeforeParsing() throws {
        let hf = try copyOfMicroHF()
        defer { removeTemporary(hf) }
        try FileManager.default.removeItem(at: hf.appendingPathComponent("vocab.txt"))
        let n = TokenizerLimits.maxVocabulary + 1
        var text = #"{"model": {"type": "WordPiece", "vocab": {"#
        text.reserveCapacity(n * 16)
        for i in 0..<n { text += (i == 0 ? "" : ",") + "\"t\(i)\":\(i)" }
        text += "}}}"
        let tokenizer = hf.appendingPathComponent("tokenizer.json")
        try Data(text.utf8).write(to: tokenizer)
        expectFailure(
            hf, file: tokenizer.path,
            mentions: ["a JSON object or array with \(n) entries, over the limit of \(TokenizerLimits.maxVocabulary)"])
    }

    /// A FIFO where a regular file belongs is refused from `stat`, never opened (open would wait for a writer).
    /// If a regression opens it, a writer arrives after 30 s so that the test fails rather than hangs.
    @Test func specialFilesAreNeverOpened() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporary(dir) }
        func fifo(_ url: URL) throws {
            try? FileManager.default.removeItem(at: url)
            #expect(mkfifo(url.path, 0o600) == 0)
            let path = url.path
            DispatchQueue.global().asyncAfter(deadline: .now() + 30) {
                let fd = open(path, O_WRONLY | O_NONBLOCK)  // unblocks a reader stuck in open; harmless otherwise
                if fd >= 0 { close(fd) }
            }
        }
        let named = "a FIFO (named pipe), not a regular file"
        let model = dir.appendingPathComponent("model.h5")
        try fifo(model)
        expectFailure(model, file: model.path, mentions: [named])

        for name in ["config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json"] {
            let hf = try copyOfMicroHF()
            defer { removeTemporary(hf) }
            let target = hf.appendingPathComponent(name)
            try fifo(target)
            expectFailure(hf, file: target.path, mentions: [named])
        }

        // A shard of a sharded checkpoint.
        let sharded = try copyOfMicroHF()
        defer { removeTemporary(sharded) }
        try FileManager.default.removeItem(at: sharded.appendingPathComponent("model.safetensors"))
        let index: [String: Any] = ["weight_map": ["classifier.bias": "shard-1.safetensors"]]
        try JSONSerialization.data(withJSONObject: index).write(
            to: sharded.appendingPathComponent("model.safetensors.index.json"))
        let shard = sharded.appendingPathComponent("shard-1.safetensors")
        try fifo(shard)
        expectFailure(sharded, file: shard.path, mentions: [named])
    }

    /// A safetensors header must mean one thing: a tensor named twice, overlapping or gapped offsets, offsets
    /// past the end or reversed, and a byte count that does not fit the dtype and shape are each refused.
    @Test func ambiguousSafetensorsHeadersAreRefused() throws {
        let tensors = try microTensorsByStoredName().map { RawTensor.f32($0.0, $0.1) }
        let valid = try safetensorsBytes(tensors)
        let n = Int(valid[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        let header = String(decoding: valid[8..<(8 + n)], as: UTF8.self)

        // The same name twice, the second spelled with an escape: JSONDecoder would keep one of the two.
        let entry = #""classifier.bias":{"data_offsets":[0,8],"dtype":"F32","shape":[2]}"#
        let dup = try #require(header.range(of: #""classifier.weight""#))
        let twice = header.replacingCharacters(
            in: dup.lowerBound..<dup.lowerBound, with: entry.replacingOccurrences(of: "classifier.bias", with: #"classifier.bi\u0061s"#) + ",")
        var bytes = withUnsafeBytes(of: UInt64(twice.utf8.count).littleEndian) { Array($0) } + Array(twice.utf8)
        bytes += valid[(8 + n)...]
        let hf = try copyOfMicroHF()
        defer { removeTemporary(hf) }
        let weights = hf.appendingPathComponent("model.safetensors")
        try write(bytes, to: weights)
        expectFailure(hf, file: weights.path, mentions: ["classifier.bias", "names this tensor twice"])

        let cases: [(String, [Any], [String])] = [
            ("overlap", [4, 12], ["overlap", "classifier.bias"]),
            ("reversed", [8, 0], ["0 <= begin <= end"]),
            ("a gap", [1_000_000, 1_000_008], ["leave a gap"]),
            ("byte count", [0, 4], ["hold 4 bytes", "needs 8"]),
        ]
        for (name, offsets, mentions) in cases {
            try write(
                safetensorsBytes(tensors) { h in
                    var e = h["classifier.bias"] as! [String: Any]
                    e["data_offsets"] = offsets
                    h["classifier.bias"] = e
                }, to: weights)
            guard let e = weightError({ () throws(WeightError) in try Checkpoint.load(hf) }) else {
                Issue.record("\(name): loaded")
                continue
            }
            for m in mentions { #expect(e.description.contains(m), "\(name): \(e.description)") }
        }
        // Offsets past the end: the last tensor's data cut short.
        try write(Array(valid.dropLast(4)), to: weights)
        expectFailure(hf, file: weights.path, mentions: ["classifier.weight", "run past the end", "truncated"])
    }

    /// Values that used to trap: an end-of-text id outside the vocabulary, a temperature so small that the
    /// scaled logits overflow (sampling must tend to greedy, not divide inf by inf).
    @Test func trapsBecomeErrorsOrDefinedResults() throws {
        #expect(throws: ConfigError("eos_token_id 1000000 is outside the vocabulary 0..<50257")) {
            var c = GPT2Config()
            c.eosTokenId = 1_000_000
            try c.validate()
        }
        let model = try LoadedModel.load(fixture("gpt2_tiny.h5"))
        guard case .gpt2(let gpt2) = model.network else {
            Issue.record("gpt2_tiny is not GPT-2")
            return
        }
        let prompt = model.tokenizer.encode("The dog", addSpecialTokens: true).ids
        let greedy = gpt2.generate(prompts: [prompt], config: GenerationConfig(maxNewTokens: 8), padID: model.padID)
        for temperature: Float in [1e-38, .leastNonzeroMagnitude] {
            let cold = gpt2.generate(
                prompts: [prompt], config: GenerationConfig(maxNewTokens: 8, temperature: temperature, seed: 3),
                padID: model.padID)
            #expect(cold == greedy, "temperature \(temperature)")
        }
    }

    /// A tokenizer length limit that leaves no room for text is refused at load, naming the file and the field.
    @Test func tokenizerLengthLimitsLeaveRoomForText() throws {
        for limit in [1, 2] {
            let hf = try copyOfMicroHF()
            defer { removeTemporary(hf) }
            let tc = hf.appendingPathComponent("tokenizer_config.json")
            try editJSON(tc) { $0["model_max_length"] = limit }
            expectFailure(hf, file: tc.path, mentions: ["model_max_length \(limit) leaves no room for text"])
        }
    }
}

/// Replaces a dataset of an HDF5 file by a float32 one of shape `dims` whose data is never written (HDF5 allocates
/// contiguous storage late), so the file claims far more than it holds.
func replaceDataset(in file: URL, _ path: String, dims: [UInt64]) throws {
    let fid = H5Fopen(file.path, loupe_H5F_ACC_RDWR(), hid_t(H5P_DEFAULT))
    #expect(fid >= 0)
    defer { H5Fclose(fid) }
    #expect(H5Ldelete(fid, path, hid_t(H5P_DEFAULT)) >= 0)
    let space = H5Screate_simple(Int32(dims.count), dims, nil)
    defer { H5Sclose(space) }
    let did = H5Dcreate2(
        fid, path, loupe_H5T_IEEE_F32LE(), space, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
    #expect(did >= 0)
    H5Dclose(did)
}
