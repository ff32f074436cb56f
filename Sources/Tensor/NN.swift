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
    let scale: Float = p == 1 ? 0 : 1 / (1 - p)
    let mask = Tensor(shape: x.shape) { m in
        for i in 0..<m.count { m[i] = generator.nextUniform() < p ? 0 : scale }
    }
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
