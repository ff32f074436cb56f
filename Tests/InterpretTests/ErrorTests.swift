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
        let e = error { _ = try MethodID(named: "shapley-magic") }
        #expect(e == .unknownMethod("shapley-magic", known: MethodID.allCases.map(\.rawValue)))
        #expect(e!.description.hasPrefix("unknown method \"shapley-magic\"; known methods: grad-norm, grad-input, ig"))
        #expect(!e!.description.contains("\n"))
    }

    @Test func unknownTargetLabel() throws {
        let m = try bert()
        var o = ExplainOptions(method: .gradInput)
        o.target = .label("neutral")
        let e = error { _ = try explain(m, text: text, options: o) }
        #expect(e == .unknownTarget("neutral", known: ["negative", "positive"]))
        // A known label is accepted and explained even when it is not the prediction.
        o.target = .label("negative")
        #expect(try explain(m, text: text, options: o).target == "negative")
    }

    @Test func zeroSteps() throws {
        // Errors name the field; a front end names it its own way (the CLI as a flag).
        let flag = { (f: String) in "--" + f.replacingOccurrences(of: "_", with: "-") }
        let zero = error { _ = try MethodID.ig.make(["steps": .int(0)]) }
        #expect(zero == .invalidConfig(OptionError(field: "steps", value: "0", problem: .invalid("at least 1"))))
        #expect(zero?.message(naming: flag) == "--steps must be at least 1, got 0")
        let rule = error { _ = try MethodID.ig.make(["steps": .int(1), "rule": .string("riemann-trapezoid")]) }
        #expect(rule?.message(naming: flag) == "--steps must be ≥ 2 for rule riemann-trapezoid, got 1")
        #expect(error { _ = try MethodID.ig.make(["tolerance": .double(-1)]) } != nil)
        #expect(
            error { _ = try MethodID.ig.make(["rule": .string("simpson")]) }?.message(naming: flag)
                == "unknown --rule \"simpson\"; use riemann-left, riemann-right, riemann-middle, riemann-trapezoid, gauss-legendre or clenshaw-curtis"
        )
        let lime = error { _ = try MethodID.lime.make(["samples": .int(0)]) }
        #expect(lime?.message(naming: flag) == "--samples must be at least 1, got 0")
        // A field the method does not declare is refused (a misspelt option must not silently get its default).
        #expect(
            error { _ = try MethodID.lime.make(["sample": .int(10)]) }?.description.hasPrefix("unknown option sample")
                == true)
        #expect(
            error { _ = try MethodID.lime.make(["samples": .string("ten")]) }?.description
                == "samples must be of type int, got ten")
    }

    /// Attention rollout needs attention capture; the linear bag has none.
    @Test func methodTheModelCannotSupport() throws {
        let m = LinearBag(length: 4, hidden: 3, seed: 1)
        let attention = AttentionSalience()
        #expect(!attention.isCompatible(with: m))
        let e = error { _ = try attention.explain(m) }
        #expect(e == InterpretError.unsupported(method: "attention", missing: .attention))
        #expect(e!.description == "attention needs attention capture, which this model does not offer")
        #expect(
            error { _ = try InformationSalience().explain(m) } == .unsupported(method: "info", missing: .hiddenStates))
        // Masking needs a [MASK] token: the interaction model has one, removal it does not offer.
        let noRemoval = InteractionModel(length: 3, hidden: 2, seed: 1)
        #expect(
            error { _ = try LIME(perturbation: .remove).explain(noRemoval) }
                == .unsupported(method: "lime", missing: .removal))
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
        let o = ExplainOptions(method: .info, config: ["layer": .int(7), "iterations": .int(2)])
        #expect(
            error { _ = try explain(m, text: text, options: o) }?.description
                == "layer must be in 0…2 (the model's hidden states), got 7")
        let a = ExplainOptions(method: .attention, config: ["layer": .int(3)])
        #expect(
            error { _ = try explain(m, text: text, options: a) }?.description
                == "layer must be in 1…2 (the model's attention layers), got 3")
    }

    /// A GPT-2 file is explained by sequence salience; the BERT entry point refuses it, naming that, in no
    /// front end's words (Workbench.explain dispatches on the model).
    @Test func gpt2NeedsSequenceSalience() throws {
        let m = try LoadedModel.load(fixture("gpt2_tiny.h5"))
        let e = error { _ = try explain(m, text: text, options: ExplainOptions(method: .gradInput)) }
        guard case .noPrediction(let detail) = e else { Issue.record("got \(String(describing: e))"); return }
        #expect(detail.contains("sequence salience") && !detail.contains("--"))
        // GPT-2 has no [MASK]: LIME with masking is refused, with removal it runs.
        let seq = error {
            _ = try SequenceSalience.explain(
                model: m, prompt: "The dog", continuation: nil, maxTokens: 1, method: LIME(samples: 8))
        }
        #expect(seq == .unsupported(method: "lime", missing: .maskToken))
        let removal = try SequenceSalience.explain(
            model: m, prompt: "The dog", continuation: nil, maxTokens: 1,
            method: LIME(samples: 8, perturbation: .remove))
        #expect(removal.steps.count == 1)
    }

    /// A masked LM explains a [MASK] filler; without a [MASK] in the text there is nothing to explain.
    @Test func maskedLMNeedsAMask() throws {
        let m = try LoadedModel.load(fixture("bert_tiny_mlm.h5"))
        guard
            case .noPrediction = error({
                _ = try explain(m, text: "a film", options: ExplainOptions(method: .gradNorm))
            })
        else {
            Issue.record("expected noPrediction")
            return
        }
        let s = try explain(m, text: "the movie was a [MASK] .", options: ExplainOptions(method: .gradInput))
        #expect(s.prediction.count == 5)
        #expect(s.target == s.prediction[0].label)
    }
}
