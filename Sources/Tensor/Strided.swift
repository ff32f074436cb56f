// Strided index-space walking shared by broadcasting, reductions and permutations.
//
// Every such op is "visit an N-d index space; for each point, operand k sits at sum(i_d * stride_k[d])".
// We drop unit axes, merge axes that are contiguous for every operand, and hand the innermost run to
// a kernel as (offsets, length, inner strides), so kernels loop over raw pointers and vectorise when
// the inner strides are 1 (or 0, for broadcast and reduction operands).

/// An index space of up to three operands (output first) after axis merging.

struct StridedSpace {
    var shape: [Int]
    var strides: [[Int]]  // per operand, per axis

    /// Builds the space, dropping size-1 axes and merging axes that are jointly contiguous.

    init(shape: [Int], strides: [[Int]]) {
        var dims: [Int] = []
        var st: [[Int]] = Array(repeating: [], count: strides.count)
        for d in 0..<shape.count where shape[d] != 1 {
            if let last = dims.indices.last,
                (0..<strides.count).allSatisfy({ st[$0][last] == strides[$0][d] * shape[d] })
            {
                dims[last] *= shape[d]
                for k in 0..<strides.count { st[k][last] = strides[k][d] }
            } else {
                dims.append(shape[d])
                for k in 0..<strides.count { st[k].append(strides[k][d]) }
            }
        }
        if dims.isEmpty {  // a scalar space: one point
            dims = [1]
            for k in 0..<strides.count { st[k] = [0] }
        }
        self.shape = dims
        self.strides = st
    }

    /// Calls `body(offsets, n, innerStrides)` once per innermost run.

    func forEachRun(_ body: (_ offsets: [Int], _ n: Int, _ inner: [Int]) -> Void) {
        let rank = shape.count
        let k = strides.count
        let inner = strides.map { $0[rank - 1] }
        let n = shape[rank - 1]
        if rank == 1 {
            body([Int](repeating: 0, count: k), n, inner)
            return
        }
        var index = [Int](repeating: 0, count: rank - 1)
        var offsets = [Int](repeating: 0, count: k)
        while true {
            body(offsets, n, inner)
            // Odometer increment over the outer axes.
            var d = rank - 2
            while d >= 0 {
                index[d] += 1
                for j in 0..<k { offsets[j] += strides[j][d] }
                if index[d] < shape[d] { break }
                for j in 0..<k { offsets[j] -= strides[j][d] * shape[d] }
                index[d] = 0
                d -= 1
            }
            if d < 0 { return }
        }
    }
}

/// The numpy/PyTorch broadcast of two shapes, or a stop naming both shapes.

func broadcastShape(_ a: [Int], _ b: [Int], _ op: String) -> [Int] {
    let rank = max(a.count, b.count)
    var out = [Int](repeating: 1, count: rank)
    for i in 0..<rank {
        let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
        let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
        check(
            da == db || da == 1 || db == 1, "\(op): shapes \(a) and \(b) cannot be broadcast together")
        out[i] = da == 1 ? db : da
    }
    return out
}

/// Strides that read a tensor of `shape` as if broadcast to `target` (0 on broadcast axes).

func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
    let own = contiguousStrides(shape)
    let pad = target.count - shape.count
    return (0..<target.count).map { i in
        i < pad || shape[i - pad] == 1 ? 0 : own[i - pad]
    }
}
