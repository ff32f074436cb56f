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
    /// dw += Σ_rows g⊙x̂, db += Σ_rows g (llm.c `layernorm_backward`). Rows split over threads, each summing dw and
    /// db into its own buffer, added in thread order at the end (so the result does not depend on scheduling).
    static func backward(
        _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>?, _ g: UnsafePointer<Float>,
        _ mean: UnsafePointer<Float>, _ rstd: UnsafePointer<Float>,
        _ dx: UnsafeMutablePointer<Float>?, _ dw: UnsafeMutablePointer<Float>?, _ db: UnsafeMutablePointer<Float>?,
        rows: Int, n: Int
    ) {
        guard rows > 0, n > 0 else { return }
        let parts = rows * n >= 1 << 15 ? Swift.min(Threads.count, rows) : 1
        let chunk = (rows + parts - 1) / parts
        let partials = UnsafeMutablePointer<Float>.allocate(capacity: parts * 2 * n)
        partials.initialize(repeating: 0, count: parts * 2 * n)
        defer { partials.deallocate() }
        Parallel.forEach(parts, serial: parts == 1) { part, _ in
            let pw = partials + part * 2 * n, pb = pw + n
            for r in (part * chunk)..<Swift.min(rows, (part + 1) * chunk) {
                rowBackward(
                    x + r * n, w, g + r * n, mean[r], rstd[r], dx.map { $0 + r * n }, dw == nil ? nil : pw,
                    db == nil ? nil : pb, n: n)
            }
        }
        for part in 0..<parts {
            if let dw { FusedKernels.addRow(dw, dw, partials + part * 2 * n, nil, n) }
            if let db { FusedKernels.addRow(db, db, partials + part * 2 * n + n, nil, n) }
        }
    }

    /// One row of `backward`, sixteen lanes at a time (tails through the same code, padded with zeros).
    @inline(__always)
    private static func rowBackward(
        _ xr: UnsafePointer<Float>, _ w: UnsafePointer<Float>?, _ gr: UnsafePointer<Float>, _ mu: Float, _ rs: Float,
        _ dr: UnsafeMutablePointer<Float>?, _ dw: UnsafeMutablePointer<Float>?, _ db: UnsafeMutablePointer<Float>?,
        n: Int
    ) {
        let (muv, rsv) = (FloatV(repeating: mu), FloatV(repeating: rs))
        var sumG = FloatV(repeating: 0), sumGX = sumG
        /// g, x̂ and ĝ = g⊙w at lanes i..<i+k (zeros past the row).
        @inline(__always) func terms(_ i: Int, _ k: Int) -> (g: FloatV, xh: FloatV, gh: FloatV) {
            let xv = k == 16 ? load(xr + i) : loadPartial(xr + i, k, pad: mu)
            let gv = k == 16 ? load(gr + i) : loadPartial(gr + i, k)
            return (gv, (xv - muv) * rsv, w.map { gv * (k == 16 ? load($0 + i) : loadPartial($0 + i, k)) } ?? gv)
        }
        var i = 0
        while i < n {
            let k = Swift.min(16, n - i)
            let (gv, xh, gh) = terms(i, k)
            sumG += gh
            sumGX += gh * xh
            if let dw {
                let v = (k == 16 ? load(dw + i) : loadPartial(dw + i, k)) + gv * xh
                k == 16 ? store(v, dw + i) : storePartial(v, dw + i, k)
            }
            if let db {
                let v = (k == 16 ? load(db + i) : loadPartial(db + i, k)) + gv
                k == 16 ? store(v, db + i) : storePartial(v, db + i, k)
            }
            i += 16
        }
        guard let dr else { return }
        let mG = FloatV(repeating: sumG.sum() / Float(n)), mGX = FloatV(repeating: sumGX.sum() / Float(n))
        i = 0
        while i < n {
            let k = Swift.min(16, n - i)
            let (_, xh, gh) = terms(i, k)
            let v = rsv * (gh - mG - xh * mGX)
            k == 16 ? store(v, dr + i) : storePartial(v, dr + i, k)
            i += 16
        }
    }
}

/// Layer normalisation over the last axis, `torch.nn.functional.layer_norm(x, (n,), weight, bias, eps)`, of
/// (x + shift) + residual when a residual is given (a post-LN block's bias, add and norm as one pass over rows in
/// cache, rounded as `residual + (x + shift)`; `shift` [n] is the bias of the product that made x). `weight` and
/// `bias`, when given, have shape [n]. VJP: the norm's, then the sum's cotangent to both addends and, summed over
/// rows, to the shift.
public func layerNorm(
    _ x: Tensor, shift: Tensor? = nil, residual: Tensor? = nil, weight: Tensor? = nil, bias: Tensor? = nil,
    eps: Float = 1e-5
) -> Tensor {
    check(x.rank >= 1, "layerNorm: input must have rank ≥ 1, got shape \(x.shape)")
    let n = x.shape[x.rank - 1]
    if let residual { check(residual.shape == x.shape, "layerNorm: residual \(residual.shape) for input \(x.shape)") }
    if let shift { check(shift.shape == [n] && residual != nil, "layerNorm: shift \(shift.shape) for input \(x.shape)") }
    if let weight {
        check(weight.shape == [n], "layerNorm: weight shape \(weight.shape) != [\(n)] for input \(x.shape)")
    }
    if let bias { check(bias.shape == [n], "layerNorm: bias shape \(bias.shape) != [\(n)] for input \(x.shape)") }
    let rows = n == 0 ? 0 : x.count / n
    var mean = [Float](repeating: 0, count: rows), rstd = [Float](repeating: 0, count: rows)
    let wd = weight?.detached, bd = bias?.detached
    var inputs = [x] + (residual.map { [$0] } ?? []) + (shift.map { [$0] } ?? [])
    let xIndex = inputs.count
    if let weight { inputs.append(weight) }
    if let bias { inputs.append(bias) }
    let recording = inputs.contains { $0.isRecording }
    // The normalised rows: x itself, or the sum, kept as a tensor for the VJP (else summed in the output's rows).
    var summed = residual == nil || !recording ? nil : Tensor(shape: x.shape) { _ in }  // written below
    let y = Tensor(shape: x.shape) { out in
        guard out.count > 0 else { return }
        x.withUnsafeBufferPointer { px in
            withOptionalPointer(wd) { pw in
                withOptionalPointer(bd) { pb in
                    guard let residual else {
                        LayerNormKernels.forward(
                            px.baseAddress!, pw, pb, out.baseAddress!, &mean, &rstd, rows: rows, n: n, eps: eps)
                        return
                    }
                    residual.withUnsafeBufferPointer { pr in
                        withOptionalPointer(shift) { psh in
                            withOptionalMutablePointer(&summed) { ps in
                                FusedKernels.residualLayerNorm(
                                    out.baseAddress!, sum: ps ?? out.baseAddress!, px.baseAddress!, shift: psh,
                                    residual: pr.baseAddress!, weight: pw, lnBias: pb, eps: eps, rows: rows, n: n,
                                    mean: &mean, rstd: &rstd)
                            }
                        }
                    }
                }
            }
        }
    }
    let source = summed ?? x.detached
    guard recording else { return y }
    let (savedMean, savedRstd, hasResidual, hasShift) = (mean, rstd, residual != nil, shift != nil)
    return y.recorded(from: inputs) { g, needs in
        let needX = needs[0] || (hasResidual && needs[1]) || (hasShift && needs[2])
        var dx = needX ? Tensor.zeros(source.shape) : nil
        var dw = wd != nil && needs[xIndex] ? Tensor.zeros([n]) : nil
        var db = bd != nil && needs[inputs.count - 1] ? Tensor.zeros([n]) : nil
        if g.count > 0 {
            source.withUnsafeBufferPointer { px in
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
        }
        let dShift =
            hasShift && needs[2]
            ? dx.map { d in
                d.withUnsafeBufferPointer { p in
                    p.baseAddress.map { columnSums($0, rows: rows, n: n, ld: n) } ?? Tensor.zeros([n])
                }
            }
            : nil
        return [dx] + (hasResidual ? [dx] : []) + (hasShift ? [dShift] : []) + (wd != nil ? [dw] : [])
            + (bd != nil ? [db] : [])
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
