// Padding invariance: a text alone and the same text inside a padded batch give the same logits and input gradients.
//
// BERT pads on the right, GPT-2 on the left (positions counted over real tokens). "The same" is float32 rounding:
// the batch runs its products over more rows, which OpenBLAS may block differently, so the last bits of a sum can
// move; the bound is 1e-5 of the largest |value| (measured on 2 threads: at most 1.5e-6 of it for BERT's logits,
// 1.0e-6 for its gradient, 3.6e-7 for GPT-2's). Padded positions must receive exactly zero gradient: a masked
// key's attention probability is exactly 0.
import Foundation
import Tensor
import Testing
import Transformer

/// Logits of `batch` and d(Σ chosen logits)/d(word embeddings), from one taped forward.
private func logitsAndGradient(
    _ model: LoadedModel, _ batch: TokenBatch, pooledOnly: Bool, pick: (Tensor) -> Tensor
) -> (logits: Tensor, gradient: Tensor) {
    let tape = GradientTape()
    let (x, logits, score) = tape.record { () -> (Tensor, Tensor, Tensor) in
        switch model.network {
        case .bert(let bert):
            let x = tape.watch(bert.wordEmbeddings(batch))
            let logits = bert(batch, inputEmbeddings: x, pooledOnly: pooledOnly).logits!
            return (x, logits, pick(logits))
        case .gpt2(let gpt2):
            let x = tape.watch(embedding(gpt2.wte, indices: batch.ids, shape: [batch.batchSize, batch.length]))
            var cache: KVCache? = nil
            let logits = gpt2(batch, inputEmbeddings: x, cache: &cache).logits!
            return (x, logits, pick(logits))
        }
    }
    return (logits.detached, tape.gradients(of: score, wrt: [x])[0])
}

/// Rows [from, from + count) of axis 1 of row `b` of a [B, T, …] tensor, flattened.
private func rows(_ t: Tensor, batch b: Int, from: Int, count: Int) -> [Float] {
    let (length, width) = (t.shape[1], t.shape.dropFirst(2).reduce(1, *))
    return Array(t.scalars[((b * length + from) * width)..<((b * length + from + count) * width)])
}

private func expectClose(_ a: [Float], _ b: [Float], _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.count == b.count && !a.isEmpty, "\(what): \(a.count) vs \(b.count) values", sourceLocation: sourceLocation)
    guard a.count == b.count else { return }
    let scale = max(b.map(abs).max() ?? 0, Float.leastNormalMagnitude)
    let worst = maxAbsDiff(a, b)
    #expect(worst <= 1e-5 * scale, "\(what): max |diff| \(worst), largest |value| \(scale)", sourceLocation: sourceLocation)
}

@Suite struct PaddingInvarianceTests {
    static let short = "a charming film"
    static let others = ["the movie was a charming and often affecting journey through a long night .", "bad ."]

    /// BERT-tiny classifier, text in the middle of three (right-padded to the longest): logits and the gradient of
    /// class 1's logit, on the full forward and on the [CLS]-only last layer that predict and explain run.
    @Test(arguments: [false, true]) func bertTextAloneEqualsTextInAPaddedBatch(pooledOnly: Bool) throws {
        let model = try LoadedModel.load(fixture("bert_tiny_cls.h5"))
        let (alone, one, _) = try model.encode([Self.short])
        let (batch, encodings, _) = try model.encode([Self.others[0], Self.short, Self.others[1]])
        let n = one[0].count
        #expect(encodings[1].ids == one[0].ids && batch.length > n + 5, "the text is not padded in the batch")
        let pickOne = { (l: Tensor) in l.slice(axis: 1, 1..<2).sum() }
        let a = logitsAndGradient(model, alone, pooledOnly: pooledOnly, pick: pickOne)
        let b = logitsAndGradient(model, batch, pooledOnly: pooledOnly) { l in
            l.slice(axis: 0, 1..<2).slice(axis: 1, 1..<2).sum()
        }
        expectClose(Array(b.logits.scalars[2..<4]), a.logits.scalars, "logits")
        expectClose(rows(b.gradient, batch: 1, from: 0, count: n), a.gradient.scalars, "input gradient")
        let padded = rows(b.gradient, batch: 1, from: n, count: batch.length - n)
        #expect(padded.allSatisfy { $0 == 0 }, "padded positions got gradient \(padded.map(abs).max()!)")
    }

    /// GPT-2 fixture, text second of three (left-padded): logits at every real position and the gradient of the
    /// greedy next token's logit at the last one.
    @Test func gpt2TextAloneEqualsTextInALeftPaddedBatch() throws {
        let model = try LoadedModel.load(fixture("gpt2_tiny.h5"))
        let (alone, one, _) = try model.encode([Self.short])
        let (batch, encodings, _) = try model.encode([Self.others[0], Self.short, Self.others[1]])
        let n = one[0].count, pads = batch.length - n
        #expect(encodings[1].ids == one[0].ids && pads > 5, "the text is not padded in the batch")
        #expect(Array(batch.ids[(batch.length + pads)..<(2 * batch.length)]) == one[0].ids)
        var probe: KVCache? = nil
        guard case .gpt2(let gpt2) = model.network else { Issue.record("not GPT-2"); return }
        let v = gpt2(alone, cache: &probe, lastPositionOnly: true).logits!.scalars
        let next = v.indices.max { v[$0] < v[$1] }!
        let a = logitsAndGradient(model, alone, pooledOnly: false) { l in
            l.slice(axis: 1, (n - 1)..<n).slice(axis: 2, next..<(next + 1)).sum()
        }
        let t = batch.length
        let b = logitsAndGradient(model, batch, pooledOnly: false) { l in
            l.slice(axis: 0, 1..<2).slice(axis: 1, (t - 1)..<t).slice(axis: 2, next..<(next + 1)).sum()
        }
        expectClose(rows(b.logits, batch: 1, from: pads, count: n), a.logits.scalars, "logits at the real positions")
        expectClose(rows(b.gradient, batch: 1, from: pads, count: n), a.gradient.scalars, "input gradient")
        let padded = rows(b.gradient, batch: 1, from: 0, count: pads)
        #expect(padded.allSatisfy { $0 == 0 }, "padded positions got gradient \(padded.map(abs).max()!)")
    }
}
