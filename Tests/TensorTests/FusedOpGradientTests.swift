// Gradient checks of the fused model ops (dense, attention, residual layer norm, embedding sum) against Float64 loops.
import Foundation
import Testing
import Tensor

// MARK: - Float64 references

/// act(x·op(W) + b) for each weight, side by side along the last axis.
private func refDense(
    _ x: Array64, _ weights: [(w: Array64, b: Array64?, outByIn: Bool)], _ act: (Double) -> Double
) -> Array64 {
    let k = x.shape.last!
    let rows = x.count / k
    let flat = Ref.reshape(x, [rows, k])
    let parts = weights.map { p -> Array64 in
        var z = Ref.matmul(flat, p.w, transposeB: p.outByIn)
        if let b = p.b { z = Ref.binary(z, b, +) }
        return Ref.map(z, act)
    }
    let n = parts.reduce(0) { $0 + $1.shape[1] }
    return Ref.reshape(Ref.concatenate(parts, axis: 1), Array(x.shape.dropLast()) + [n])
}

/// Multi-head attention in Float64: q rows from `q` (row width wq, head h at column qOffset + h·D), keys and values
/// from `k` and `v` likewise; mask additive per (b, t, s) (nil: none), dropout factors [B, NH, Tq, Tk] (nil: none).
private struct RefAttention {
    var heads: Int, d: Int
    var mask: ((Int, Int, Int) -> Double)? = nil
    var drop: Array64? = nil

    /// Context [B, Tq, NH·D] and probabilities [B, NH, Tq, Tk].
    func callAsFunction(
        q: Array64, qOffset: Int, k: Array64, kOffset: Int, v: Array64, vOffset: Int
    ) -> (Array64, Array64) {
        let (b, tq, tk) = (q.shape[0], q.shape[1], k.shape[1])
        var context = Array64(shape: [b, tq, heads * d], repeating: 0)
        var probs = Array64(shape: [b, heads, tq, tk], repeating: 0)
        for bi in 0..<b {
            for h in 0..<heads {
                for t in 0..<tq {
                    var s = (0..<tk).map { j -> Double in
                        var dot = 0.0
                        for c in 0..<d { dot += q[[bi, t, qOffset + h * d + c]] * k[[bi, j, kOffset + h * d + c]] }
                        return dot / Double(d).squareRoot() + (mask?(bi, t, j) ?? 0)
                    }
                    let m = s.max()!
                    s = s.map { Foundation.exp($0 - m) }
                    let total = s.reduce(0, +)
                    for j in 0..<tk {
                        let p = s[j] / total
                        probs[[bi, h, t, j]] = p
                        let used = p * (drop?[[bi, h, t, j]] ?? 1)
                        for c in 0..<d { context[[bi, t, h * d + c]] += used * v[[bi, j, vOffset + h * d + c]] }
                    }
                }
            }
        }
        return (context, probs)
    }
}

/// A [B, T] padding mask (row 1 pads its last `pad` keys) as additive scalars.
private func paddingMask(batch: Int, keys: Int, pad: Int) -> [Float] {
    (0..<(batch * keys)).map { i in i / keys == 1 && i % keys >= keys - pad ? -Float.greatestFiniteMagnitude : 0 }
}

// MARK: - Checks

@Suite struct GradientCheckFusedOps {
    @Test func denseWithEpilogues() {
        var r = Inputs(seed: 81)
        let x = r.uniform([2, 3, 5]), w1 = r.uniform([4, 5], -1, 1), b1 = r.uniform([4])
        let w2 = r.uniform([5, 3], -1, 1)
        let cases: [(String, Epilogue, (Double) -> Double)] = [
            ("identity", .identity, { $0 }), ("gelu", .gelu(.none), Ref.gelu), ("gelu tanh", .gelu(.tanh), Ref.geluTanh),
        ]
        for (name, epilogue, act) in cases {
            checkOp("dense [out, in] \(name)", [x, w1, b1]) {
                dense($0[0], [DenseWeight(weight: $0[1], bias: $0[2], layout: .outByIn)], epilogue: epilogue)
            } reference: {
                refDense($0[0], [($0[1], $0[2], true)], act)
            }
        }
        // Two weights side by side, one of each layout, one without a bias (BERT's Q|K|V, GPT-2's Conv1D).
        checkOp("dense side by side", [x, w1, b1, w2]) {
            dense(
                $0[0],
                [
                    DenseWeight(weight: $0[1], bias: $0[2], layout: .outByIn),
                    DenseWeight(weight: $0[3], bias: nil, layout: .inByOut),
                ], epilogue: .gelu(.none))
        } reference: {
            refDense($0[0], [($0[1], $0[2], true), ($0[3], nil, false)], Ref.gelu)
        }
    }

    @Test func packedAttentionWithPadding() {
        var r = Inputs(seed: 82)
        let (b, t, nh, d) = (2, 5, 2, 3)
        let h = nh * d
        let mask = paddingMask(batch: b, keys: t, pad: 2)
        let ref = RefAttention(heads: nh, d: d, mask: { bi, _, s in Double(mask[bi * t + s]) })
        checkOp("attention packed Q|K|V", [r.normal([b, t, 3 * h])]) {
            multiHeadAttention($0[0], heads: nh, mask: .keys(mask, keys: t)).context
        } reference: {
            ref(q: $0[0], qOffset: 0, k: $0[0], kOffset: h, v: $0[0], vOffset: 2 * h).0
        }
        // The probabilities, before dropout, are transformers' `attentions`.
        let qkv = r.normal([b, t, 3 * h])
        let probs = multiHeadAttention(qkv, heads: nh, mask: .keys(mask, keys: t), probabilities: true).probabilities!
        let want = ref(q: Array64(qkv), qOffset: 0, k: Array64(qkv), kOffset: h, v: Array64(qkv), vOffset: 2 * h).1
        expectClose(probs.scalars, want.data, tol: fwdTol, scale: { 1 + abs($0) }, "attention probabilities")
    }

    @Test func separateQueriesCausalMaskAndDropout() {
        var r = Inputs(seed: 83)
        let (b, tq, tk, nh, d) = (2, 3, 4, 2, 2)
        let h = nh * d
        let causal = (0..<(b * tq * tk)).map { i -> Float in
            let (t, s) = ((i / tk) % tq, i % tk)
            return s > t + tk - tq ? -Float.greatestFiniteMagnitude : 0
        }
        var g = RandomGenerator(seed: 9)
        let drop = dropoutMask([b, nh, tq, tk], p: 0.3, generator: &g)
        var ref = RefAttention(heads: nh, d: d, mask: { bi, t, s in Double(causal[(bi * tq + t) * tk + s]) })
        ref.drop = Array64(drop)
        checkOp("attention separate keys, causal, dropout", [r.normal([b, tq, h]), r.normal([b, tk, h]), r.normal([b, tk, h])]) {
            multiHeadAttention(
                $0[0], keys: .separate(keys: $0[1], values: $0[2]), heads: nh,
                mask: .full(causal, queries: tq, keys: tk), dropoutMask: drop
            ).context
        } reference: {
            ref(q: $0[0], qOffset: 0, k: $0[1], kOffset: 0, v: $0[2], vOffset: 0).0
        }
    }

    /// The gradient kept at the probabilities (Chefer et al.'s ∇A): C = (P ⊙ M)·V per head, so for F = Σ C ⊙ W it is
    /// dP[b, h, t, s] = M[b, h, t, s] · Σ_c W[b, t, h·D + c] · V[b, s, h·D + c], the exact derivative (F is linear in P).
    @Test(arguments: [false, true])
    func retainedProbabilityGradient(dropout: Bool) {
        var r = Inputs(seed: 85)
        let (b, t, nh, d) = (2, 4, 2, 3)
        let h = nh * d
        let mask = paddingMask(batch: b, keys: t, pad: 1)
        var g = RandomGenerator(seed: 10)
        let drop = dropout ? dropoutMask([b, nh, t, t], p: 0.3, generator: &g) : nil
        let qkv = r.normal([b, t, 3 * h]), w = r.normal([b, t, h])
        let kept = RetainedGradient()
        let tape = GradientTape()
        let (x, loss) = tape.record { () -> (Tensor, Tensor) in
            let x = tape.watch(qkv)
            let c = multiHeadAttention(
                x, heads: nh, mask: .keys(mask, keys: t), dropoutMask: drop, retainProbabilityGradient: kept
            ).context  // [B, T, H]
            return (x, (c * w).sum())
        }
        #expect(kept.gradient == nil)  // only the backward pass fills it
        _ = tape.gradients(of: loss, wrt: [x])
        let (v, wv, m) = (Array64(qkv), Array64(w), drop.map { Array64($0) })
        var want = [Double](repeating: 0, count: b * nh * t * t)
        for bi in 0..<b {
            for hd in 0..<nh {
                for i in 0..<t {
                    for j in 0..<t {
                        var dot = 0.0
                        for c in 0..<d { dot += wv[[bi, i, hd * d + c]] * v[[bi, j, 2 * h + hd * d + c]] }
                        want[((bi * nh + hd) * t + i) * t + j] = dot * (m?[[bi, hd, i, j]] ?? 1)
                    }
                }
            }
        }
        #expect(kept.gradient?.shape == [b, nh, t, t])
        expectClose(kept.gradient?.scalars ?? [], want, tol: fwdTol, scale: { 1 + abs($0) }, "retained dP")
    }

    /// Keys and values read from a cache whose last rows are the packed input's own: only those get gradients.
    @Test func cachedKeysGiveGradientsToTheNewRowsOnly() {
        var r = Inputs(seed: 84)
        let (b, t, past, nh, d) = (2, 2, 3, 2, 2)
        let (h, s) = (nh * d, past + 2)
        let pastKeys = r.normal([b, past, h]), pastValues = r.normal([b, past, h])
        // The cache as [B, NH, S, D] buffers: the past rows, then the input's keys and values.
        func cache(_ qkv: [Float], _ old: Tensor, column: Int) -> [Float] {
            var c = [Float](repeating: 0, count: b * nh * s * d)
            for bi in 0..<b {
                for hh in 0..<nh {
                    for j in 0..<s {
                        for e in 0..<d {
                            c[((bi * nh + hh) * s + j) * d + e] =
                                j < past
                                ? old.scalars[(bi * past + j) * h + hh * d + e]
                                : qkv[(bi * t + j - past) * 3 * h + column + hh * d + e]
                        }
                    }
                }
            }
            return c
        }
        let layout = AttentionKernel.Layout(batch: nh * s * d, head: s * d, row: d)
        checkOp("attention cached keys", [r.normal([b, t, 3 * h])]) { x in
            let keys = cache(x[0].scalars, pastKeys, column: h), values = cache(x[0].scalars, pastValues, column: 2 * h)
            return keys.withUnsafeBufferPointer { k in
                values.withUnsafeBufferPointer { v in
                    multiHeadAttention(
                        x[0], keys: .cached(keys: k.baseAddress!, values: v.baseAddress!, layout, count: s), heads: nh,
                        mask: nil
                    ).context
                }
            }
        } reference: { x in
            let k = Ref.concatenate([Array64(pastKeys), Ref.slice(x[0], axis: 2, h..<(2 * h))], axis: 1)
            let v = Ref.concatenate([Array64(pastValues), Ref.slice(x[0], axis: 2, (2 * h)..<(3 * h))], axis: 1)
            return RefAttention(heads: nh, d: d)(q: x[0], qOffset: 0, k: k, kOffset: 0, v: v, vOffset: 0).0
        }
    }

    @Test func residualLayerNorm() {
        var r = Inputs(seed: 85)
        checkOp("layerNorm(x + residual)", [r.normal([2, 3, 7]), r.normal([2, 3, 7]), r.uniform([7], 0.5, 1.5), r.uniform([7])]) {
            layerNorm($0[0], residual: $0[1], weight: $0[2], bias: $0[3], eps: 1e-5)
        } reference: {
            Ref.layerNorm(Ref.binary($0[0], $0[1], +), weight: $0[2], bias: $0[3], eps: 1e-5)
        }
        // With the preceding product's bias as a shift.
        let inputs = [r.normal([2, 3, 7]), r.normal([7]), r.normal([2, 3, 7]), r.uniform([7], 0.5, 1.5), r.uniform([7])]
        checkOp("layerNorm((x + shift) + residual)", inputs) {
            layerNorm($0[0], shift: $0[1], residual: $0[2], weight: $0[3], bias: $0[4], eps: 1e-5)
        } reference: {
            Ref.layerNorm(Ref.binary(Ref.binary($0[0], $0[1], +), $0[2], +), weight: $0[3], bias: $0[4], eps: 1e-5)
        }
    }

    @Test(arguments: [false, true])
    func embeddingSumWithAndWithoutNorm(norm: Bool) {
        var r = Inputs(seed: 86)
        let (b, t, n) = (2, 3, 5)
        let types = [0, 1, 1, 0, 0, 1], positions = [0, 1, 2, 0, 1, 2]
        var inputs = [r.normal([b, t, n]), r.normal([2, n]), r.normal([4, n])]
        if norm { inputs += [r.uniform([n], 0.5, 1.5), r.uniform([n])] }
        checkOp("embeddingSum norm \(norm)", inputs) { x in
            embeddingSum(
                Array(x[0..<3]), indices: [nil, types, positions], shape: [b, t],
                norm: norm ? (x[3], x[4], 1e-12) : nil)
        } reference: { x in
            let sum = Ref.binary(
                Ref.binary(x[0], Ref.embedding(x[1], indices: types, shape: [b, t]), +),
                Ref.embedding(x[2], indices: positions, shape: [b, t]), +)
            return norm ? Ref.layerNorm(sum, weight: x[3], bias: x[4], eps: 1e-12) : sum
        }
    }
}
