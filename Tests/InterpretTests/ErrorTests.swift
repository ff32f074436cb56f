// Bad input: unknown method or label, impossible options, methods a model cannot support — typed one-line errors.
import Foundation
import Interpret
import Tensor
import Testing
import Transformer

@Suite struct ErrorTests {
    let text = "a charming film ."

    func bert() throws -> LoadedModel { try LoadedModel.load(fixture("bert_tiny_cls.h5")) }

    /// The InterpretError `body` throws (any other error fails the test).
    func error(_ body: () throws -> Void) -> InterpretError? {
        do { try body() } catch let e as InterpretError { return e } catch {
            Issue.record("not an InterpretError: \(error)")
        }
        return nil
    }

    @Test func unknownMethod() throws {
        let e = error { _ = try Methods.make(ExplainOptions(method: "shapley-magic")) }
        #expect(e == .unknownMethod("shapley-magic", known: Methods.names))
        #expect(e!.description.hasPrefix("unknown method \"shapley-magic\"; known methods: grad-norm, grad-input, ig"))
        #expect(!e!.description.contains("\n"))
    }

    @Test func unknownTargetLabel() throws {
        let m = try bert()
        var o = ExplainOptions(method: "grad-input")
        o.target = .label("neutral")
        let e = error { _ = try explain(m, text: text, options: o) }
        #expect(e == .unknownTarget("neutral", known: ["negative", "positive"]))
        // A known label is accepted and explained even when it is not the prediction.
        o.target = .label("negative")
        #expect(try explain(m, text: text, options: o).target == "negative")
    }

    @Test func zeroSteps() throws {
        var o = ExplainOptions(method: "ig")
        o.steps = 0
        #expect(error { _ = try Methods.make(o) } == .invalidOption("--steps must be at least 1, got 0"))
        o.steps = 1
        o.rule = .riemannTrapezoid
        #expect(error { _ = try Methods.make(o) } == .invalidOption("--rule riemann-trapezoid needs --steps ≥ 2, got 1"))
        o.rule = .gaussLegendre
        o.tolerance = -1
        #expect(error { _ = try Methods.make(o) } != nil)
        var lime = ExplainOptions(method: "lime")
        lime.samples = 0
        #expect(error { _ = try Methods.make(lime) } == .invalidOption("--samples must be at least 1, got 0"))
    }

    /// Attention rollout needs attention capture; the linear bag has none.
    @Test func methodTheModelCannotSupport() throws {
        let m = LinearBag(length: 4, hidden: 3, seed: 1)
        let attention = AttentionSalience()
        #expect(!attention.isCompatible(with: m))
        let e = error { _ = try attention.explain(m) }
        #expect(e == InterpretError.unsupported(method: "attention", missing: .attention))
        #expect(e!.description == "attention needs attention capture, which this model does not offer")
        #expect(error { _ = try InformationSalience().explain(m) } == .unsupported(method: "info", missing: .hiddenStates))
        // Masking needs a [MASK] token: the interaction model has one, removal it does not offer.
        let noRemoval = InteractionModel(length: 3, hidden: 2, seed: 1)
        #expect(error { _ = try LIME(perturbation: .remove).explain(noRemoval) } == .unsupported(method: "lime", missing: .removal))
        #expect(GradientNorm().isCompatible(with: m) && LIME().isCompatible(with: m))
    }

    /// Compatibility can be asked of a checkpoint before anything runs.
    @Test func compatibilityOfCheckpoints() throws {
        let bert = try bert()
        let gpt2 = try LoadedModel.load(fixture("gpt2_tiny.h5"))
        #expect(LIME().isCompatible(with: bert) && !LIME().isCompatible(with: gpt2))
        #expect(LIME(perturbation: .remove).isCompatible(with: gpt2))
        #expect(AttentionSalience().isCompatible(with: gpt2) && InformationSalience().isCompatible(with: bert))
        #expect(IntegratedGradients(baseline: .mask).isCompatible(with: bert))
        #expect(!IntegratedGradients(baseline: .mask).isCompatible(with: gpt2))
    }

    @Test func layerOutOfRange() throws {
        let m = try bert()
        var o = ExplainOptions(method: "info")
        o.layer = 7
        o.iterations = 2
        #expect(error { _ = try explain(m, text: text, options: o) }
            == .invalidOption("--layer 7 is out of range: the model has hidden states 0…2"))
        var a = ExplainOptions(method: "attention")
        a.layer = 3
        #expect(error { _ = try explain(m, text: text, options: a) }
            == .invalidOption("--layer 3 is out of range for attention: the model has layers 1…2"))
    }

    /// A GPT-2 file is explained through --prompt; a text alone is refused with a hint.
    @Test func gpt2NeedsAPrompt() throws {
        let m = try LoadedModel.load(fixture("gpt2_tiny.h5"))
        let e = error { _ = try explain(m, text: text, options: ExplainOptions(method: "grad-input")) }
        guard case .noPrediction(let detail) = e else { Issue.record("got \(String(describing: e))"); return }
        #expect(detail.contains("--prompt"))
        // GPT-2 has no [MASK]: LIME with masking is refused, with removal it runs.
        let seq = error {
            _ = try SequenceSalience.explain(
                model: m, prompt: "The dog", continuation: nil, maxTokens: 1, method: LIME(samples: 8))
        }
        #expect(seq == .unsupported(method: "lime", missing: .maskToken))
        let removal = try SequenceSalience.explain(
            model: m, prompt: "The dog", continuation: nil, maxTokens: 1, method: LIME(samples: 8, perturbation: .remove))
        #expect(removal.steps.count == 1)
    }

    /// A masked LM explains a [MASK] filler; without a [MASK] in the text there is nothing to explain.
    @Test func maskedLMNeedsAMask() throws {
        let m = try LoadedModel.load(fixture("bert_tiny_mlm.h5"))
        guard case .noPrediction = error({ _ = try explain(m, text: "a film", options: ExplainOptions(method: "grad-norm")) }) else {
            Issue.record("expected noPrediction")
            return
        }
        let s = try explain(m, text: "the movie was a [MASK] .", options: ExplainOptions(method: "grad-input"))
        #expect(s.prediction.count == 5)
        #expect(s.target == s.prediction[0].label)
    }
}
