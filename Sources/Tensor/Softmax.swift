// Numerically stable softmax and log-softmax along any axis, with fused row kernels and VJPs.
import Foundation

/// Row kernels over the last axis; rows are contiguous runs of `n` elements.
enum SoftmaxKernels {
    /// y = e^(x − max) / Σ e^(x − max) per row. With `log`, y = x − max − log Σ e^(x − max).
    static func forward(_ x: UnsafeBufferPointer<Float>, _ y: UnsafeMutableBufferPointer<Float>, n: Int, log: Bool) {
        let rows = n == 0 ? 0 : x.count / n
        guard rows > 0 else { return }
        let px = x.baseAddress!, py = y.baseAddress!
        parallelChunks(rows, minimum: Swift.max(1, (1 << 16) / n), align: 1) { range in
            for r in range { row(px + r * n, py + r * n, n: n, log: log) }
        }
    }

    /// One row in three passes over memory that stays in L1: the max; e^(x − max) stored and summed in the
    /// same pass; the scaling (softmax) or the log-sum subtraction (log-softmax). Sixteen lanes with two
    /// accumulators; the tail runs through the same vector code padded with −inf (e^−inf = 0 adds nothing).
    @inline(__always)
    static func row(_ xr: UnsafePointer<Float>, _ yr: UnsafeMutablePointer<Float>, n: Int, log: Bool) {
        let tail = n % 16, body = n - tail
        var m0 = FloatV(repeating: -.infinity), m1 = m0
        var i = 0
        while i + 32 <= body {
            let v0 = load(xr + i), v1 = load(xr + i + 16)
            m0.replace(with: v0, where: v0 .> m0)
            m1.replace(with: v1, where: v1 .> m1)
            i += 32
        }
        if i < body {
            let v = load(xr + i)
            m0.replace(with: v, where: v .> m0)
        }
        if tail > 0 {
            let v = loadPartial(xr + body, tail, pad: -.infinity)
            m1.replace(with: v, where: v .> m1)
        }
        m0.replace(with: m1, where: m1 .> m0)
        var m = m0.max()
        if m == -.infinity { m = 0 }  // a fully masked row: all −inf gives NaN, as in PyTorch
        let mv = FloatV(repeating: m)
        var s0 = FloatV(repeating: 0), s1 = s0
        i = 0
        // Four exps per step (independent dependency chains of ~20 operations each; see map1). x − max ≤ 0, so
        // the exp needs no upper clamp.
        while i + 64 <= body {
            let e0 = vexpBoundedAbove(load(xr + i) - mv), e1 = vexpBoundedAbove(load(xr + i + 16) - mv)
            let e2 = vexpBoundedAbove(load(xr + i + 32) - mv), e3 = vexpBoundedAbove(load(xr + i + 48) - mv)
            if !log {
                store(e0, yr + i)
                store(e1, yr + i + 16)
                store(e2, yr + i + 32)
                store(e3, yr + i + 48)
            }
            s0 += e0 + e2
            s1 += e1 + e3
            i += 64
        }
        while i + 16 <= body {
            let e = vexpBoundedAbove(load(xr + i) - mv)
            if !log { store(e, yr + i) }
            s0 += e
            i += 16
        }
        if tail > 0 {
            let e = vexpBoundedAbove(loadPartial(xr + body, tail, pad: -.infinity) - mv)
            if !log { storePartial(e, yr + body, tail) }
            s1 += e
        }
        let s = (s0 + s1).sum()
        if log {
            // (x − max) − log Σ, in that order: folding max + log Σ first would round at the
            // scale of max and lose digits for large logits (PyTorch subtracts in this order).
            let logSum = FloatV(repeating: logf(s))
            i = 0
            while i < body {
                store((load(xr + i) - mv) - logSum, yr + i)
                i += 16
            }
            if tail > 0 { storePartial((loadPartial(xr + body, tail) - mv) - logSum, yr + body, tail) }
        } else {
            let inv = FloatV(repeating: 1 / s)
            i = 0
            while i < body {
                store(load(yr + i) * inv, yr + i)
                i += 16
            }
            if tail > 0 { storePartial(loadPartial(yr + body, tail) * inv, yr + body, tail) }
        }
    }

    /// Softmax VJP per row: dx = y ⊙ (g − Σ g⊙y). Log-softmax VJP: dx = g − softmax ⊙ Σ g.
    static func backward(
        _ y: UnsafeBufferPointer<Float>, _ g: UnsafeBufferPointer<Float>, _ dx: UnsafeMutableBufferPointer<Float>,
        n: Int, log: Bool
    ) {
        let rows = n == 0 ? 0 : y.count / n
        for r in 0..<rows {
            let yr = y.baseAddress! + r * n, gr = g.baseAddress! + r * n, dr = dx.baseAddress! + r * n
            var dot: Float = 0
            if log {
                for i in 0..<n { dot += gr[i] }
                for i in 0..<n { dr[i] = gr[i] - fastExp(yr[i]) * dot }
            } else {
                for i in 0..<n { dot += gr[i] * yr[i] }
                for i in 0..<n { dr[i] = yr[i] * (gr[i] - dot) }
            }
        }
    }
}

private func softmaxLike(_ x: Tensor, axis: Int, log: Bool) -> Tensor {
    let ax = normalizeAxis(axis, rank: x.rank, log ? "logSoftmax" : "softmax")
    if ax != x.rank - 1 {
        // Move the axis last, apply, move it back; the permutes carry their own VJPs.
        return softmaxLike(x.transposed(ax, -1), axis: -1, log: log).transposed(ax, -1)
    }
    let n = x.shape.last ?? 1
    let y = Tensor(shape: x.shape) { out in
        x.withUnsafeBufferPointer { SoftmaxKernels.forward($0, out, n: n, log: log) }
    }
    return y.recorded(from: x) { g in
        Tensor(shape: g.shape) { dx in
            y.withUnsafeBufferPointer { yb in
                g.withUnsafeBufferPointer { gb in SoftmaxKernels.backward(yb, gb, dx, n: n, log: log) }
            }
        }
    }
}

/// softmax(x)_i = e^{x_i − max x} / Σ_j e^{x_j − max x} along `axis`.
public func softmax(_ x: Tensor, axis: Int = -1) -> Tensor { softmaxLike(x, axis: axis, log: false) }

/// log softmax along `axis`, computed as x − max − log Σ e^{x − max} (no overflow, no log 0).
public func logSoftmax(_ x: Tensor, axis: Int = -1) -> Tensor { softmaxLike(x, axis: axis, log: true) }
