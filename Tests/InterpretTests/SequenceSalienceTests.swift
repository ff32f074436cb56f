// GPT-2 sequence salience: each generated token explained over the prompt and the tokens before it.
import Foundation
import Interpret
import Tensor
import Testing
import Transformer

@Suite struct SequenceSalienceTests {
    func gpt2() throws -> LoadedModel { try LoadedModel.load(fixture("gpt2_tiny.h5")) }

    /// The continuation is GPT-2's greedy one (transformers' golden ids), and step j scores P + j tokens.
    @Test func greedyContinuationIsExplainedStepByStep() throws {
        let m = try gpt2()
        let golden = try HDF5Reader(fixture("parity/gpt2_tiny.h5"))
        let expected = try golden.integers("/generate/single_ids").values
        let s = try SequenceSalience.explain(
            model: m, prompt: "The dog", continuation: nil, maxTokens: 6, method: GradientTimesInput())
        #expect(s.promptLength == 3)
        #expect(s.ids == Array(expected.prefix(9)))
        #expect(s.steps.count == 6)
        for (j, step) in s.steps.enumerated() {
            #expect(step.scores.count == 3 + j)
            #expect(step.tokens == Array(s.tokens.prefix(3 + j)))
        }
        #expect(s.tokens.joined() == s.text)
        #expect(s.offsets.last!.end == s.text.unicodeScalars.count)
    }

    /// Step j's gradient equals the gradient of the same target taken through the full sequence (one
    /// forward over prompt + whole continuation): causal attention makes later tokens irrelevant, and
    /// their gradient is exactly zero.
    @Test func stepGradientsMatchTheFullSequence() throws {
        let m = try gpt2()
        guard case .gpt2(let net) = m.network else { Issue.record("not GPT-2"); return }
        var options = ExplainOptions(method: .gradInput)
        options.score = .logit
        let s = try SequenceSalience.explain(
            model: m, prompt: "Hello world", continuation: nil, maxTokens: 4, method: GradientTimesInput(),
            score: .logit)
        let ids = s.ids
        let t = ids.count
        let x = embedding(net.wte, indices: ids, shape: [1, t])
        for (j, step) in s.steps.enumerated() {
            let position = s.promptLength + j - 1  // predicts ids[position + 1]
            let tape = GradientTape()
            let (xw, score) = tape.record { () -> (Tensor, Tensor) in
                let xw = tape.watch(x)
                var cache: KVCache? = nil
                let logits = net(TokenBatch(ids: ids, batchSize: 1, length: t), inputEmbeddings: xw, cache: &cache)
                    .logits!
                let target = ids[position + 1]
                return (
                    xw, logits.slice(axis: 1, position..<(position + 1)).slice(axis: 2, target..<(target + 1)).sum()
                )
            }
            let g = tape.gradients(of: score, wrt: [xw])[0]
            let h = net.config.nEmbd
            let full = (0..<t).map { p in
                (0..<h).reduce(0.0) { $0 + Double(g.scalars[p * h + $1]) * Double(x.scalars[p * h + $1]) }
            }
            #expect(relativeError(step.scores, Array(full.prefix(position + 1))) <= 1e-4, "step \(j)")
            #expect(full.suffix(from: position + 1).allSatisfy { $0 == 0 }, "step \(j)")
        }
    }

    /// IG over each prefix is complete: 64 Gauss–Legendre points, Σ attributions within 1e-3·|F(x) − F(0)| of
    /// F(x) − F(0), F(x) being the logit of a plain forward over the whole sequence (not the method's own value).
    @Test func integratedGradientsPerStep() throws {
        let m = try gpt2()
        guard case .gpt2(let net) = m.network else { Issue.record("not GPT-2"); return }
        let s = try SequenceSalience.explain(
            model: m, prompt: "The dog", continuation: " was a dog", maxTokens: 1,
            method: IntegratedGradients(steps: 64), score: .logit)
        #expect(s.steps.count == s.ids.count - s.promptLength)
        #expect(s.steps.count >= 2)
        var cache: KVCache? = nil
        let logits = net(TokenBatch(ids: s.ids, batchSize: 1, length: s.ids.count), cache: &cache).logits!
        let v = logits.shape[2]
        for (j, step) in s.steps.enumerated() {
            let position = s.promptLength + j - 1  // predicts ids[position + 1]
            let fx = Double(logits.scalars[position * v + s.ids[position + 1]])
            #expect(abs(step.inputScore! - fx) <= 1e-4 * max(1, abs(fx)), "step \(j): F(x) \(step.inputScore!) vs \(fx)")
            let gap = fx - step.baselineScore!
            #expect(abs(gap) > 0.01)
            let total = step.scores.reduce(0, +)
            #expect(abs(total - gap) <= 1e-3 * abs(gap), "step \(j): Σ attributions \(total), F(x) − F(0) \(gap)")
            #expect(abs(step.delta! - (total - (step.inputScore! - step.baselineScore!))) <= 1e-9 * max(1, abs(gap)))
        }
    }
}
