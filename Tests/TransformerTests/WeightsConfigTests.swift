// Config decoding (transformers defaults, validation) and the checkpoint name rules.

import Foundation
import Testing
import Transformer

@Suite("Weights: configs and name rules")
struct WeightsConfigTests {
    func bert(_ json: String) throws -> BertConfig { try JSONDecoder().decode(BertConfig.self, from: Data(json.utf8)) }
    func gpt2(_ json: String) throws -> GPT2Config { try JSONDecoder().decode(GPT2Config.self, from: Data(json.utf8)) }

    @Test("Absent keys take transformers' defaults; explicit null stays nil")
    func defaults() throws {
        let b = try bert("{}")
        #expect(b == BertConfig())
        #expect(b.vocabSize == 30522 && b.hiddenSize == 768 && b.numHiddenLayers == 12 && b.numAttentionHeads == 12)
        #expect(b.intermediateSize == 3072 && b.hiddenAct == "gelu" && b.maxPositionEmbeddings == 512)
        #expect(b.typeVocabSize == 2 && b.layerNormEps == 1e-12 && b.padTokenId == 0 && b.numLabels == 2)
        #expect(b.tieWordEmbeddings && b.positionEmbeddingType == "absolute" && b.id2label == nil)
        #expect(try bert(#"{"pad_token_id": null}"#).padTokenId == nil)

        let g = try gpt2("{}")
        #expect(g == GPT2Config())
        #expect(g.vocabSize == 50257 && g.nPositions == 1024 && g.nEmbd == 768 && g.nLayer == 12 && g.nHead == 12)
        #expect(g.nInner == nil && g.innerSize == 3072 && g.activationFunction == "gelu_new")
        #expect(g.layerNormEpsilon == 1e-5 && g.bosTokenId == 50256 && g.eosTokenId == 50256 && g.tieWordEmbeddings)
        #expect(try gpt2(#"{"n_inner": 100, "bos_token_id": null}"#).innerSize == 100)
        #expect(try gpt2(#"{"bos_token_id": null}"#).bosTokenId == nil)
    }

    @Test("id2label with string keys gives labels and num_labels")
    func labels() throws {
        let b = try bert(#"{"id2label": {"1": "pos", "0": "neg", "2": "mid"}}"#)
        #expect(b.numLabels == 3 && b.labels == ["neg", "pos", "mid"])
        try b.validate()
        #expect(throws: ConfigError.self) { try bert(#"{"id2label": {"0": "a", "2": "b"}}"#).validate() }
        #expect(throws: ConfigError.self) { try bert(#"{"id2label": {"0": "a"}, "num_labels": 2}"#).validate() }
        #expect(throws: DecodingError.self) { try bert(#"{"id2label": {"x": "a"}}"#) }
    }

    @Test("validate() rejects configs that cannot build a model")
    func validation() throws {
        try BertConfig().validate()
        try GPT2Config().validate()
        let badBert: [(BertConfig, String)] = [
            (BertConfig(hiddenSize: 100, numAttentionHeads: 12), "not a multiple"),
            (BertConfig(numHiddenLayers: 0), "num_hidden_layers must be positive"),
            (BertConfig(vocabSize: -1), "vocab_size must be positive"),
            (BertConfig(layerNormEps: 0), "layer_norm_eps"),
            (BertConfig(padTokenId: 30522), "pad_token_id"),
            (BertConfig(positionEmbeddingType: "relative_key"), "relative_key"),
        ]
        for (c, mention) in badBert {
            #expect(throws: ConfigError.self) { try c.validate() }
            do { try c.validate() } catch { #expect(error.detail.contains(mention), "\(error.detail)") }
        }
        let badGPT2: [(GPT2Config, String)] = [
            (GPT2Config(nEmbd: 100, nHead: 12), "not a multiple"),
            (GPT2Config(nInner: 0), "n_inner must be positive"),
            (GPT2Config(nPositions: 0), "n_positions"),
        ]
        for (c, mention) in badGPT2 {
            do {
                try c.validate()
                Issue.record("\(mention): accepted")
            } catch { #expect(error.detail.contains(mention), "\(error.detail)") }
        }
    }

    @Test("Codable round trip keeps the Hugging Face key names")
    func roundTrip() throws {
        let b = BertConfig(vocabSize: 57, hiddenSize: 8, id2label: [0: "negative", 1: "positive"])
        let json = try JSONEncoder().encode(b)
        let object = try JSONSerialization.jsonObject(with: json) as! [String: Any]
        #expect(object["vocab_size"] as? Int == 57 && object["hidden_size"] as? Int == 8)
        #expect((object["id2label"] as? [String: String]) == ["0": "negative", "1": "positive"])
        #expect(try JSONDecoder().decode(BertConfig.self, from: json) == b)
        for g in [GPT2Config(nEmbd: 64, nInner: 128), GPT2Config(bosTokenId: nil, eosTokenId: nil)] {
            #expect(try JSONDecoder().decode(GPT2Config.self, from: JSONEncoder().encode(g)) == g)
        }
        let noPad = BertConfig(padTokenId: nil)
        #expect(try JSONDecoder().decode(BertConfig.self, from: JSONEncoder().encode(noPad)) == noPad)
    }

    @Test("KEY_RULES: renames, buffers, tied heads, decoder-bias alias; everything else unchanged")
    func keyRules() {
        func rule(_ name: String, tied: Bool = true, all: Set<String> = []) -> CheckpointNames.Rule {
            CheckpointNames.rule(for: name, tieWordEmbeddings: tied, allNames: all)
        }
        #expect(
            rule("bert.encoder.layer.3.output.LayerNorm.gamma") == .keep("bert.encoder.layer.3.output.LayerNorm.weight")
        )
        #expect(rule("embeddings.LayerNorm.beta") == .keep("embeddings.LayerNorm.bias"))
        #expect(rule("bert.embeddings.position_ids") == .drop("buffer: arange(max_position_embeddings)"))
        #expect(rule("embeddings.token_type_ids") == .drop("buffer: zeros(1, max_position_embeddings)"))
        #expect(rule("transformer.h.11.attn.bias") == .drop("buffer: GPT-2 causal mask"))
        #expect(rule("h.0.attn.masked_bias") == .drop("buffer: GPT-2 mask fill value"))
        #expect(rule("h.0.attn.c_attn.bias") == .keep("h.0.attn.c_attn.bias"))
        #expect(rule("h.x.attn.bias") == .keep("h.x.attn.bias"))
        #expect(rule("xh.0.attn.bias") == .keep("xh.0.attn.bias"))
        #expect(rule("myembeddings.position_ids") == .keep("myembeddings.position_ids"))
        #expect(rule("lm_head.weight") == .drop("tied to the word embeddings"))
        #expect(rule("lm_head.weight", tied: false) == .keep("lm_head.weight"))
        #expect(rule("cls.predictions.decoder.weight") == .drop("tied to the word embeddings"))
        #expect(rule("cls.predictions.decoder.bias") == .keep("cls.predictions.bias"))
        #expect(
            rule("cls.predictions.decoder.bias", all: ["cls.predictions.bias"])
                == .drop("same parameter as cls.predictions.bias"))
        #expect(rule("classifier.weight") == .keep("classifier.weight"))
    }

    @Test("Base prefixes: detected, removed from base tensors only; tied heads resolve to embeddings")
    func prefixes() {
        #expect(
            CheckpointNames.prefixInUse(["bert.pooler.dense.bias", "classifier.bias"], architecture: .bert) == "bert.")
        #expect(CheckpointNames.prefixInUse(["h.0.ln_1.weight", "lm_head.weight"], architecture: .gpt2) == "")
        #expect(CheckpointNames.key(of: "transformer.wte.weight", prefix: "transformer.") == "wte.weight")
        #expect(CheckpointNames.key(of: "classifier.weight", prefix: "bert.") == "classifier.weight")
        #expect(CheckpointNames.key(of: "bert.pooler.dense.bias", prefix: "") == "bert.pooler.dense.bias")
        #expect(CheckpointNames.tiedSource(of: "lm_head.weight", architecture: .gpt2) == "wte.weight")
        #expect(
            CheckpointNames.tiedSource(of: "cls.predictions.decoder.weight", architecture: .bert)
                == "embeddings.word_embeddings.weight")
        #expect(CheckpointNames.tiedSource(of: "lm_head.weight", architecture: .bert) == nil)
    }
}
