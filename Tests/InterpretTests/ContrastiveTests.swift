// Contrastive attribution of a GPT-2 token (why this token rather than that one) against inseq 0.7.
import Foundation
import Interpret
import Tensor
import Testing
import Transformer

@Suite struct ContrastiveTests {
    let model: LoadedModel
    let golden: HDF5Reader
    let contrast: String

    init() throws {
        model = try LoadedModel.load(fixture("gpt2_tiny.h5"))
        golden = try HDF5Reader(fixture("parity/inseq_contrast.h5"))
        contrast = model.tokenizer.decode([try golden.integers("/contrast_id").values[0]], skipSpecialTokens: false)
    }

    func values(_ path: String) throws -> [Double] { try golden.tensor(path).scalars.map(Double.init) }

    /// inseq's contrast_logits_diff (score logit) and contrast_prob_diff (score prob), with input × gradient and
    /// saliency, on the greedy token of "The dog" against the runner-up.
    @Test(arguments: [ScoreKind.logit, .prob, .logprob], [MethodID.gradInput, .gradNorm])
    func matchesInseq(score: ScoreKind, method: MethodID) throws {
        let s = try SequenceSalience.explain(
            model: model, prompt: "The dog", continuation: nil, maxTokens: 10, method: try method.make([:]),
            score: score, contrast: contrast)
        // log p(target) − log p(contrast) is the logit difference: logprob reads inseq's logit golden.
        let path = "/\(score == .prob ? "prob" : "logit")/\(method.rawValue)"
        #expect(s.ids == (try golden.integers("/input_ids").values) + (try golden.integers("/target_id").values))
        #expect(s.steps.count == 1)
        let step = s.steps[0]
        #expect(step.contrast == contrast)
        let want = try golden.tensor("\(path)/attributions")  // [T, H]
        let tokens = reduceTokens(want, method == .gradNorm ? .l2 : .sum)
        #expect(relativeError(step.scores, tokens) <= 1e-4, "\(path)")
        if method == .gradInput {
            #expect(relativeError(step.vectors!.scalars.map(Double.init), want.scalars.map(Double.init)) <= 1e-4)
        }
        let value = try values("\(path)/value")[0]
        #expect(abs(step.inputScore! - value) <= 1e-5 * max(1, abs(value)), "\(step.inputScore!) vs \(value)")
    }

    /// The contrast is one token, the explained continuation too (BERT's refusal: WorkbenchTests.ExplainContrastTests).
    @Test func contrastNeedsOneTokenOfGPT2() throws {
        func field(_ body: () throws -> Void) -> String? {
            do { try body() } catch let e as InterpretError {
                if case .invalidConfig(let o) = e { return o.field }
            } catch {}
            return nil
        }
        let explain = { (target: String?, contrast: String) in
            _ = try SequenceSalience.explain(
                model: self.model, prompt: "The dog", continuation: target, maxTokens: 3, method: GradientNorm(),
                contrast: contrast)
        }
        #expect(field { try explain(nil, "a longer contrast") } == "contrast")
        #expect(field { try explain(" such a dog", self.contrast) } == "target")
        // Without a contrast the same call explains the target's own score, a different number.
        let plain = try SequenceSalience.explain(
            model: model, prompt: "The dog", continuation: nil, maxTokens: 1, method: GradientTimesInput(), score: .logit)
        #expect(plain.steps[0].contrast == nil)
        #expect(abs(plain.steps[0].inputScore! - (try values("/logit/grad-input/value"))[0]) > 1e-3)
    }
}
