// Chefer et al.'s relevance against the golden of weights-scripts/make_chefer_goldens.py (the ICCV 2021 rule).
import Foundation
import Interpret
import Tensor
import Testing
import Transformer

@Suite struct CheferTests {
    let golden: HDF5Reader

    init() throws { golden = try HDF5Reader(fixture("parity/chefer.h5")) }

    func values(_ path: String) throws -> [Double] { try golden.tensor(path).scalars.map(Double.init) }

    /// BERT's classifier, class "positive" by its logit: every layer's A and ∇A, then R's [CLS] row.
    @Test func matchesTheGoldenOnBERT() throws {
        var o = ExplainOptions(method: .chefer)
        o.score = .logit
        o.target = .label("positive")
        let a = try salienceModel(try LoadedModel.load(fixture("bert_tiny_cls.h5")), text: CaptumCase.text, options: o)
        #expect(a.ids == (try golden.integers("/bert_tiny_cls/input_ids").values))
        let layers = try a.attentionGradients()
        #expect(layers.count == 2)
        for (l, (attention, gradient)) in layers.enumerated() {
            let p = "/bert_tiny_cls/layer_\(l)"
            #expect(relativeError(attention.scalars.map(Double.init), try values("\(p)/attention")) <= 1e-5, "\(p)")
            #expect(relativeError(gradient.scalars.map(Double.init), try values("\(p)/gradient")) <= 1e-4, "\(p)")
        }
        let s = try CheferRelevance().explain(a)
        #expect(relativeError(s.scores, try values("/bert_tiny_cls/relevance")) <= 1e-5)
        #expect(abs(s.scores[0] - (try values("/bert_tiny_cls/R"))[0]) <= 1e-5)
    }

    /// GPT-2's next token after "The dog" (its greedy one) by its logit: R's row of the last token.
    @Test func matchesTheGoldenOnGPT2() throws {
        let s = try SequenceSalience.explain(
            model: try LoadedModel.load(fixture("gpt2_tiny.h5")), prompt: "The dog", continuation: nil, maxTokens: 1,
            method: CheferRelevance(), score: .logit)
        let ids = try golden.integers("/gpt2_tiny/input_ids").values + golden.integers("/gpt2_tiny/target_id").values
        #expect(s.ids == ids)
        #expect(s.steps.count == 1)
        #expect(relativeError(s.steps[0].scores, try values("/gpt2_tiny/relevance")) <= 1e-5)
    }

    /// The rule on a model with known attention and gradients: one layer, one head, T = 2.
    @Test func appliesTheRuleToKnownMaps() throws {
        struct Known: SalienceModel {
            let input = ExplainedInput(text: "a b", tokens: ["a", "b"], readout: 1)
            let inputEmbeddings = Tensor.zeros([2, 1])
            let capabilities: Capabilities = [.attention, .gradients]
            func scores(_ embeddings: Tensor) -> Tensor { embeddings.sum() }
            func attentionGradients() throws(InterpretError) -> [(attention: Tensor, gradient: Tensor)] {
                // A = [[1, 0], [0.25, 0.75]], ∇A = [[2, 2], [4, -1]]: Ā = (∇A ⊙ A)⁺ = [[2, 0], [1, 0]].
                [(Tensor(shape: [1, 2, 2], scalars: [1, 0, 0.25, 0.75]),
                  Tensor(shape: [1, 2, 2], scalars: [2, 2, 4, -1]))]
            }
        }
        // R = I + Ā·I = [[3, 0], [1, 1]]; the readout is row 1.
        #expect(try CheferRelevance().explain(Known()).scores == [1, 1])
    }
}
