// Reductions over axes (sum, mean, max) with a keepDims option, each beside its VJP.

extension Tensor {
    /// Normalised, de-duplicated axes; `nil` means all axes.
    private func reductionAxes(_ axes: [Int]?, _ op: String) -> [Int] {
        guard let axes else { return Array(0..<rank) }
        return Array(Set(axes.map { normalizeAxis($0, rank: rank, op) })).sorted()
    }

    /// The shape after reducing `axes`, with extents of 1 kept in place.
    private func keptShape(_ axes: [Int]) -> [Int] {
        var s = shape
        for a in axes { s[a] = 1 }
        return s
    }

    /// Reduces into `kept` (extent 1 on reduced axes) with `combine`, starting from `initial`.
    private func reduce(into kept: [Int], initial: Float, _ combine: (Float, Float) -> Float) -> Tensor {
        var out = Tensor.full(kept, initial)
        guard count > 0 else { return out }
        let space = StridedSpace(shape: shape, strides: [broadcastStrides(kept, to: shape), contiguousStrides(shape)])
        out.withUnsafeMutableBufferPointer { o in
            withUnsafeBufferPointer { a in
                let po = o.baseAddress!, pa = a.baseAddress!
                space.forEachRun { off, n, inner in
                    let dst = po + off[0], src = pa + off[1], sd = inner[0], ss = inner[1]
                    if sd == 0 {
                        // A contiguous run folds into one output: accumulate in 8 lanes, then fold.
                        var acc = dst[0]
                        if ss == 1 && n >= 16 {
                            var lanes = Float8(repeating: initial)
                            var i = 0
                            while i + 8 <= n {
                                let v = UnsafeRawPointer(src + i).loadUnaligned(as: Float8.self)
                                for l in 0..<8 { lanes[l] = combine(lanes[l], v[l]) }
                                i += 8
                            }
                            for l in 0..<8 { acc = combine(acc, lanes[l]) }
                            while i < n {
                                acc = combine(acc, src[i])
                                i += 1
                            }
                        } else {
                            for i in 0..<n { acc = combine(acc, src[i * ss]) }
                        }
                        dst[0] = acc
                    } else {
                        for i in 0..<n { dst[i * sd] = combine(dst[i * sd], src[i * ss]) }
                    }
                }
            }
        }
        return out
    }

    /// Sum over `axes` (all when nil). VJP: broadcast the cotangent back.
    public func sum(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let ax = reductionAxes(axes, "sum")
        let kept = keptShape(ax)
        let reduced = reduce(into: kept, initial: 0, +)
        let out =
            keepDims ? reduced : reduced.reshaped(kept.enumerated().filter { !ax.contains($0.offset) }.map(\.element))
        let original = shape
        return out.recorded(from: self) { g in g.reshaped(kept).broadcast(to: original) }
    }

    public func sum(axis: Int, keepDims: Bool = false) -> Tensor { sum(axes: [axis], keepDims: keepDims) }

    /// Mean over `axes` (all when nil); built on sum.
    public func mean(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let ax = reductionAxes(axes, "mean")
        let n = ax.reduce(1) { $0 * shape[$1] }
        return sum(axes: ax, keepDims: keepDims) / Float(n)
    }

    public func mean(axis: Int, keepDims: Bool = false) -> Tensor { mean(axes: [axis], keepDims: keepDims) }

    /// Maximum over `axes` (all when nil). VJP: the cotangent is shared equally among tied maxima
    /// (PyTorch's `amax` rule).
    public func max(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let ax = reductionAxes(axes, "max")
        check(count > 0, "max: empty tensor of shape \(shape)")
        let kept = keptShape(ax)
        let reducedKept = reduce(into: kept, initial: -.infinity) { a, b in
            b.isNaN || b > a ? b : a  // NaN propagates like PyTorch
        }
        let out =
            keepDims
            ? reducedKept : reducedKept.reshaped(kept.enumerated().filter { !ax.contains($0.offset) }.map(\.element))
        let xd = self.detached
        let original = shape
        return out.recorded(from: self) { g in
            let m = reducedKept.broadcast(to: original)
            let mask = xd.zipScalars(m, Kernel.EqualMask())
            let ties = mask.reduce(into: kept, initial: 0, +)
            return mask * (g.reshaped(kept) / ties)
        }
    }

    public func max(axis: Int, keepDims: Bool = false) -> Tensor { max(axes: [axis], keepDims: keepDims) }
}

extension Kernel {
    /// (x, m) ↦ 1 where x == m, else 0.
    struct EqualMask: Map2Kernel {
        @inline(__always) func callAsFunction(_ x: Float8, _ m: Float8) -> Float8 {
            Float8(repeating: 0).replacing(with: 1, where: x .== m)
        }
    }
}
