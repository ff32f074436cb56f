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
    /// Two passes for the moments (the mean, then squared deviations from it: no cancellation, unlike
    /// Σx² − nμ²), then the output pass, all over a row that stays in L1; sixteen lanes with two
    /// accumulators, the tail through the same vector code padded with zeros (or μ: a zero deviation).
    @inline(__always)
    static func row(
        _ xr: UnsafePointer<Float>, _ w: UnsafePointer<Float>?, _ b: UnsafePointer<Float>?,
        _ yr: UnsafeMutablePointer<Float>, n: Int, eps: Float
    ) -> (Float, Float) {
        let tail = n % 16, body = n - tail
        var s0 = FloatV(repeating: 0), s1 = s0
        var i = 0
        while i + 32 <= body {
            s0 += load(xr + i)
            s1 += load(xr + i + 16)
            i += 32
        }
        if i < body { s0 += load(xr + i) }
        if tail > 0 { s1 += loadPartial(xr + body, tail) }
        let mu = (s0 + s1).sum() / Float(n)
        let muv = FloatV(repeating: mu)
        var q0 = FloatV(repeating: 0), q1 = q0
        i = 0
        while i + 32 <= body {
            let d0 = load(xr + i) - muv, d1 = load(xr + i + 16) - muv
            q0 = fma(d0, d0, q0)
            q1 = fma(d1, d1, q1)
            i += 32
        }
        if i < body {
            let d = load(xr + i) - muv
            q0 = fma(d, d, q0)
        }
        if tail > 0 {
            let d = loadPartial(xr + body, tail, pad: mu) - muv
            q1 = fma(d, d, q1)
        }
        let rs = 1 / ((q0 + q1).sum() / Float(n) + eps).squareRoot()
        let rsv = FloatV(repeating: rs)
        @inline(__always) func out(_ x: FloatV, _ j: Int, _ k: Int) -> FloatV {
            var v = (x - muv) * rsv
            if let w { v *= k == 16 ? load(w + j) : loadPartial(w + j, k) }
            if let b { v += k == 16 ? load(b + j) : loadPartial(b + j, k) }
            return v
        }
        i = 0
        while i < body {
            store(out(load(xr + i), i, 16), yr + i)
            i += 16
        }
        if tail > 0 { storePartial(out(loadPartial(xr + body, tail), body, tail), yr + body, tail) }
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
    if let weight {
        check(weight.shape == [n], "layerNorm: weight shape \(weight.shape) != [\(n)] for input \(x.shape)")
    }
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
