// The `attention` method's values against transformers' attentions (golden: weights-scripts/make_attention_goldens.py).
import Foundation
import Interpret
import Tensor
import Testing
import Transformer
import Workbench

/// BERT on text 0 of the parity batch, GPT-2 on text 1 (the rows without padding): every layer's and head's
/// probabilities as transformers returns them (≤ 1e-5, the attention tolerance), the rollout as numpy
/// computes it from those (≤ 1e-5), and the method's token scores: the readout row of the rollout, or with
/// `layer` that layer's head-mean row.
@Suite struct AttentionMethodTests {
    static let texts = [
        "bert_tiny_cls": "the movie was a charming and often affecting journey .",
        "gpt2_tiny": "Hello world, this is a longer prompt",
    ]

    @Test(arguments: ["bert_tiny_cls", "gpt2_tiny"]) func valuesMatchTransformers(model name: String) throws {
        let golden = try HDF5Reader(URL(fileURLWithPath: fixture("parity/attention_method.h5")))
        let model = try Workbench.loadModel(fixture("\(name).h5"))
        let text = try #require(Self.texts[name])
        #expect(model.tokenizer.encode(text, addSpecialTokens: true).ids == (try golden.integers("/\(name)/input_ids").values))

        let expected = try golden.tensor("/\(name)/attentions")  // [L, heads, T, T]
        let (l, heads, t) = (expected.shape[0], expected.shape[1], expected.shape[2])
        let result = try Workbench.attention(AttentionRequest(example: Example(id: "x", text: text)), model: model)
        #expect(result.layers == Array(1...l) && result.attention.count == l && result.tokens.count == t)
        let ours = result.attention.flatMap { $0.flatMap { $0.flatMap { $0 } } }
        #expect(ours.count == expected.count && result.attention.allSatisfy { $0.count == heads })
        #expect(maxAbsDiff(ours.map(Float.init), expected.scalars) <= 1e-5, "attention probabilities")

        let rollout = try golden.tensor("/\(name)/rollout").scalars.map(Double.init)  // [T, T]
        let ourRollout = result.rollout.flatMap { $0 }
        #expect(ourRollout.count == rollout.count)
        #expect(maxAbsDiff(ourRollout.map(Float.init), rollout.map(Float.init)) <= 1e-5, "rollout")

        // The explanation's scores: the readout row of the rollout; with --layer, that layer's head mean.
        let r = try golden.integers("/\(name)/readout").values[0]
        let headMean = try golden.tensor("/\(name)/head_mean").scalars  // [L, T, T]
        for layer in [nil] + (1...l).map(Optional.some) {
            var request = ExplainRequest(examples: [Example(id: "x", text: text)], method: .attention)
            request.maxTokens = 1
            if let layer { request.config = ["layer": .int(layer)] }
            let e = try Workbench.explain(request, model: model)[0]
            let s = try #require(e.salience ?? e.sequence?.steps.first, "no salience for layer \(String(describing: layer))")
            let want =
                layer.map { Array(headMean[(($0 - 1) * t + r) * t..<(($0 - 1) * t + r + 1) * t]) }
                ?? Array(rollout[(r * t)..<((r + 1) * t)]).map(Float.init)
            #expect(s.scores.count == t, "layer \(String(describing: layer))")
            #expect(
                maxAbsDiff(s.scores.map(Float.init), want) <= 1e-5, "scores, layer \(String(describing: layer))")
        }
    }
}

/// Max |a − b|; infinite when the lengths differ, so a short result fails instead of comparing less.
func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    guard a.count == b.count else { return .infinity }
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}
