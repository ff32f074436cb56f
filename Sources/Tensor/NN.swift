// Neural-network ops: embedding lookup, masked fill, dropout and cross-entropy, each beside its VJP.
import Foundation

/// Rows of `weight` ([vocab, dim]) picked by `indices`, shaped `shape + [dim]` (default
/// `[indices.count, dim]`), as `torch.nn.functional.embedding`. VJP: scatter-add into the rows.
public func embedding(_ weight: Tensor, indices: [Int], shape: [Int]? = nil) -> Tensor {
    check(weight.rank == 2, "embedding: weight must be [vocab, dim], got \(weight.shape)")
    let (vocab, dim) = (weight.shape[0], weight.shape[1])
    let idShape = shape ?? [indices.count]
    check(
        shapeCount(idShape) == indices.count, "embedding: \(indices.count) indices do not fill shape \(idShape)")
    for i in indices {
        check(i >= 0 && i < vocab, "embedding: index \(i) out of range for weight \(weight.shape)")
    }
    let out = Tensor(shape: idShape + [dim]) { out in
        guard out.count > 0 else { return }
        weight.withUnsafeBufferPointer { w in
            for (r, i) in indices.enumerated() {
                (out.baseAddress! + r * dim).update(from: w.baseAddress! + i * dim, count: dim)
            }
        }
    }
    return out.recorded(from: weight) { g in
        // A large table's gradient reuses a buffer a training loop gave back (`GradientBuffers.recycle`).
        var dw = Tensor(shape: [vocab, dim], scalars: GradientBuffers.zeros(vocab * dim))
        dw.withUnsafeMutableBufferPointer { d in
            g.withUnsafeBufferPointer { gb in
                guard gb.count > 0 else { return }
                for (r, i) in indices.enumerated() {
                    let dst = d.baseAddress! + i * dim, src = gb.baseAddress! + r * dim
                    for j in 0..<dim { dst[j] += src[j] }
                }
            }
        }
        return dw
    }
}

/// Replaces the entries of `x` where `mask` (broadcastable to `x`) is non-zero with `value`, as
/// `Tensor.masked_fill`. VJP: the cotangent passes where the mask is zero.
public func maskedFill(_ x: Tensor, mask: Tensor, value: Float) -> Tensor {
    let m = mask.detached.broadcast(to: broadcastShape(x.shape, mask.shape, "maskedFill"))
    check(m.shape == x.shape, "maskedFill: mask \(mask.shape) would broadcast \(x.shape) to \(m.shape)")
    let out = x.zipScalars(m, Kernel.FillWhere(value: value))
    return out.recorded(from: x) { g in g.zipScalars(m, Kernel.FillWhere(value: 0)) }
}

/// Zeroes each entry with probability `p` and scales the rest by 1/(1−p) when `training`
/// (inverted dropout, as `torch.nn.functional.dropout`); the identity otherwise. VJP: same mask.
public func dropout(_ x: Tensor, p: Float, training: Bool, generator: inout RandomGenerator) -> Tensor {
    check(p >= 0 && p <= 1, "dropout: probability \(p) is not in [0, 1]")
    guard training && p > 0 else { return x }
    let mask = dropoutMask(x.shape, p: p, generator: &generator)
    return x.zipScalars(mask, Kernel.Multiply()).recorded(from: x) { g in g.zipScalars(mask, Kernel.Multiply()) }
}

/// Mean cross-entropy of `logits` [N, C] against class `labels` (N entries); entries equal to
/// `ignoreIndex` do not count (`torch.nn.functional.cross_entropy`, reduction "mean"; all ignored
/// gives NaN as in PyTorch). Fused with log-softmax, so the VJP is (softmax − onehot)·g/count
/// (llm.c's fused softmax–cross-entropy backward).
public func crossEntropy(_ logits: Tensor, labels: [Int], ignoreIndex: Int = -100) -> Tensor {
    check(logits.rank == 2, "crossEntropy: logits must be [N, C], got \(logits.shape)")
    let (rows, classes) = (logits.shape[0], logits.shape[1])
    check(labels.count == rows, "crossEntropy: \(labels.count) labels for logits \(logits.shape)")
    for l in labels where l != ignoreIndex {
        check(l >= 0 && l < classes, "crossEntropy: label \(l) out of range for logits \(logits.shape)")
    }
    let logp = Tensor(shape: logits.shape) { out in
        logits.withUnsafeBufferPointer { SoftmaxKernels.forward($0, out, n: classes, log: true) }
    }
    let counted = labels.filter { $0 != ignoreIndex }.count
    var total: Float = 0
    logp.withUnsafeBufferPointer { lp in
        for (r, l) in labels.enumerated() where l != ignoreIndex { total -= lp[r * classes + l] }
    }
    let loss = Tensor(total / Float(counted))
    return loss.recorded(from: logits) { g in
        let scale = g.item / Float(counted)
        return Tensor(shape: [rows, classes]) { d in
            logp.withUnsafeBufferPointer { lp in
                for r in 0..<rows {
                    let l = labels[r]
                    for c in 0..<classes {
                        d[r * classes + c] =
                            l == ignoreIndex ? 0 : (fastExp(lp[r * classes + c]) - (c == l ? 1 : 0)) * scale
                    }
                }
            }
        }
    }
}

extension Kernel {
    /// (x, mask) ↦ value where mask ≠ 0, else x.
    struct FillWhere: Map2Kernel {
        let value: Float
        @inline(__always) func callAsFunction(_ x: Float8, _ m: Float8) -> Float8 {
            x.replacing(with: Float8(repeating: value), where: m .!= 0)
        }
    }
}

/// The [rows] factors of inverted dropout drawn as `dropout` draws them: 0 with probability p, else 1/(1 − p).
public func dropoutMask(_ shape: [Int], p: Float, generator: inout RandomGenerator) -> Tensor {
    check(p >= 0 && p <= 1, "dropout: probability \(p) is not in [0, 1]")
    let scale: Float = p == 1 ? 0 : 1 / (1 - p)
    return Tensor(shape: shape) { m in
        for i in 0..<m.count { m[i] = generator.nextUniform() < p ? 0 : scale }
    }
}

/// Σ_k tables[k][indices[k][r]] per row r (indices nil: row r of table k itself, a [rows, n] input such as
/// `inputs_embeds`), then layer norm when `norm` is given: BERT's and GPT-2's embeddings in one pass per row, shaped
/// `shape + [n]`. VJP: the norm's, then the sum's cotangent to each table's rows (scatter-added, as `embedding`).
public func embeddingSum(
    _ tables: [Tensor], indices: [[Int]?], shape: [Int], norm: (weight: Tensor, bias: Tensor, eps: Float)? = nil
) -> Tensor {
    check(!tables.isEmpty && tables.count == indices.count, "embeddingSum: \(tables.count) tables, \(indices.count) index lists")
    let n = tables[0].shape.last ?? 0
    let rows = shapeCount(shape)
    for (k, t) in tables.enumerated() {
        check(t.shape.last == n, "embeddingSum: table \(k) \(t.shape) is not \(n) wide")
        if indices[k] == nil { check(t.count == rows * n, "embeddingSum: input \(k) \(t.shape) for \(shape) rows") }
    }
    if let norm { check(norm.weight.shape == [n] && norm.bias.shape == [n], "embeddingSum: norm of \(norm.weight.shape)") }
    let inputs = tables + (norm.map { [$0.weight, $0.bias] } ?? [])
    let recording = inputs.contains { $0.isRecording }
    var mean = [Float](repeating: 0, count: rows), rstd = [Float](repeating: 0, count: rows)
    func sum(_ out: UnsafeMutablePointer<Float>) {
        withPointers(tables) { ps in
            FusedKernels.embeddingSum(
                out, rows: rows, n: n, tables: ps, tableRows: tables.map { $0.count / Swift.max(n, 1) },
                indices: indices)
        }
    }
    guard let norm else {
        let y = Tensor(shape: shape + [n]) { out in if out.count > 0 { sum(out.baseAddress!) } }
        guard recording else { return y }
        return y.recorded(from: inputs) { g, needs in
            tables.indices.map { k in needs[k] ? scatterRows(g, indices[k], like: tables[k]) : nil }
        }
    }
    let (wd, bd) = (norm.weight.detached, norm.bias.detached)
    if !recording {  // the sum and its norm in one pass per row
        return Tensor(shape: shape + [n]) { out in
            guard out.count > 0 else { return }
            withPointers(tables) { ps in
                wd.withUnsafeBufferPointer { w in
                    bd.withUnsafeBufferPointer { b in
                        FusedKernels.embeddingSum(
                            out.baseAddress!, rows: rows, n: n, tables: ps,
                            tableRows: tables.map { $0.count / Swift.max(n, 1) }, indices: indices,
                            norm: (w.baseAddress, b.baseAddress, norm.eps))
                    }
                }
            }
        }
    }
    let summed = Tensor(shape: [rows, n]) { out in if out.count > 0 { sum(out.baseAddress!) } }
    let y = Tensor(shape: shape + [n]) { out in
        guard out.count > 0 else { return }
        summed.withUnsafeBufferPointer { px in
            wd.withUnsafeBufferPointer { w in
                bd.withUnsafeBufferPointer { b in
                    LayerNormKernels.forward(
                        px.baseAddress!, w.baseAddress, b.baseAddress, out.baseAddress!, &mean, &rstd, rows: rows,
                        n: n, eps: norm.eps)
                }
            }
        }
    }
    let (savedMean, savedRstd) = (mean, rstd)
    return y.recorded(from: inputs) { g, needs in
        var ds: Tensor? = Tensor.zeros([rows, n])
        var dw: Tensor? = needs[tables.count] ? Tensor.zeros([n]) : nil
        var db: Tensor? = needs[tables.count + 1] ? Tensor.zeros([n]) : nil
        if rows > 0 && n > 0 {
            summed.withUnsafeBufferPointer { px in
                g.withUnsafeBufferPointer { pg in
                    wd.withUnsafeBufferPointer { w in
                        withOptionalMutablePointer(&ds) { pds in
                            withOptionalMutablePointer(&dw) { pdw in
                                withOptionalMutablePointer(&db) { pdb in
                                    LayerNormKernels.backward(
                                        px.baseAddress!, w.baseAddress, pg.baseAddress!, savedMean, savedRstd, pds, pdw,
                                        pdb, rows: rows, n: n)
                                }
                            }
                        }
                    }
                }
            }
        }
        return tables.indices.map { k in needs[k] ? scatterRows(ds!, indices[k], like: tables[k]) : nil } + [dw, db]
    }
}

/// The cotangent of a table read by `indices` (nil: row by row) from the rows' cotangent g [rows, n].
private func scatterRows(_ g: Tensor, _ indices: [Int]?, like table: Tensor) -> Tensor {
    guard let indices else { return g.reshaped(table.shape) }
    let n = table.shape.last ?? 0
    var d = Tensor(shape: table.shape, scalars: GradientBuffers.zeros(table.count))
    d.withUnsafeMutableBufferPointer { pd in
        g.withUnsafeBufferPointer { pg in
            guard pg.count > 0 else { return }
            for (r, i) in indices.enumerated() {
                FusedKernels.addRow(pd.baseAddress! + i * n, pd.baseAddress! + i * n, pg.baseAddress! + r * n, nil, n)
            }
        }
    }
    return d
}

/// Calls `body` with the base address of every tensor's elements.
private func withPointers<R>(_ ts: [Tensor], _ body: ([UnsafePointer<Float>]) -> R) -> R {
    var ps: [UnsafePointer<Float>] = []
    func next(_ i: Int) -> R {
        if i == ts.count { return body(ps) }
        return ts[i].withUnsafeBufferPointer { p in
            ps.append(p.baseAddress ?? UnsafePointer(bitPattern: 8)!)
            return next(i + 1)
        }
    }
    return next(0)
}
