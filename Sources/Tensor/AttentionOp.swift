// Multi-head scaled dot-product attention as one tape op: `AttentionKernel.forward`, and its VJP beside it.
//
// The forward reads Q, K and V where a dense op left them (a packed [B, T, 3H] projection, a query tensor and a
// [B, T, 2H] key|value tensor, or a KV cache) and writes the context [B, Tq, H] with no split or merge copies. The
// VJP keeps the softmax probabilities P (what `outputAttentions` returns anyway, [B, NH, Tq, Tk]) rather than
// recomputing them as FlashAttention's backward does: at the lengths of text classification P is small next to the
// activations, and keeping it saves a second Q·Kᵀ. Per (batch, head) pair, with S = scale·Q·Kᵀ + mask,
// P = softmax(S), P̃ = P ⊙ M (dropout) and C = P̃·V (Vaswani et al. 2017, §3.2.1):
//   dV = P̃ᵀ·dC,  dP = (dC·Vᵀ) ⊙ M,  dS = P ⊙ (dP − rowsum(dP ⊙ P)),  dQ = scale·dS·K,  dK = scale·dSᵀ·Q.
//
// Dimension legend: B batch, NH heads, Tq query rows, Tk key rows, D head size, H = NH·D.

/// An additive attention mask: entry (b, t, s) at scalars[b·batchStride + t·rowStride + s]; masked entries hold
/// −Float.greatestFiniteMagnitude, as transformers' masks (a fully masked row is then uniform, as there).
public struct AttentionMask: Sendable {
    public let scalars: [Float]
    public let batchStride: Int, rowStride: Int

    /// [B, Tk], shared by every query row (BERT's padding mask).
    public static func keys(_ scalars: [Float], keys: Int) -> AttentionMask {
        AttentionMask(scalars: scalars, batchStride: keys, rowStride: 0)
    }

    /// [B, Tq, Tk] (GPT-2's causal and padding mask).
    public static func full(_ scalars: [Float], queries: Int, keys: Int) -> AttentionMask {
        AttentionMask(scalars: scalars, batchStride: queries * keys, rowStride: keys)
    }
}

/// Where attention finds its keys and values.
public enum AttentionKeys {
    /// In the query tensor's columns H..<2H and 2H..<3H (a packed [B, T, 3H] projection): Tk = Tq.
    case packed
    /// In [B, Tk, H] tensors of their own.
    case separate(keys: Tensor, values: Tensor)
    /// In a KV cache's [B, NH, Tk, D] buffers (valid during the call), whose last Tq rows are the packed query
    /// tensor's own keys and values, already copied there: only those rows receive gradients.
    case cached(keys: UnsafePointer<Float>, values: UnsafePointer<Float>, AttentionKernel.Layout, count: Int)
}

/// A gradient kept from a backward pass for a tensor that is not one of the tape's inputs, as PyTorch's
/// `retain_grad()`: `multiHeadAttention` stores ∂F/∂P of its probabilities here (what Chefer et al.'s code collects
/// with a hook on the attention map). Written once by the backward pass, on the thread that runs it.
public final class RetainedGradient: @unchecked Sendable {
    public private(set) var gradient: Tensor?
    public init() {}
    func store(_ g: Tensor) { gradient = g }
}

/// softmax(Q·Kᵀ/√D + mask)·V over `heads` heads. `qkv`: [B, Tq, 3H] for `.packed` and `.cached` keys, [B, Tq, H]
/// (queries only) for `.separate` ones. Returns the context [B, Tq, H] and, when `probabilities`, the softmax rows
/// [B, NH, Tq, Tk] (before dropout, as transformers' `attentions`; not differentiable). `dropoutMask`:
/// [B, NH, Tq, Tk] of 0 and 1/(1 − p) (`dropoutMask(_:p:generator:)`), applied to the probabilities.
/// `retainProbabilityGradient`: when a taped backward pass runs through this op, it stores there dP [B, NH, Tq, Tk],
/// the gradient with respect to the probabilities before dropout, (dC·Vᵀ) ⊙ M.
public func multiHeadAttention(
    _ qkv: Tensor, keys: AttentionKeys = .packed, heads: Int, mask: AttentionMask?, probabilities wanted: Bool = false,
    dropoutMask: Tensor? = nil, retainProbabilityGradient retained: RetainedGradient? = nil
) -> (context: Tensor, probabilities: Tensor?) {
    check(qkv.rank == 3 && heads > 0, "multiHeadAttention: input \(qkv.shape) with \(heads) heads")
    let (b, tq) = (qkv.shape[0], qkv.shape[1])
    var kv: (keys: Tensor, values: Tensor)? = nil
    let h: Int, tk: Int
    switch keys {
    case .packed, .cached:
        check(qkv.shape[2] % 3 == 0, "multiHeadAttention: packed Q|K|V \(qkv.shape) is not 3H wide")
        h = qkv.shape[2] / 3
        if case .cached(_, _, _, let count) = keys {
            check(count >= tq, "multiHeadAttention: a cache of \(count) keys for \(tq) new rows")
            tk = count
        } else {
            tk = tq
        }
    case .separate(let k, let v):
        h = qkv.shape[2]
        check(
            k.rank == 3 && k.shape[0] == b && k.shape[2] == h && v.shape == k.shape,
            "multiHeadAttention: keys \(k.shape) and values \(v.shape) for queries \(qkv.shape)")
        (kv, tk) = ((k, v), k.shape[1])
    }
    check(h % heads == 0, "multiHeadAttention: width \(h) is not a multiple of \(heads) heads")
    let d = h / heads
    if let mask {
        check(
            mask.scalars.count >= (b - 1) * mask.batchStride + (tq - 1) * mask.rowStride + tk,
            "multiHeadAttention: a mask of \(mask.scalars.count) values for [\(b), \(tq), \(tk)]")
    }
    if let dropoutMask { check(dropoutMask.shape == [b, heads, tq, tk], "multiHeadAttention: dropout mask \(dropoutMask.shape)") }
    let inputs = [qkv] + (kv.map { [$0.keys, $0.values] } ?? [])
    let recording = inputs.contains { $0.isRecording }
    let scale = 1 / Float(d).squareRoot()
    let row = qkv.shape[2]
    let ql = AttentionKernel.Layout(batch: tq * row, head: d, row: row)
    let kvl = kv == nil ? ql : AttentionKernel.Layout(batch: tk * h, head: d, row: h)
    let cl = AttentionKernel.Layout(batch: tq * h, head: d, row: h)
    var probs: Tensor? = wanted || recording ? Tensor(shape: [b, heads, tq, tk]) { _ in } : nil  // all written
    // A cache's keys and values, copied when a VJP will need them after the cache has moved on.
    var saved: (keys: Tensor, values: Tensor)? = nil
    let context = Tensor(shape: [b, tq, h]) { out in
        guard out.count > 0 else { return }
        qkv.withUnsafeBufferPointer { pq in
            let q = pq.baseAddress!
            func run(_ k: UnsafePointer<Float>, _ v: UnsafePointer<Float>, _ kl: AttentionKernel.Layout) {
                withOptionalPointer(dropoutMask) { dm in
                    withOptionalMutablePointer(&probs) { pp in
                        withOptionalArray(mask?.scalars) { pm in
                            AttentionKernel.forward(
                                batch: b, heads: heads, queries: tq, keys: tk, headSize: d, scale: scale, q: q, ql,
                                k: k, kl, v: v, kl, mask: pm, maskBatchStride: mask?.batchStride ?? 0,
                                maskRowStride: mask?.rowStride ?? 0, context: out.baseAddress!, cl, probabilities: pp,
                                dropout: dm)
                        }
                    }
                }
            }
            switch keys {
            case .packed: run(q + h, q + 2 * h, ql)
            case .separate(let k, let v):
                k.withUnsafeBufferPointer { pk in v.withUnsafeBufferPointer { run(pk.baseAddress!, $0.baseAddress!, kvl) } }
            case .cached(let k, let v, let layout, _):
                run(k, v, layout)
                if recording { saved = (copyHeads(k, layout, b, heads, tk, d), copyHeads(v, layout, b, heads, tk, d)) }
            }
        }
    }
    guard recording else { return (context, wanted ? probs : nil) }
    let (qd, kd, vd, pd, md) = (qkv.detached, kv?.keys.detached, kv?.values.detached, probs!, dropoutMask?.detached)
    let cachedRows: Bool
    if case .cached = keys { cachedRows = true } else { cachedRows = false }
    let result = context.recorded(from: inputs) { g, needs in
        var dq = Tensor.zeros(qd.shape)
        var (dk, dv) = (kd.map { Tensor.zeros($0.shape) }, vd.map { Tensor.zeros($0.shape) })
        var dp = retained.map { _ in Tensor.zeros([b, heads, tq, tk]) }  // [B, NH, Tq, Tk]
        defer { if let retained, let dp { retained.store(dp) } }
        guard b > 0, tq > 0, tk > 0, d > 0 else { return kd == nil ? [dq] : [dq, dk, dv] }
        withOptionalMutablePointer(&dp) { pdp in withOptionalPointer(md) { dm in
            pd.withUnsafeBufferPointer { pp in
                g.withUnsafeBufferPointer { pg in
                    qd.withUnsafeBufferPointer { pq in
                        dq.withUnsafeMutableBufferPointer { pdq in
                            let q = pq.baseAddress!, dqp = pdq.baseAddress!
                            var grads = AttentionKernel.Gradients(
                                q: q, ql, k: q + h, v: q + 2 * h, kvl, dq: dqp, dk: dqp + h, dv: dqp + 2 * h,
                                newRows: cachedRows ? tq : nil)
                            func backward() {
                                AttentionKernel.backward(
                                    batch: b, heads: heads, queries: tq, keys: tk, headSize: d, scale: scale,
                                    grads, probabilities: pp.baseAddress!, dropout: dm, dContext: pg.baseAddress!, cl,
                                    dProbabilities: pdp)
                            }
                            if let kd, let vd {
                                kd.withUnsafeBufferPointer { pk in
                                    vd.withUnsafeBufferPointer { pv in
                                        withOptionalMutablePointer(&dk) { pdk in
                                            withOptionalMutablePointer(&dv) { pdv in
                                                (grads.k, grads.v, grads.kvl) = (pk.baseAddress!, pv.baseAddress!, kvl)
                                                (grads.dk, grads.dv) = (pdk!, pdv!)
                                                backward()
                                            }
                                        }
                                    }
                                }
                            } else if let saved {
                                saved.keys.withUnsafeBufferPointer { pk in
                                    saved.values.withUnsafeBufferPointer { pv in
                                        (grads.k, grads.v) = (pk.baseAddress!, pv.baseAddress!)
                                        grads.kvl = AttentionKernel.Layout(batch: heads * tk * d, head: tk * d, row: d)
                                        backward()
                                    }
                                }
                            } else {
                                backward()
                            }
                        }
                    }
                }
            }
        } }
        return kd == nil ? [dq] : [dq, dk, dv]
    }
    return (result, wanted ? probs : nil)
}

/// Calls `body` with the array's elements, or nil for no array.
private func withOptionalArray<R>(_ a: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let a else { return body(nil) }
    return a.withUnsafeBufferPointer { body($0.baseAddress) }
}

/// A [B, NH, Tk, D] contiguous copy of keys or values found through `layout`.
private func copyHeads(
    _ src: UnsafePointer<Float>, _ layout: AttentionKernel.Layout, _ b: Int, _ nh: Int, _ tk: Int, _ d: Int
) -> Tensor {
    Tensor(shape: [b, nh, tk, d]) { out in
        guard out.count > 0 else { return }
        for i in 0..<b {
            for j in 0..<nh {
                for t in 0..<tk {
                    (out.baseAddress! + ((i * nh + j) * tk + t) * d).update(
                        from: src + i * layout.batch + j * layout.head + t * layout.row, count: d)
                }
            }
        }
    }
}

extension AttentionKernel {
    /// The operands of a backward pass: Q, K, V where the forward read them, and where their gradients go (same
    /// layouts). `newRows`: keys and values came from a cache whose last `newRows` rows are the packed Q|K|V's own;
    /// dK and dV of those rows are added to `dk`/`dv` at the query layout, the rest (the past) are dropped.
    struct Gradients {
        var q: UnsafePointer<Float>, ql: Layout
        var k: UnsafePointer<Float>, v: UnsafePointer<Float>, kvl: Layout
        var dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>
        var newRows: Int?

        init(
            q: UnsafePointer<Float>, _ ql: Layout, k: UnsafePointer<Float>, v: UnsafePointer<Float>, _ kvl: Layout,
            dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
            newRows: Int?
        ) {
            (self.q, self.ql, self.k, self.v, self.kvl) = (q, ql, k, v, kvl)
            (self.dq, self.dk, self.dv, self.newRows) = (dq, dk, dv, newRows)
        }
    }

    /// The VJP of `forward` (see the file header): dQ, dK and dV written (not accumulated) through their layouts,
    /// one (batch, head) pair per task; a pair's gradient columns are its own, so pairs run in parallel.
    /// `probabilities`: the forward's [B, NH, Tq, Tk] rows; `dropout`: its mask, same shape. `dProbabilities`, when
    /// given: where dP ⊙ M (the gradient at the probabilities before dropout) goes, [B, NH, Tq, Tk].
    static func backward(
        batch: Int, heads: Int, queries tq: Int, keys tk: Int, headSize d: Int, scale: Float, _ o: Gradients,
        probabilities: UnsafePointer<Float>, dropout: UnsafePointer<Float>?, dContext: UnsafePointer<Float>,
        _ cl: Layout, dProbabilities: UnsafeMutablePointer<Float>? = nil
    ) {
        let pairs = batch * heads
        guard pairs > 0, tq > 0, tk > 0, d > 0 else { return }
        let serial = pairs * tq * tk * d < 1 << 16
        let workers = Parallel.workers(pairs, serial: serial)
        // Per worker: dS [Tq, Tk], P̃ [Tq, Tk] (dropout), dK and dV [Tk, D] (cache).
        let cached = o.newRows != nil
        let per = tq * tk * (dropout == nil ? 1 : 2) + (cached ? 2 * tk * d : 0)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: workers * per)
        defer { scratch.deallocate() }
        Parallel.forEach(pairs, serial: serial) { pair, worker in
            let (bi, hi) = (pair / heads, pair % heads)
            let ds = scratch + worker * per
            let p = probabilities + pair * tq * tk
            var used = p  // P̃
            if let dropout {
                let pt = ds + tq * tk, m = dropout + pair * tq * tk
                for i in 0..<(tq * tk) { pt[i] = p[i] * m[i] }
                used = UnsafePointer(pt)
            }
            let dc = dContext + bi * cl.batch + hi * cl.head
            let q = o.q + bi * o.ql.batch + hi * o.ql.head
            let k = o.k + bi * o.kvl.batch + hi * o.kvl.head, v = o.v + bi * o.kvl.batch + hi * o.kvl.head
            let (dk, dv, ldkv): (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, Int) =
                cached
                ? (ds + tq * tk * (dropout == nil ? 1 : 2), ds + tq * tk * (dropout == nil ? 1 : 2) + tk * d, d)
                : (o.dk + bi * o.kvl.batch + hi * o.kvl.head, o.dv + bi * o.kvl.batch + hi * o.kvl.head, o.kvl.row)
            // dV = P̃ᵀ·dC: [Tk, D]
            sgemm(
                transA: true, transB: false, m: tk, n: d, k: tq, a: used, lda: tk, b: dc, ldb: cl.row, c: dv, ldc: ldkv,
                parallel: serial)
            // dP = dC·Vᵀ: [Tq, Tk], then dS in place
            sgemm(
                transA: false, transB: true, m: tq, n: tk, k: d, a: dc, lda: cl.row, b: v, ldb: o.kvl.row, c: ds,
                ldc: tk, parallel: serial)
            if let out = dProbabilities.map({ $0 + pair * tq * tk }) {
                if let dropout {
                    let m = dropout + pair * tq * tk
                    for i in 0..<(tq * tk) { out[i] = ds[i] * m[i] }
                } else {
                    out.update(from: ds, count: tq * tk)
                }
            }
            for t in 0..<tq {
                softmaxBackwardRow(
                    ds + t * tk, p + t * tk, dropout.map { $0 + pair * tq * tk + t * tk }, tk, scale: scale)
            }
            // dQ = dS·K: [Tq, D]; dK = dSᵀ·Q: [Tk, D]
            sgemm(
                transA: false, transB: false, m: tq, n: d, k: tk, a: ds, lda: tk, b: k, ldb: o.kvl.row,
                c: o.dq + bi * o.ql.batch + hi * o.ql.head, ldc: o.ql.row, parallel: serial)
            sgemm(
                transA: true, transB: false, m: tk, n: d, k: tq, a: ds, lda: tk, b: q, ldb: o.ql.row, c: dk, ldc: ldkv,
                parallel: serial)
            if let new = o.newRows {  // the cache's last `new` rows are this call's own keys and values
                for t in 0..<new {
                    let at = bi * o.ql.batch + hi * o.ql.head + t * o.ql.row
                    FusedKernels.addRow(o.dk + at, o.dk + at, dk + (tk - new + t) * d, nil, d)
                    FusedKernels.addRow(o.dv + at, o.dv + at, dv + (tk - new + t) * d, nil, d)
                }
            }
        }
    }

    /// In place: r = scale·p ⊙ (r⊙m − Σ (r⊙m)⊙p) over one row of n (the softmax VJP, the dropout mask m first),
    /// sixteen lanes at a time, tails padded with zeros.
    @inline(__always)
    static func softmaxBackwardRow(
        _ r: UnsafeMutablePointer<Float>, _ p: UnsafePointer<Float>, _ m: UnsafePointer<Float>?, _ n: Int,
        scale: Float
    ) {
        var acc = FloatV(repeating: 0)
        var i = 0
        while i < n {
            let k = Swift.min(16, n - i)
            var g = k == 16 ? load(r + i) : loadPartial(r + i, k)
            if let m {
                g *= k == 16 ? load(m + i) : loadPartial(m + i, k)
                k == 16 ? store(g, r + i) : storePartial(g, r + i, k)
            }
            acc += g * (k == 16 ? load(p + i) : loadPartial(p + i, k))
            i += 16
        }
        let dot = FloatV(repeating: acc.sum()), sv = FloatV(repeating: scale)
        i = 0
        while i < n {
            let k = Swift.min(16, n - i)
            let pv = k == 16 ? load(p + i) : loadPartial(p + i, k)
            let v = pv * ((k == 16 ? load(r + i) : loadPartial(r + i, k)) - dot) * sv
            k == 16 ? store(v, r + i) : storePartial(v, r + i, k)
            i += 16
        }
    }
}
