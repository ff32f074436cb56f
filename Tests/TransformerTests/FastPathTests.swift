// A model's untaped forward against the same forward recorded on a tape (fused ops, in-place attention, KV cache).
//
// BERT and GPT-2 are written once over fused ops that carry their own VJPs; recording only makes those ops keep
// what their VJPs need (a pre-activation, the probabilities, a sum before its norm). Recording is forced here by
// watching the input embeddings; the outputs must be bit-identical. Golden parity with transformers is in
// ParityTests; these look everywhere the goldens do not (every position, every layer, incremental decoding, cache
// growth).
import Foundation
import Tensor
import Testing
import Transformer

/// Taped and untaped passes run the same kernels on the same buffers' shapes: the same roundings.
private func expectSame(_ a: Tensor, _ b: Tensor, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.shape == b.shape, "\(what): shape \(a.shape) vs \(b.shape)", sourceLocation: sourceLocation)
    guard a.shape == b.shape else { return }
    #expect(
        a.scalars == b.scalars, "\(what): max |diff| \(maxAbsDiff(a.scalars, b.scalars))", sourceLocation: sourceLocation)
}

private func compareOutputs(_ fast: ModelOutput, _ taped: ModelOutput, _ name: String) {
    #expect(!fast.lastHiddenState.isTracked && taped.lastHiddenState.isTracked, "\(name): paths not as intended")
    expectSame(fast.lastHiddenState, taped.lastHiddenState, "\(name) last hidden state")
    #expect((fast.logits == nil) == (taped.logits == nil), "\(name): one path has logits, the other not")
    if let l = fast.logits, let r = taped.logits { expectSame(l, r, "\(name) logits") }
    #expect(fast.hiddenStates.count == taped.hiddenStates.count && fast.attentions.count == taped.attentions.count)
    for (i, (a, b)) in zip(fast.hiddenStates, taped.hiddenStates).enumerated() {
        expectSame(a, b, "\(name) hidden \(i)")
    }
    for (i, (a, b)) in zip(fast.attentions, taped.attentions).enumerated() {
        expectSame(a, b, "\(name) attention \(i)")
    }
}

@Suite struct FastPathTests {
    let options = ForwardOptions(outputHiddenStates: true, outputAttentions: true)

    @Test(arguments: ["bert_tiny_cls", "bert_tiny_mlm"])
    func bertPathsAgree(name: String) throws {
        let model = try LoadedModel.load(fixture("\(name).h5"))
        guard case .bert(let bert) = model.network else { Issue.record("not BERT"); return }
        // Different lengths, so the shorter text is padded and its padded keys masked.
        let (batch, _, _) = try model.encode(["a gentle and quietly moving film", "bad"])
        let fast = bert(batch, options: options)
        let tape = GradientTape()
        let taped = tape.record {
            bert(batch, inputEmbeddings: tape.watch(bert.wordEmbeddings(batch)), options: options)
        }
        compareOutputs(fast, taped, name)
        #expect((fast.pooled == nil) == (taped.pooled == nil), "\(name): one path has a pooled output, the other not")
        if let p = fast.pooled, let q = taped.pooled { expectSame(p, q, "\(name) pooled") }
    }

    @Test func gpt2PathsAgreeWithLeftPadding() throws {
        let model = try LoadedModel.load(fixture("gpt2_tiny.h5"))
        guard case .gpt2(let gpt2) = model.network else { Issue.record("not GPT-2"); return }
        let (batch, _, _) = try model.encode(["The quick brown fox jumps", "Hi"])
        var none: KVCache? = nil
        let fast = gpt2(batch, cache: &none, options: options)
        let tape = GradientTape()
        let taped = tape.record {
            gpt2(
                batch, inputEmbeddings: tape.watch(embedding(gpt2.wte, indices: batch.ids, shape: [2, batch.length])),
                cache: &none, options: options)
        }
        compareOutputs(fast, taped, "gpt2")
    }

    /// Prefill then one token at a time through the cache gives the full forward's logits at every step, on
    /// the fast path and on the taped path (which reads and writes the same cache), across cache growth.
    @Test func incrementalDecodingMatchesFullForward() throws {
        let model = try LoadedModel.load(fixture("gpt2_tiny.h5"))
        guard case .gpt2(let gpt2) = model.network else { Issue.record("not GPT-2"); return }
        let n = min(90, gpt2.config.nPositions)  // crosses the first capacity (64) and a doubling
        var g = RandomGenerator(seed: 11)
        let ids = (0..<(2 * n)).map { _ in Int(g.next() % UInt64(gpt2.config.vocabSize)) }
        // Row 1 is left-padded by 3 positions.
        let mask = (0..<(2 * n)).map { $0 >= n && $0 < n + 3 ? 0 : 1 }
        var none: KVCache? = nil
        let full = gpt2(TokenBatch(ids: ids, attentionMask: mask, batchSize: 2, length: n), cache: &none).logits!
        let v = full.shape[2]
        for taped in [false, true] {
            var cache: KVCache? = KVCache()
            let prompt = 5
            func step(_ range: Range<Int>) -> Tensor {
                let rows = (0..<2).flatMap { r in range.map { r * n + $0 } }
                let batch = TokenBatch(
                    ids: rows.map { ids[$0] }, attentionMask: rows.map { mask[$0] }, batchSize: 2, length: range.count)
                guard taped else { return gpt2(batch, cache: &cache, lastPositionOnly: true).logits! }
                let tape = GradientTape()
                return tape.record {
                    let x = tape.watch(embedding(gpt2.wte, indices: batch.ids, shape: [2, range.count]))
                    return gpt2(batch, inputEmbeddings: x, cache: &cache, lastPositionOnly: true).logits!
                }
            }
            var last = step(0..<prompt)
            for t in prompt...n {
                for r in 0..<2 {
                    let want = Array(full.scalars[((r * n + t - 1) * v)..<((r * n + t) * v)])
                    let got = Array(last.scalars[(r * v)..<((r + 1) * v)])
                    #expect(maxAbsDiff(got, want) <= 1e-4, "taped \(taped): row \(r) after \(t) tokens")
                }
                #expect(cache!.length == t)
                if t < n { last = step(t..<(t + 1)) }
            }
            // The public per-layer view round-trips: a cache rebuilt from it continues identically.
            var copy: KVCache? = KVCache()
            copy!.layers = cache!.layers
            copy!.attentionMask = cache!.attentionMask
            #expect(
                copy!.length == cache!.length
                    && copy!.layers[0].0.shape == [2, gpt2.config.nHead, n, gpt2.config.headDim])
            let next = TokenBatch(ids: [1, 2], batchSize: 2, length: 1)
            expectSame(
                gpt2(next, cache: &copy, lastPositionOnly: true).logits!,
                gpt2(next, cache: &cache, lastPositionOnly: true).logits!, "rebuilt cache")
        }
    }

    /// Fine-tuning path: parameters watched on a tape take the taped path and get the same gradients as
    /// before the fast path existed (the composed ops); an inference forward of the same model afterwards
    /// takes the fast path and agrees with it.
    @Test func watchedParametersUseTheTapeAndInferenceAgrees() throws {
        let model = try LoadedModel.load(fixture("bert_tiny_cls.h5"))
        let (batch, _, _) = try model.encode(["a fine film", "bad"])
        let tape = GradientTape()
        var net = model.network
        let (logits, loss) = tape.record { () -> (Tensor, Tensor) in
            _ = net.watchParameters(on: tape)
            guard case .bert(let bert) = net else { fatalError() }
            let l = bert(batch).logits!
            return (l, crossEntropy(l, labels: [1, 0]))
        }
        #expect(logits.isTracked && loss.isTracked)
        guard case .bert(let plain) = model.network else { Issue.record("not BERT"); return }
        expectSame(plain(batch).logits!, logits.detached, "inference after training forward")
    }
}
