// Naive Float64 reference forwards of every differentiable Tensor op (plain loops), used only by the gradient checks.
import Foundation
import Tensor

/// A row-major Float64 array: the reference counterpart of `Tensor`.
struct Array64 {
    var shape: [Int]
    var data: [Double]

    init(shape: [Int], data: [Double]) {
        precondition(elementCount(shape) == data.count, "Array64: shape \(shape) vs \(data.count) values")
        self.shape = shape
        self.data = data
    }
    init(shape: [Int], repeating v: Double) {
        self.init(shape: shape, data: Array(repeating: v, count: elementCount(shape)))
    }
    init(_ t: Tensor) { self.init(shape: t.shape, data: t.scalars.map(Double.init)) }

    var count: Int { data.count }
    var rank: Int { shape.count }
    subscript(_ idx: [Int]) -> Double {
        get { data[ravel(idx, shape)] }
        set { data[ravel(idx, shape)] = newValue }
    }
}

// MARK: - Index helpers

func elementCount(_ shape: [Int]) -> Int { shape.reduce(1, *) }

/// Flat row-major offset of a multi-index.
func ravel(_ idx: [Int], _ shape: [Int]) -> Int {
    precondition(idx.count == shape.count)
    var o = 0
    for (i, n) in zip(idx, shape) {
        precondition(i >= 0 && i < n)
        o = o * n + i
    }
    return o
}

/// Multi-index of a flat row-major offset.
func unravel(_ flat: Int, _ shape: [Int]) -> [Int] {
    var idx = [Int](repeating: 0, count: shape.count)
    var r = flat
    for d in stride(from: shape.count - 1, through: 0, by: -1) {
        idx[d] = r % shape[d]
        r /= shape[d]
    }
    return idx
}

func normAxis(_ a: Int, _ rank: Int) -> Int { a < 0 ? a + rank : a }

/// numpy broadcasting of two shapes (right-aligned; extents equal or 1).
func broadcastShapes(_ a: [Int], _ b: [Int]) -> [Int] {
    let r = max(a.count, b.count)
    let pa = [Int](repeating: 1, count: r - a.count) + a
    let pb = [Int](repeating: 1, count: r - b.count) + b
    return zip(pa, pb).map { x, y in
        precondition(x == y || x == 1 || y == 1, "cannot broadcast \(a) and \(b)")
        return x == 1 ? y : x
    }
}

/// The element of `a` seen at index `idx` of its broadcast (idx may have more axes than `a`).
func broadcastRead(_ a: Array64, _ idx: [Int]) -> Double {
    let pad = idx.count - a.rank
    var o = 0
    for d in 0..<a.rank { o = o * a.shape[d] + (a.shape[d] == 1 ? 0 : idx[pad + d]) }
    return a.data[o]
}

// MARK: - Reference ops

enum Ref {
    static func map(_ a: Array64, _ f: (Double) -> Double) -> Array64 { Array64(shape: a.shape, data: a.data.map(f)) }

    static func binary(_ a: Array64, _ b: Array64, _ f: (Double, Double) -> Double) -> Array64 {
        let shape = broadcastShapes(a.shape, b.shape)
        var out = Array64(shape: shape, repeating: 0)
        for i in 0..<out.count {
            let idx = unravel(i, shape)
            out.data[i] = f(broadcastRead(a, idx), broadcastRead(b, idx))
        }
        return out
    }

    static func gelu(_ x: Double) -> Double { 0.5 * x * (1 + erf(x / 2.0.squareRoot())) }
    static func geluTanh(_ x: Double) -> Double {
        0.5 * x * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
    }
    static func sigmoid(_ x: Double) -> Double { 1 / (1 + Foundation.exp(-x)) }

    static func reshape(_ a: Array64, _ shape: [Int]) -> Array64 { Array64(shape: shape, data: a.data) }

    /// Output axis i is input axis perm[i].
    static func permute(_ a: Array64, _ perm: [Int]) -> Array64 {
        let outShape = perm.map { a.shape[$0] }
        var out = Array64(shape: outShape, repeating: 0)
        for i in 0..<out.count {
            let o = unravel(i, outShape)
            var src = [Int](repeating: 0, count: a.rank)
            for (k, p) in perm.enumerated() { src[p] = o[k] }
            out.data[i] = a[src]
        }
        return out
    }

    static func transpose(_ a: Array64, _ d0: Int = -2, _ d1: Int = -1) -> Array64 {
        var perm = Array(0..<a.rank)
        perm.swapAt(normAxis(d0, a.rank), normAxis(d1, a.rank))
        return permute(a, perm)
    }

    static func broadcast(_ a: Array64, to shape: [Int]) -> Array64 {
        precondition(broadcastShapes(a.shape, shape) == shape)
        var out = Array64(shape: shape, repeating: 0)
        for i in 0..<out.count { out.data[i] = broadcastRead(a, unravel(i, shape)) }
        return out
    }

    static func slice(_ a: Array64, axis: Int, _ range: Range<Int>) -> Array64 {
        let ax = normAxis(axis, a.rank)
        var shape = a.shape
        shape[ax] = range.count
        var out = Array64(shape: shape, repeating: 0)
        for i in 0..<out.count {
            var idx = unravel(i, shape)
            idx[ax] += range.lowerBound
            out.data[i] = a[idx]
        }
        return out
    }

    static func concatenate(_ parts: [Array64], axis: Int) -> Array64 {
        let ax = normAxis(axis, parts[0].rank)
        var shape = parts[0].shape
        shape[ax] = parts.reduce(0) { $0 + $1.shape[ax] }
        var out = Array64(shape: shape, repeating: 0)
        for i in 0..<out.count {
            var idx = unravel(i, shape)
            var p = 0
            while idx[ax] >= parts[p].shape[ax] {
                idx[ax] -= parts[p].shape[ax]
                p += 1
            }
            out.data[i] = parts[p][idx]
        }
        return out
    }

    static func stack(_ parts: [Array64], axis: Int) -> Array64 {
        let ax = axis < 0 ? axis + parts[0].rank + 1 : axis
        return concatenate(
            parts.map {
                var s = $0.shape
                s.insert(1, at: ax)
                return reshape($0, s)
            }, axis: ax)
    }

    /// Folds `axes` (all when nil) with `combine`; reduced axes become 1 (kept) or vanish.
    static func reduce(
        _ a: Array64, axes: [Int]?, keepDims: Bool, initial: Double, _ combine: (Double, Double) -> Double
    ) -> Array64 {
        let ax = Set((axes ?? Array(0..<a.rank)).map { normAxis($0, a.rank) })
        let kept = a.shape.enumerated().map { ax.contains($0.offset) ? 1 : $0.element }
        var out = Array64(shape: kept, repeating: initial)
        for i in 0..<a.count {
            var idx = unravel(i, a.shape)
            for d in ax { idx[d] = 0 }
            let o = ravel(idx, kept)
            out.data[o] = combine(out.data[o], a.data[i])
        }
        if !keepDims { out.shape = a.shape.enumerated().filter { !ax.contains($0.offset) }.map(\.element) }
        return out
    }

    static func sum(_ a: Array64, axes: [Int]?, keepDims: Bool) -> Array64 {
        reduce(a, axes: axes, keepDims: keepDims, initial: 0, +)
    }
    static func mean(_ a: Array64, axes: [Int]?, keepDims: Bool) -> Array64 {
        let ax = Set((axes ?? Array(0..<a.rank)).map { normAxis($0, a.rank) })
        let n = Double(ax.reduce(1) { $0 * a.shape[$1] })
        return map(sum(a, axes: axes, keepDims: keepDims)) { $0 / n }
    }
    static func max(_ a: Array64, axes: [Int]?, keepDims: Bool) -> Array64 {
        reduce(a, axes: axes, keepDims: keepDims, initial: -.infinity) { Swift.max($0, $1) }
    }

    /// torch.matmul on rank ≥ 2 operands with batch broadcasting; tA/tB transpose the last two axes.
    static func matmul(_ a: Array64, _ b: Array64, transposeA tA: Bool = false, transposeB tB: Bool = false) -> Array64
    {
        let at = tA ? transpose(a) : a
        let bt = tB ? transpose(b) : b
        let (m, k) = (at.shape[at.rank - 2], at.shape[at.rank - 1])
        let (k2, n) = (bt.shape[bt.rank - 2], bt.shape[bt.rank - 1])
        precondition(k == k2)
        let batch = broadcastShapes(Array(at.shape.dropLast(2)), Array(bt.shape.dropLast(2)))
        let shape = batch + [m, n]
        var out = Array64(shape: shape, repeating: 0)
        for o in 0..<out.count {
            let idx = unravel(o, shape)
            let bi = Array(idx.dropLast(2))
            let (i, j) = (idx[idx.count - 2], idx[idx.count - 1])
            var s = 0.0
            for p in 0..<k { s += broadcastRead(at, bi + [i, p]) * broadcastRead(bt, bi + [p, j]) }
            out.data[o] = s
        }
        return out
    }

    /// Applies `f` to every 1-D line of `a` along `axis`, writing the result back in place.
    static func alongAxis(_ a: Array64, _ axis: Int, _ f: ([Double]) -> [Double]) -> Array64 {
        let ax = normAxis(axis, a.rank)
        var out = a
        for i in 0..<a.count {
            var idx = unravel(i, a.shape)
            guard idx[ax] == 0 else { continue }
            let line = (0..<a.shape[ax]).map { j -> Double in
                idx[ax] = j
                return a[idx]
            }
            for (j, v) in f(line).enumerated() {
                idx[ax] = j
                out[idx] = v
            }
        }
        return out
    }

    static func logSoftmaxLine(_ x: [Double]) -> [Double] {
        let lse = Foundation.log(x.reduce(0) { $0 + Foundation.exp($1) })
        return x.map { $0 - lse }
    }
    static func softmax(_ a: Array64, axis: Int) -> Array64 {
        alongAxis(a, axis) { logSoftmaxLine($0).map { Foundation.exp($0) } }
    }
    static func logSoftmax(_ a: Array64, axis: Int) -> Array64 { alongAxis(a, axis, logSoftmaxLine) }

    /// (x − mean)/√(biased var + eps)·w + b over the last axis.
    static func layerNorm(_ x: Array64, weight: Array64?, bias: Array64?, eps: Double) -> Array64 {
        alongAxis(x, -1) { line in
            let n = Double(line.count)
            let mu = line.reduce(0, +) / n
            let v = line.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / n
            return line.enumerated().map { j, xj in
                (xj - mu) / (v + eps).squareRoot() * (weight?.data[j] ?? 1) + (bias?.data[j] ?? 0)
            }
        }
    }

    static func embedding(_ w: Array64, indices: [Int], shape: [Int]) -> Array64 {
        let dim = w.shape[1]
        var out = Array64(shape: shape + [dim], repeating: 0)
        for (r, i) in indices.enumerated() {
            for j in 0..<dim { out.data[r * dim + j] = w[[i, j]] }
        }
        return out
    }

    static func maskedFill(_ x: Array64, mask: Array64, value: Double) -> Array64 {
        binary(x, mask) { xv, m in m != 0 ? value : xv }
    }

    /// Mean over non-ignored rows of −log softmax(logits)[label].
    static func crossEntropy(_ logits: Array64, labels: [Int], ignoreIndex: Int) -> Array64 {
        let lp = logSoftmax(logits, axis: -1)
        var total = 0.0
        var n = 0
        for (r, l) in labels.enumerated() where l != ignoreIndex {
            total -= lp[[r, l]]
            n += 1
        }
        return Array64(shape: [], data: [total / Double(n)])
    }
}

// MARK: - Operators, so reference expressions read like the Tensor ones

func + (a: Array64, b: Array64) -> Array64 { Ref.binary(a, b, +) }
func - (a: Array64, b: Array64) -> Array64 { Ref.binary(a, b, -) }
func * (a: Array64, b: Array64) -> Array64 { Ref.binary(a, b, *) }
func / (a: Array64, b: Array64) -> Array64 { Ref.binary(a, b, /) }
func * (a: Array64, s: Double) -> Array64 { Ref.map(a) { $0 * s } }
