// Round trips of the weight fixtures: every tensor bit-identical to the digests, plus task, labels, tokenizer.

import Foundation
import Tensor
import Testing
import Transformer

@Suite("Weights: fixtures load bit-identically")
struct WeightsFixtureTests {
    static let digests: StateDigests = try! decodeJSON(StateDigests.self, fixture("state_digests.json"))

    @Test("FNV-1a 64 matches the documented check values")
    func fnvCheckValues() {
        #expect(fnv1a64(UnsafeRawBufferPointer(start: nil, count: 0)) == 0xcbf2_9ce4_8422_2325)
        #expect(Array("a".utf8).withUnsafeBytes { fnv1a64($0) } == 0xaf63_dc4c_8601_ec8c)
    }

    @Test(
        "Every .h5 fixture: digests, count, shapes, task",
        arguments: ["bert_tiny_cls.h5", "bert_tiny_cls_f16.h5", "bert_tiny_mlm.h5", "gpt2_tiny.h5", "bert_micro.h5"])
    func h5RoundTrip(name: String) throws {
        let expected = try #require(Self.digests.fixtures[name])
        let cp = try Checkpoint.load(fixture(name))
        #expect(cp.source == .loupeHDF5)
        #expect(cp.architecture.rawValue == expected.architecture)
        #expect(cp.task.rawValue == expected.task)
        #expect(cp.config.vocabSize == expected.vocab_size)
        #expect(cp.tokenizer.vocab.count == expected.vocab_size)
        #expect(cp.notes.isEmpty)
        #expect(cp.storedPrefix == CheckpointNames.prefixInUse(expected.tensors.keys, architecture: cp.architecture))
        expectDigests(cp, expected.tensors, count: expected.tensor_count)
    }

    @Test("bert_tiny_cls: labels, config, WordPiece settings, base prefix removed")
    func bertTinyClassifier() throws {
        let cp = try Checkpoint.load(fixture("bert_tiny_cls.h5"))
        #expect(cp.labels == ["negative", "positive"])
        #expect(cp.storedPrefix == "bert.")
        #expect(cp.tensors["embeddings.word_embeddings.weight"]?.shape == [1688, 128])
        #expect(cp.tensors["bert.embeddings.word_embeddings.weight"] == nil)
        #expect(cp.tensors["classifier.weight"]?.shape == [2, 128])
        #expect(cp.pooling == nil && !cp.normalize)
        let c = try #require(cp.config.bert)
        #expect(c.hiddenSize == 128 && c.numHiddenLayers == 2 && c.numAttentionHeads == 2)
        #expect(c.intermediateSize == 512 && c.maxPositionEmbeddings == 128 && c.numLabels == 2)
        #expect(c.hiddenAct == "gelu" && c.layerNormEps == 1e-12 && c.tieWordEmbeddings)
        let tok = cp.tokenizer
        #expect(tok.type == .wordpiece && tok.merges.isEmpty)
        #expect(tok.doLowerCase && tok.stripAccents == nil && tok.tokenizeChineseChars)
        #expect(tok.unkToken == "[UNK]" && tok.clsToken == "[CLS]" && tok.sepToken == "[SEP]")
        #expect(tok.padToken == "[PAD]" && tok.maskToken == "[MASK]")
        #expect(Array(tok.vocab.prefix(5)) == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
        #expect(tok.modelMaxLength == 128 && tok.maxSeqLength == nil)
    }

    @Test("float16 file widens exactly: values differ from float32 only by float16 rounding")
    func float16File() throws {
        let f32 = try Checkpoint.load(fixture("bert_tiny_cls.h5"))
        let f16 = try Checkpoint.load(fixture("bert_tiny_cls_f16.h5"))
        #expect(Set(f32.tensors.keys) == Set(f16.tensors.keys))
        for (key, a) in f32.tensors {
            let rounded = a.scalars.map { Float(Float16($0)) }
            #expect(f16.tensors[key]!.scalars == rounded, "\(key)")
        }
    }

    @Test("bert_tiny_mlm: tied decoder resolves to the word embeddings")
    func maskedLMTiedDecoder() throws {
        let cp = try Checkpoint.load(fixture("bert_tiny_mlm.h5"))
        #expect(cp.task == .maskedLM && cp.labels == nil)
        #expect(cp.tensors["cls.predictions.decoder.weight"] == nil)
        let decoder = try #require(cp.tensor("cls.predictions.decoder.weight"))
        #expect(decoder.scalars == cp.tensors["embeddings.word_embeddings.weight"]!.scalars)
        #expect(cp.tensor("cls.predictions.bias")?.shape == [1688])
        #expect(cp.tensor("lm_head.weight") == nil)
    }

    @Test("gpt2_tiny: BPE tokenizer, tied lm_head, Conv1D shapes")
    func gpt2Tiny() throws {
        let cp = try Checkpoint.load(fixture("gpt2_tiny.h5"))
        #expect(cp.storedPrefix == "transformer.")
        let c = try #require(cp.config.gpt2)
        #expect(c.nEmbd == 64 && c.nLayer == 2 && c.nHead == 2 && c.nPositions == 128 && c.nInner == nil)
        #expect(c.innerSize == 256 && c.activationFunction == "gelu_new" && c.layerNormEpsilon == 1e-5)
        #expect(c.bosTokenId == 1256 && c.eosTokenId == 1256 && c.padTokenId == nil)
        #expect(cp.tensors["h.0.attn.c_attn.weight"]?.shape == [64, 192])
        #expect(cp.tensors["h.1.mlp.c_proj.weight"]?.shape == [256, 64])
        #expect(cp.tensor("lm_head.weight")?.scalars == cp.tensors["wte.weight"]?.scalars)
        let tok = cp.tokenizer
        #expect(tok.type == .bpe && tok.vocab.count == 1257 && tok.merges.count == 1000)
        #expect(tok.vocab[1256] == "<|endoftext|>" && tok.vocab[220] == "Ġ")
        #expect(tok.merges.allSatisfy { $0.split(separator: " ").count == 2 })
        #expect(tok.merges[0] == "Ġ t")
        #expect(tok.unkToken == "<|endoftext|>" && tok.bosToken == "<|endoftext|>" && tok.eosToken == "<|endoftext|>")
        #expect(!tok.addPrefixSpace && tok.modelMaxLength == 128)
    }

    @Test("bert_micro_hf/ directory equals bert_micro.h5: tensors, config, tokenizer, labels")
    func huggingFaceDirectory() throws {
        let expected = try #require(Self.digests.fixtures["bert_micro.h5"])
        let hf = try Checkpoint.load(fixture("bert_micro_hf"))
        #expect(hf.source == .huggingFaceDirectory)
        #expect(
            hf.task == .sequenceClassification && hf.labels == ["negative", "positive"] && hf.storedPrefix == "bert.")
        expectDigests(hf, expected.tensors, count: expected.tensor_count)
        let h5 = try Checkpoint.load(fixture("bert_micro.h5"))
        #expect(hf.config == h5.config)
        #expect(hf.tokenizer == h5.tokenizer)
        #expect(hf.tokenizer.vocab.count == 57)
        for (key, t) in h5.tensors { #expect(hf.tensors[key]?.scalars == t.scalars, "\(key)") }
    }

    @Test("GPT-2 Hugging Face directory (hub-style names, vocab.json + merges.txt, stored tied head and buffers)")
    func gpt2HuggingFaceDirectory() throws {
        let h5 = try Checkpoint.load(fixture("gpt2_tiny.h5"))
        let dir = try makeTemporaryDirectory()
        defer { removeTemporary(dir) }
        try JSONEncoder().encode(try #require(h5.config.gpt2)).write(to: dir.appendingPathComponent("config.json"))
        var tensors = h5.tensors.sorted { $0.key < $1.key }.map { RawTensor.f32($0.key, $0.value) }
        // What a hub checkpoint may also hold: the tied head (dropped) and the attention-mask buffers (dropped).
        tensors.append(RawTensor.f32("lm_head.weight", h5.tensors["wte.weight"]!))
        for layer in 0..<2 {
            tensors.append(RawTensor.f32("h.\(layer).attn.bias", Tensor.ones([1, 1, 128, 128])))
            tensors.append(RawTensor.f32("h.\(layer).attn.masked_bias", Tensor(-1e4)))
        }
        try write(safetensorsBytes(tensors), to: dir.appendingPathComponent("model.safetensors"))
        let ids = Dictionary(uniqueKeysWithValues: h5.tokenizer.vocab.enumerated().map { ($1, $0) })
        try JSONSerialization.data(withJSONObject: ids).write(to: dir.appendingPathComponent("vocab.json"))
        try ("#version: 0.2\n" + h5.tokenizer.merges.joined(separator: "\n") + "\n")
            .write(to: dir.appendingPathComponent("merges.txt"), atomically: true, encoding: .utf8)

        let hf = try Checkpoint.load(dir)
        let expected = try #require(Self.digests.fixtures["gpt2_tiny.h5"])
        #expect(hf.task == .causalLM && hf.storedPrefix == "")
        expectDigests(hf, expected.tensors, count: expected.tensor_count)
        #expect(hf.config == h5.config)
        #expect(hf.tokenizer == h5.tokenizer)
        #expect(hf.notes.contains("dropped lm_head.weight (tied to the word embeddings)"))
        #expect(hf.notes.contains("dropped h.1.attn.masked_bias (buffer: GPT-2 mask fill value)"))
        #expect(hf.notes.count == 5)
    }

    @Test("Task override: a classifier file also loads as feature extraction, but not as masked LM")
    func taskOverride() throws {
        let url = fixture("bert_tiny_cls.h5")
        let fe = try Checkpoint.load(url, task: .featureExtraction)
        #expect(fe.task == .featureExtraction && fe.tensors.count == 41)
        #expect(
            weightError { () throws(WeightError) in try Checkpoint.load(url, task: .maskedLM) }
                == .missingTensor(file: url.path, key: "cls.predictions.transform.dense.weight"))
        let e = weightError { () throws(WeightError) in try Checkpoint.load(url, task: .causalLM) }
        guard case .badConfig(let file, let detail) = e else {
            Issue.record("expected badConfig, got \(String(describing: e))")
            return
        }
        #expect(file == url.path && detail.contains("causal-lm"))
    }
}
