// Layer normalisation over the last axis: fused forward and fused backward (after llm.c layernorm_*).

enum LayerNormKernels {
    /// Per row: mean μ, rstd = 1/√(var + eps) (biased variance, as PyTorch), y = (x − μ)·rstd·w + b.
    static func forward(
        _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>?, _ b: UnsafePointer<Float>?,
        _ y: UnsafeMutablePointer<Float>, _ mean: UnsafeMutablePointer<Float>, _ rstd: UnsafeMutablePointer<Float>,
        rows: Int, n: Int, eps: Float
    ) {
        parallelChunks(rows, minimum: Swift.max(1, (1 << 16) / Swift.max(n, 1)), align: 1) { range in
            for r in range {
                (mean[r], rstd[r]) = row(x + r * n, w, b, y + r * n, n: n, eps: eps)
            }
        }
    }

    /// One row: returns (μ, rstd) and writes y = (x − μ)·rstd·w + b; `y` may be `x` (in place).
    @inline(__always)
    static func row(
        _ xr: UnsafePointer<Float>, _ w: UnsafePointer<Float>?, _ b: UnsafePointer<Float>?,
        _ yr: UnsafeMutablePointer<Float>, n: Int, eps: Float
    ) -> (Float, Float) {
        // Two passes (mean, then squared deviations) in 8 lanes: accurate and vectorised.
        var sv = Float8(repeating: 0)
        var i = 0
        while i + 8 <= n {
            sv += UnsafeRawPointer(xr + i).loadUnaligned(as: Float8.self)
            i += 8
        }
        var s = sv.sum()
        while i < n {
            s += xr[i]
            i += 1
        }
        let mu = s / Float(n)
        let muv = Float8(repeating: mu)
        var qv = Float8(repeating: 0)
        i = 0
        while i + 8 <= n {
            let d = UnsafeRawPointer(xr + i).loadUnaligned(as: Float8.self) - muv
            qv += d * d
            i += 8
        }
        var q = qv.sum()
        while i < n {
            q += (xr[i] - mu) * (xr[i] - mu)
            i += 1
        }
        let rs = 1 / (q / Float(n) + eps).squareRoot()
        let rsv = Float8(repeating: rs)
        i = 0
        while i + 8 <= n {
            var v = (UnsafeRawPointer(xr + i).loadUnaligned(as: Float8.self) - muv) * rsv
            if let w { v *= UnsafeRawPointer(w + i).loadUnaligned(as: Float8.self) }
            if let b { v += UnsafeRawPointer(b + i).loadUnaligned(as: Float8.self) }
            UnsafeMutableRawPointer(yr + i).storeBytes(of: v, as: Float8.self)
            i += 8
        }
        while i < n {
            var v = (xr[i] - mu) * rs
            if let w { v *= w[i] }
            if let b { v += b[i] }
            yr[i] = v
            i += 1
        }
        return (mu, rs)
    }

    /// dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ⊙x̂)) with ĝ = g⊙w and x̂ = (x − μ)·rstd;
    /// dw += Σ_rows g⊙x̂, db += Σ_rows g.
    static func backward(
        _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>?, _ g: UnsafePointer<Float>,
        _ mean: UnsafePointer<Float>, _ rstd: UnsafePointer<Float>,
        _ dx: UnsafeMutablePointer<Float>?, _ dw: UnsafeMutablePointer<Float>?, _ db: UnsafeMutablePointer<Float>?,
        rows: Int, n: Int
    ) {
        for r in 0..<rows {
            let xr = x + r * n, gr = g + r * n
            let mu = mean[r], rs = rstd[r]
            var sumG: Float = 0, sumGX: Float = 0
            for i in 0..<n {
                let xh = (xr[i] - mu) * rs
                let gh = w.map { gr[i] * $0[i] } ?? gr[i]
                sumG += gh
                sumGX += gh * xh
                if let dw { dw[i] += gr[i] * xh }
                if let db { db[i] += gr[i] }
            }
            guard let dx else { continue }
            let mG = sumG / Float(n), mGX = sumGX / Float(n)
            let dr = dx + r * n
            for i in 0..<n {
                let xh = (xr[i] - mu) * rs
                let gh = w.map { gr[i] * $0[i] } ?? gr[i]
                dr[i] = rs * (gh - mG - xh * mGX)
            }
        }
    }
}

/// Layer normalisation over the last axis, `torch.nn.functional.layer_norm(x, (n,), weight, bias, eps)`.
/// `weight` and `bias`, when given, have shape [n].
public func layerNorm(_ x: Tensor, weight: Tensor? = nil, bias: Tensor? = nil, eps: Float = 1e-5) -> Tensor {
    check(x.rank >= 1, "layerNorm: input must have rank ≥ 1, got shape \(x.shape)")
    let n = x.shape[x.rank - 1]
    if let weight { check(weight.shape == [n], "layerNorm: weight shape \(weight.shape) != [\(n)] for input \(x.shape)") }
    if let bias { check(bias.shape == [n], "layerNorm: bias shape \(bias.shape) != [\(n)] for input \(x.shape)") }
    let rows = n == 0 ? 0 : x.count / n
    var mean = [Float](repeating: 0, count: rows), rstd = [Float](repeating: 0, count: rows)
    let wd = weight?.detached, bd = bias?.detached, xd = x.detached
    let y = Tensor(shape: x.shape) { out in
        guard out.count > 0 else { return }
        x.withUnsafeBufferPointer { px in
            withOptionalPointer(wd) { pw in
                withOptionalPointer(bd) { pb in
                    LayerNormKernels.forward(
                        px.baseAddress!, pw, pb, out.baseAddress!, &mean, &rstd, rows: rows, n: n, eps: eps)
                }
            }
        }
    }
    let (savedMean, savedRstd) = (mean, rstd)
    var inputs = [x]
    if let weight { inputs.append(weight) }
    if let bias { inputs.append(bias) }
    return y.recorded(from: inputs) { g, needs in
        var dx = needs[0] ? Tensor.zeros(xd.shape) : nil
        var dw = wd != nil && needs[1] ? Tensor.zeros([n]) : nil
        var db = bd != nil && needs[inputs.count - 1] ? Tensor.zeros([n]) : nil
        guard g.count > 0 else { return [dx] + (wd != nil ? [dw] : []) + (bd != nil ? [db] : []) }
        xd.withUnsafeBufferPointer { px in
            g.withUnsafeBufferPointer { pg in
                withOptionalPointer(wd) { pw in
                    withOptionalMutablePointer(&dx) { pdx in
                        withOptionalMutablePointer(&dw) { pdw in
                            withOptionalMutablePointer(&db) { pdb in
                                LayerNormKernels.backward(
                                    px.baseAddress!, pw, pg.baseAddress!, savedMean, savedRstd, pdx, pdw, pdb,
                                    rows: rows, n: n)
                            }
                        }
                    }
                }
            }
        }
        return [dx] + (wd != nil ? [dw] : []) + (bd != nil ? [db] : [])
    }
}

func withOptionalPointer<R>(_ t: Tensor?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let t, t.count > 0 else { return body(nil) }
    return t.withUnsafeBufferPointer { body($0.baseAddress!) }
}

func withOptionalMutablePointer<R>(_ t: inout Tensor?, _ body: (UnsafeMutablePointer<Float>?) -> R) -> R {
    guard t != nil, t!.count > 0 else { return body(nil) }
    return t!.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
}
