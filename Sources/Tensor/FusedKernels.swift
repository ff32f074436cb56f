// Raw-buffer forward kernels of the fused ops: bias + activation, residual + layer norm, embedding sums.
//
// A transformer layer's dense products leave their output in a buffer that the next step reads once more;
// these kernels fold that step's element-wise work (bias, GELU, residual add, layer norm) into one pass
// over rows that are still in cache. They are the forwards of the tape ops `dense`, `layerNorm(_:residual:)` and
// `embeddingSum`, whose VJPs live beside those ops. Each computes the
// same roundings, in the same order, as the op sequence it replaces (e.g. `gelu(y + b)` is (y + b)
// rounded, then GELU; `x + (y + b)`), and tails go through the same vector code padded into one vector,
// so a row's result never depends on its position in the batch.

/// What happens to a dense product's output rows after the bias add.
public enum Epilogue: Sendable, Equatable {
    case identity
    case gelu(GELUApproximation)
    case relu
}

public enum FusedKernels {
    /// y[r, 0..<n] = act(y[r, 0..<n] + bias) for rows 0..<rows of a row-major buffer with leading dimension ld.
    public static func biasActivation(
        _ y: UnsafeMutablePointer<Float>, rows: Int, n: Int, ld: Int, bias: UnsafePointer<Float>?,
        _ activation: Epilogue
    ) {
        switch activation {
        case .identity: biasMap(y, rows, n, ld, bias, cost: 1, Kernel.Identity())
        case .gelu(.none): biasMap(y, rows, n, ld, bias, cost: 24, Kernel.GeluErf())
        case .gelu(.tanh): biasMap(y, rows, n, ld, bias, cost: 24, Kernel.GeluTanh())
        case .relu: biasMap(y, rows, n, ld, bias, cost: 1, Kernel.Relu())
        }
    }

    @inline(__always)
    private static func biasMap<K: Map1Kernel>(
        _ y: UnsafeMutablePointer<Float>, _ rows: Int, _ n: Int, _ ld: Int, _ bias: UnsafePointer<Float>?, cost: Int,
        _ f: K
    ) {
        if bias == nil && K.self == Kernel.Identity.self { return }
        Parallel.forRows(rows, cost: n * cost) { range in
            for r in range {
                let yr = y + r * ld
                var i = 0
                while i + 16 <= n {
                    var v = load(yr + i)
                    if let bias { v += load(bias + i) }
                    store(f(v), yr + i)
                    i += 16
                }
                if i < n {
                    var v = loadPartial(yr + i, n - i)
                    if let bias { v += loadPartial(bias + i, n - i) }
                    storePartial(f(v), yr + i, n - i)
                }
            }
        }
    }

    /// out[r] = LayerNorm((a[r] + shift) + residual[r]) · weight + lnBias, one pass per row: the sum (rounded as
    /// residual + (a + shift), as those ops would; `shift`, a product's bias, may be nil) is written to `sum` (which
    /// may be `a`), then `layerNorm`'s arithmetic, with the row's mean and 1/σ written to `mean` and `rstd`. `out`
    /// may be `sum`.
    public static func residualLayerNorm(
        _ out: UnsafeMutablePointer<Float>, sum: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>,
        shift: UnsafePointer<Float>?, residual: UnsafePointer<Float>, weight: UnsafePointer<Float>?,
        lnBias: UnsafePointer<Float>?, eps: Float, rows: Int, n: Int, mean: UnsafeMutablePointer<Float>,
        rstd: UnsafeMutablePointer<Float>
    ) {
        Parallel.forRows(rows, cost: 5 * n) { range in
            for r in range {
                let s = sum + r * n
                addRow(s, a + r * n, shift, residual + r * n, n)
                (mean[r], rstd[r]) = LayerNormKernels.row(s, weight, lnBias, out + r * n, n: n, eps: eps)
            }
        }
    }

    /// out[r] = ((t₀[i₀(r)] + t₁[i₁(r)]) + …) over rows of n, then layer norm when `norm` is given: the sum
    /// of embedding rows picked by index (`indices[k]` nil: row r of table k itself). Table k holds `tableRows[k]`
    /// rows of n; an index out of range stops with the message `embedding` gives.
    public static func embeddingSum(
        _ out: UnsafeMutablePointer<Float>, rows: Int, n: Int, tables: [UnsafePointer<Float>], tableRows: [Int],
        indices: [[Int]?], norm: (weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?, eps: Float)? = nil
    ) {
        check(
            !tables.isEmpty && tables.count == indices.count && tables.count == tableRows.count,
            "embeddingSum: \(tables.count) tables, \(tableRows.count) row counts, \(indices.count) index lists")
        for (k, ix) in indices.enumerated() {
            guard let ix else {
                check(tableRows[k] >= rows, "embeddingSum: table \(k) has \(tableRows[k]) rows, \(rows) needed")
                continue
            }
            check(ix.count == rows, "embeddingSum: \(ix.count) indices for \(rows) rows")
            for i in ix {
                check(
                    i >= 0 && i < tableRows[k], "embedding: index \(i) out of range for weight [\(tableRows[k]), \(n)]")
            }
        }
        Parallel.forRows(rows, cost: n * (tables.count + (norm == nil ? 0 : 4))) { range in
            for r in range {
                let o = out + r * n
                let row0 = tables[0] + (indices[0]?[r] ?? r) * n
                if tables.count == 1 {
                    o.update(from: row0, count: n)
                } else {
                    for k in 1..<tables.count {
                        let src = k == 1 ? row0 : UnsafePointer(o)
                        addRow(o, src, tables[k] + (indices[k]?[r] ?? r) * n, nil, n)
                    }
                }
                if let norm { _ = LayerNormKernels.row(o, norm.weight, norm.bias, o, n: n, eps: norm.eps) }
            }
        }
    }

    /// o = (a + b) + c per element (b, c optional), sixteen lanes at a time.
    @inline(__always)
    static func addRow(
        _ o: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>?,
        _ c: UnsafePointer<Float>?, _ n: Int
    ) {
        var i = 0
        while i + 16 <= n {
            var v = load(a + i)
            if let b { v += load(b + i) }
            if let c { v = load(c + i) + v }
            store(v, o + i)
            i += 16
        }
        while i < n {
            var v = a[i]
            if let b { v += b[i] }
            if let c { v = c[i] + v }
            o[i] = v
            i += 1
        }
    }
}

extension Kernel {
    struct Identity: WideMap1Kernel { @inline(__always) func callAsFunction(_ x: FloatV) -> FloatV { x } }
}
