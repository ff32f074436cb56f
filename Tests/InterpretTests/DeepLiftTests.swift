// DeepLIFT against Captum 0.9 on the BERT classifier (the pooler's tanh rescaled), and where it is grad × input.
import Foundation
import Interpret
import Tensor
import Testing
import Transformer

@Suite struct DeepLiftTests {
    @Test func matchesCaptumOnBERT() throws {
        let golden = try HDF5Reader(fixture("parity/captum_layer.h5"))
        let a = try CaptumCase().adapter(.prob)
        let s = try DeepLift().explain(a)
        let want = try golden.tensor("/prob/deeplift/attributions").scalars.map(Double.init)
        #expect(relativeError(s.vectors!.scalars.map(Double.init), want) <= 1e-4)
        let gap = abs(s.inputScore! - s.baselineScore!)
        #expect(abs(s.delta! - Double(try golden.tensor("/prob/deeplift/delta").scalars[0])) <= 1e-4 * gap)
        // The rescaled pooler makes it differ from grad × input.
        let plain = try GradientTimesInput().explain(a)
        #expect(relativeError(s.scores, plain.scores) > 1e-3)
    }

    /// GPT-2 has no non-linearity Captum rescales: with the zero baseline DeepLIFT is grad × input.
    @Test func isGradientTimesInputOnGPT2() throws {
        let s = try SequenceSalience.explain(
            model: try LoadedModel.load(fixture("gpt2_tiny.h5")), prompt: "The dog", continuation: nil, maxTokens: 2,
            method: DeepLift(), score: .logit)
        let g = try SequenceSalience.explain(
            model: try LoadedModel.load(fixture("gpt2_tiny.h5")), prompt: "The dog", continuation: nil, maxTokens: 2,
            method: GradientTimesInput(), score: .logit)
        #expect(s.steps.count == 2 && g.steps.count == 2)
        for (x, y) in zip(s.steps, g.steps) { #expect(relativeError(x.scores, y.scores) <= 1e-5) }
    }

    /// The rescaled tanh: its secant between input and reference, tanh's derivative where they coincide.
    @Test func rescaledTanhPassesTheSecant() {
        let x = Tensor([0.5, -1, 2]), r = Tensor([0.5, 1, 0])
        let tape = GradientTape()
        let (xw, y) = tape.record { () -> (Tensor, Tensor) in
            let xw = tape.watch(x)
            return (xw, tanh(xw, rescaledAgainst: r).sum())
        }
        let g = tape.gradients(of: y, wrt: [xw])[0].scalars.map(Double.init)
        let want = [1 - pow(Foundation.tanh(0.5), 2), (Foundation.tanh(-1.0) - Foundation.tanh(1.0)) / -2,
                    Foundation.tanh(2.0) / 2]
        #expect(relativeError(g, want) <= 1e-6)
    }
}
