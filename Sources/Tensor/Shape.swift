// Shape ops: reshape, permute/transpose, broadcast, slice (narrow), concatenate/stack, split; each beside its VJP.

extension Tensor {
    /// Same elements, new shape; one extent may be -1 (inferred). VJP: reshape back.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var target = newShape
        if let hole = target.firstIndex(of: -1) {
            let known = target.enumerated().filter { $0.offset != hole }.reduce(1) { $0 * $1.element }
            check(
                known > 0 && count % known == 0, "reshape: cannot reshape \(shape) into \(newShape)")
            target[hole] = count / known
        }
        check(
            shapeCount(target) == count && target.allSatisfy({ $0 >= 0 }),
            "reshape: cannot reshape \(shape) (\(count) elements) into \(newShape)")
        if target == shape { return self }
        var out = self.detached
        out.shape = target
        let original = shape
        return out.recorded(from: self) { g in g.reshaped(original) }
    }

    /// Inserts an axis of extent 1 (PyTorch `unsqueeze`).
    public func unsqueezed(axis: Int) -> Tensor {
        let a = axis < 0 ? axis + rank + 1 : axis
        check(a >= 0 && a <= rank, "unsqueeze: axis \(axis) out of range for rank \(rank)")
        var s = shape
        s.insert(1, at: a)
        return reshaped(s)
    }

    /// Removes an axis of extent 1 (PyTorch `squeeze(dim)`).
    public func squeezed(axis: Int) -> Tensor {
        let a = normalizeAxis(axis, rank: rank, "squeeze")
        check(shape[a] == 1, "squeeze: axis \(axis) of shape \(shape) has extent \(shape[a]), not 1")
        var s = shape
        s.remove(at: a)
        return reshaped(s)
    }

    /// Flattens to 1-D.
    public func flattened() -> Tensor { reshaped([count]) }

    /// Reorders axes: output axis i is input axis `axes[i]` (a copy). VJP: the inverse permutation.
    public func permuted(_ axes: [Int]) -> Tensor {
        let perm = axes.map { normalizeAxis($0, rank: rank, "permute") }
        check(
            perm.count == rank && Set(perm).count == rank, "permute: \(axes) is not a permutation of \(rank) axes")
        if perm == Array(0..<rank) { return self }
        let outShape = perm.map { shape[$0] }
        let inStrides = contiguousStrides(shape)
        let space = StridedSpace(
            shape: outShape, strides: [contiguousStrides(outShape), perm.map { inStrides[$0] }])
        let out = Tensor(shape: outShape) { out in
            guard out.count > 0 else { return }
            withUnsafeBufferPointer { a in
                let pa = a.baseAddress!, po = out.baseAddress!
                space.forEachRun { off, n, inner in
                    let src = pa + off[1], dst = po + off[0], s = inner[1]
                    if s == 1 {
                        dst.update(from: src, count: n)
                    } else {
                        for i in 0..<n { dst[i] = src[i * s] }
                    }
                }
            }
        }
        var inverse = [Int](repeating: 0, count: rank)
        for (i, p) in perm.enumerated() { inverse[p] = i }
        return out.recorded(from: self) { g in g.permuted(inverse) }
    }

    /// Swaps two axes (default: the last two), PyTorch `transpose(dim0, dim1)`.
    public func transposed(_ a0: Int = -2, _ a1: Int = -1) -> Tensor {
        var perm = Array(0..<rank)
        perm.swapAt(normalizeAxis(a0, rank: rank, "transpose"), normalizeAxis(a1, rank: rank, "transpose"))
        return permuted(perm)
    }

    /// Materialises the numpy broadcast of this tensor to `target`. VJP: sum back (unbroadcast).
    public func broadcast(to target: [Int]) -> Tensor {
        if target == shape { return self }
        check(
            broadcastShape(shape, target, "broadcast") == target, "broadcast: cannot broadcast \(shape) to \(target)")
        let space = StridedSpace(
            shape: target, strides: [contiguousStrides(target), broadcastStrides(shape, to: target)])
        let out = Tensor(shape: target) { out in
            guard out.count > 0 else { return }
            withUnsafeBufferPointer { a in
                let pa = a.baseAddress!, po = out.baseAddress!
                space.forEachRun { off, n, inner in
                    let src = pa + off[1], dst = po + off[0], s = inner[1]
                    for i in 0..<n { dst[i] = src[i * s] }
                }
            }
        }
        let original = shape
        return out.recorded(from: self) { g in g.unbroadcast(to: original) }
    }

    /// Extents of the axes before `axis`, of `axis`, and after it: the [outer, dim, inner] view.
    func splitExtents(at axis: Int) -> (outer: Int, dim: Int, inner: Int) {
        (shapeCount(Array(shape[..<axis])), shape[axis], shapeCount(Array(shape[(axis + 1)...])))
    }

    /// Elements `range` along `axis` (PyTorch `narrow` / `x[..., a:b, ...]`). VJP: zero-pad back.
    public func slice(axis: Int, _ range: Range<Int>) -> Tensor {
        let ax = normalizeAxis(axis, rank: rank, "slice")
        check(
            range.lowerBound >= 0 && range.upperBound <= shape[ax],
            "slice: range \(range) out of bounds for axis \(axis) of shape \(shape)")
        if range.count == shape[ax] { return self }
        let (outer, dim, inner) = splitExtents(at: ax)
        var outShape = shape
        outShape[ax] = range.count
        let len = range.count * inner
        let out = Tensor(shape: outShape) { out in
            guard out.count > 0 else { return }
            withUnsafeBufferPointer { a in
                for o in 0..<outer {
                    (out.baseAddress! + o * len).update(
                        from: a.baseAddress! + (o * dim + range.lowerBound) * inner, count: len)
                }
            }
        }
        let original = shape
        return out.recorded(from: self) { g in
            var full = Tensor.zeros(original)
            full.withUnsafeMutableBufferPointer { f in
                g.withUnsafeBufferPointer { gb in
                    for o in 0..<outer {
                        (f.baseAddress! + (o * dim + range.lowerBound) * inner).update(
                            from: gb.baseAddress! + o * len, count: len)
                    }
                }
            }
            return full
        }
    }

    /// Joins tensors along an existing axis (PyTorch `torch.cat`). VJP: slice the cotangent apart.
    public static func concatenate(_ parts: [Tensor], axis: Int = 0) -> Tensor {
        check(!parts.isEmpty, "concatenate: no tensors")
        let first = parts[0]
        let ax = normalizeAxis(axis, rank: first.rank, "concatenate")
        for p in parts {
            var a = p.shape, b = first.shape
            check(a.count == b.count, "concatenate: shapes \(first.shape) and \(p.shape) differ in rank")
            a[ax] = 0
            b[ax] = 0
            check(a == b, "concatenate: shapes \(first.shape) and \(p.shape) differ off axis \(axis)")
        }
        let dims = parts.map { $0.shape[ax] }
        let total = dims.reduce(0, +)
        var outShape = first.shape
        outShape[ax] = total
        let (outer, _, inner) = first.splitExtents(at: ax)
        let out = Tensor(shape: outShape) { out in
            guard out.count > 0 else { return }
            var start = 0
            for (p, d) in zip(parts, dims) {
                p.withUnsafeBufferPointer { a in
                    guard d > 0 else { return }
                    for o in 0..<outer {
                        (out.baseAddress! + (o * total + start) * inner).update(
                            from: a.baseAddress! + o * d * inner, count: d * inner)
                    }
                }
                start += d
            }
        }
        return out.recorded(from: parts) { g, needs in
            var start = 0
            return zip(dims, needs).map { d, need in
                defer { start += d }
                return need ? g.slice(axis: ax, start..<(start + d)) : nil
            }
        }
    }

    /// Joins tensors of one shape along a new axis (PyTorch `torch.stack`); built on concatenate.
    public static func stack(_ parts: [Tensor], axis: Int = 0) -> Tensor {
        check(!parts.isEmpty, "stack: no tensors")
        for p in parts {
            check(p.shape == parts[0].shape, "stack: shapes \(parts[0].shape) and \(p.shape) differ")
        }
        return concatenate(parts.map { $0.unsqueezed(axis: axis) }, axis: axis)
    }

    /// Splits into consecutive pieces of the given extents along `axis` (PyTorch `torch.split`).
    public func split(sizes: [Int], axis: Int = 0) -> [Tensor] {
        let ax = normalizeAxis(axis, rank: rank, "split")
        check(
            sizes.reduce(0, +) == shape[ax] && sizes.allSatisfy({ $0 >= 0 }),
            "split: sizes \(sizes) do not add up to extent \(shape[ax]) of axis \(axis) in \(shape)")
        var start = 0
        return sizes.map { n in
            defer { start += n }
            return slice(axis: ax, start..<(start + n))
        }
    }

    /// Splits into `count` equal pieces along `axis` (PyTorch `chunk` with an exact divisor).
    public func split(count: Int, axis: Int = 0) -> [Tensor] {
        let ax = normalizeAxis(axis, rank: rank, "split")
        check(
            count > 0 && shape[ax] % count == 0, "split: extent \(shape[ax]) of \(shape) is not divisible by \(count)")
        return split(sizes: Array(repeating: shape[ax] / count, count: count), axis: ax)
    }
}
