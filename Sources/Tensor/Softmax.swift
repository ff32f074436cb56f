// Numerically stable softmax and log-softmax along any axis, with fused row kernels and VJPs.
import Foundation

/// Row kernels over the last axis; rows are contiguous runs of `n` elements.
enum SoftmaxKernels {
    /// y = e^(x − max) / Σ e^(x − max) per row. With `log`, y = x − max − log Σ e^(x − max).
    static func forward(_ x: UnsafeBufferPointer<Float>, _ y: UnsafeMutableBufferPointer<Float>, n: Int, log: Bool) {
        let rows = n == 0 ? 0 : x.count / n
        let px = x.baseAddress, py = y.baseAddress
        parallelChunks(rows, minimum: Swift.max(1, (1 << 16) / Swift.max(n, 1)), align: 1) { range in
        for r in range {
            let xr = px! + r * n, yr = py! + r * n
            var mv = Float8(repeating: -.infinity)
            var i = 0
            while i + 8 <= n {
                let v = UnsafeRawPointer(xr + i).loadUnaligned(as: Float8.self)
                mv.replace(with: v, where: v .> mv)
                i += 8
            }
            var m = mv.max()
            while i < n {
                m = Swift.max(m, xr[i])
                i += 1
            }
            if m == -.infinity { m = 0 }  // a fully masked row: all −inf gives NaN, as in PyTorch
            let mvec = Float8(repeating: m)
            var sv = Float8(repeating: 0)
            i = 0
            while i + 8 <= n {
                let e = vexp(UnsafeRawPointer(xr + i).loadUnaligned(as: Float8.self) - mvec)
                if !log { UnsafeMutableRawPointer(yr + i).storeBytes(of: e, as: Float8.self) }
                sv += e
                i += 8
            }
            var s = sv.sum()
            while i < n {
                let e = fastExp(xr[i] - m)
                if !log { yr[i] = e }
                s += e
                i += 1
            }
            if log {
                // (x − max) − log Σ, in that order: folding max + log Σ first would round at the
                // scale of max and lose digits for large logits (PyTorch subtracts in this order).
                let logSum = Float8(repeating: logf(s))
                i = 0
                while i + 8 <= n {
                    let v = (UnsafeRawPointer(xr + i).loadUnaligned(as: Float8.self) - mvec) - logSum
                    UnsafeMutableRawPointer(yr + i).storeBytes(of: v, as: Float8.self)
                    i += 8
                }
                while i < n {
                    yr[i] = (xr[i] - m) - logSum[0]
                    i += 1
                }
            } else {
                let inv = Float8(repeating: 1 / s)
                i = 0
                while i + 8 <= n {
                    let v = UnsafeRawPointer(yr + i).loadUnaligned(as: Float8.self) * inv
                    UnsafeMutableRawPointer(yr + i).storeBytes(of: v, as: Float8.self)
                    i += 8
                }
                while i < n {
                    yr[i] *= inv[0]
                    i += 1
                }
            }
        }
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
