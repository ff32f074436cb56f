// Multi-head scaled dot-product attention on raw buffers: per (batch, head) strided GEMMs, no permute copies.
//
// softmax(scale·Q·Kᵀ + mask)·V, one (batch, head) pair at a time (Vaswani et al. 2017, §3.2.1): the
// scores come from `sgemm` reading Q and K where they lie (a head is a column block of a packed
// [T, 3H] projection, or a [S, D] block of a KV cache: only the strides differ), the masked softmax
// runs in place on each score row, and the context GEMM writes the head's columns of the [T, H]
// output directly, so there is no [B, NH, T, D] split or merge copy. Pairs run in parallel on all
// threads with OpenBLAS on one thread each (`Parallel.forEach`). The tape op `attention` (AttentionOp.swift)
// runs it and holds its VJP.
//
// Dimension legend: B batch, NH heads, Tq query rows, Tk key rows, D head size.

public enum AttentionKernel {
    /// Where a [B, NH, rows, D] operand lives: element (b, h, t, j) is at base + b·batch + h·head + t·row + j.
    public struct Layout: Sendable {
        public var batch, head, row: Int
        public init(batch: Int, head: Int, row: Int) {
            (self.batch, self.head, self.row) = (batch, head, row)
        }
    }

    /// context[b, t, h·D + j] (through `contextLayout`) = Σ_s softmax_s(scale·q·kᵀ + mask)[t, s] · v[s, j].
    /// `mask` is additive, row (b, t) at mask + b·maskBatchStride + t·maskRowStride (0 to share one row);
    /// masked entries hold −Float.greatestFiniteMagnitude, as transformers' masks, so a fully masked row is
    /// uniform, as there. `probabilities`, when given, receives softmax rows as [B, NH, Tq, Tk] (contiguous).
    /// `dropout`: [B, NH, Tq, Tk] factors (0 or 1/(1 − p)) applied to the probabilities before the context product.
    public static func forward(
        batch: Int, heads: Int, queries tq: Int, keys tk: Int, headSize d: Int, scale: Float,
        q: UnsafePointer<Float>, _ ql: Layout, k: UnsafePointer<Float>, _ kl: Layout,
        v: UnsafePointer<Float>, _ vl: Layout,
        mask: UnsafePointer<Float>?, maskBatchStride: Int, maskRowStride: Int,
        context: UnsafeMutablePointer<Float>, _ cl: Layout, probabilities: UnsafeMutablePointer<Float>?,
        dropout: UnsafePointer<Float>? = nil
    ) {
        let pairs = batch * heads
        guard pairs > 0, tq > 0 else { return }
        // Below ~64 K multiply-adds per call (a decode step's dozen heads), waking a thread costs more.
        let serial = pairs * tq * tk * d < 1 << 16
        let workers = Parallel.workers(pairs, serial: serial)
        let scratch: UnsafeMutablePointer<Float>? =
            probabilities == nil || dropout != nil ? .allocate(capacity: workers * tq * Swift.max(tk, 1)) : nil
        defer { scratch?.deallocate() }
        Parallel.forEach(pairs, serial: serial) { pair, worker in
            let (b, h) = (pair / heads, pair % heads)
            let scores = probabilities.map { $0 + pair * tq * tk } ?? scratch! + worker * tq * tk
            let cOut = context + b * cl.batch + h * cl.head
            if tk == 0 {  // nothing to attend to: softmax over an empty row gives an empty sum
                for t in 0..<tq { (cOut + t * cl.row).initialize(repeating: 0, count: d) }
                return
            }
            sgemm(
                transA: false, transB: true, m: tq, n: tk, k: d, alpha: scale,
                a: q + b * ql.batch + h * ql.head, lda: ql.row, b: k + b * kl.batch + h * kl.head, ldb: kl.row,
                c: scores, ldc: tk, parallel: serial)
            for t in 0..<tq {
                softmaxRow(scores + t * tk, tk, mask.map { $0 + b * maskBatchStride + t * maskRowStride })
            }
            var used = UnsafePointer(scores)
            if let dropout, let probabilities {  // P̃ = P ⊙ M in the worker's scratch, P kept
                let dropped = scratch! + worker * tq * tk, m = dropout + pair * tq * tk
                for i in 0..<(tq * tk) { dropped[i] = probabilities[pair * tq * tk + i] * m[i] }
                used = UnsafePointer(dropped)
            } else if let dropout {
                let m = dropout + pair * tq * tk
                for i in 0..<(tq * tk) { scores[i] *= m[i] }
            }
            sgemm(
                transA: false, transB: false, m: tq, n: d, k: tk, a: used, lda: tk,
                b: v + b * vl.batch + h * vl.head, ldb: vl.row, c: cOut, ldc: cl.row, parallel: serial)
        }
    }

    /// In place: x = softmax(x + mask) over one row of n, with `softmax`'s arithmetic (8-lane max and sum,
    /// e^(x − max) through `vexp`, then multiplication by 1/Σ).
    @inline(__always)
    static func softmaxRow(_ x: UnsafeMutablePointer<Float>, _ n: Int, _ mask: UnsafePointer<Float>?) {
        var mv = Float8(repeating: -.infinity)
        var i = 0
        while i + 8 <= n {
            var v = UnsafeRawPointer(x + i).loadUnaligned(as: Float8.self)
            if let mask {
                v += UnsafeRawPointer(mask + i).loadUnaligned(as: Float8.self)
                UnsafeMutableRawPointer(x + i).storeBytes(of: v, as: Float8.self)
            }
            mv.replace(with: v, where: v .> mv)
            i += 8
        }
        var m = mv.max()
        while i < n {
            if let mask { x[i] += mask[i] }
            m = Swift.max(m, x[i])
            i += 1
        }
        if m == -.infinity { m = 0 }
        let mvec = Float8(repeating: m)
        var sv = Float8(repeating: 0)
        i = 0
        while i + 8 <= n {
            let e = vexp(UnsafeRawPointer(x + i).loadUnaligned(as: Float8.self) - mvec)
            UnsafeMutableRawPointer(x + i).storeBytes(of: e, as: Float8.self)
            sv += e
            i += 8
        }
        var s = sv.sum()
        while i < n {
            let e = fastExp(x[i] - m)
            x[i] = e
            s += e
            i += 1
        }
        let inv = Float8(repeating: 1 / s)
        i = 0
        while i + 8 <= n {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: Float8.self) * inv
            UnsafeMutableRawPointer(x + i).storeBytes(of: v, as: Float8.self)
            i += 8
        }
        while i < n {
            x[i] *= inv[0]
            i += 1
        }
    }
}
