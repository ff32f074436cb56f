// Exact Euclidean neighbours by blocks of BLAS distances (UMAP's kNN graph) and scikit-learn's trustworthiness.
import CBLAS
import Tensor

/// Row-major N×D points in Double, with their squared norms, for blocked distance computations.
struct PointSet {
    let n: Int, d: Int
    let x: [Double]
    let norms: [Double]

    init(_ values: [Float], rows n: Int, columns d: Int) {
        self.init(values.map(Double.init), rows: n, columns: d)
    }

    init(_ values: [Double], rows n: Int, columns d: Int) {
        precondition(values.count == n * d)
        (self.n, self.d, x) = (n, d, values)
        var norms = [Double](repeating: 0, count: n)
        for i in 0..<n {
            var s = 0.0
            for j in 0..<d { s += values[i * d + j] * values[i * d + j] }
            norms[i] = s
        }
        self.norms = norms
    }

    /// Calls `body(i, squared distances from i to every point)` for every point i in order. Rows run in blocks
    /// of at most 256 (and ≤ 4 Mi distances): ‖a − b‖² = ‖a‖² + ‖b‖² − 2a·b with a·b from one `dgemm` per
    /// block, clamped at 0, and the distance of a point to itself set to exactly 0.
    func forEachDistanceRow(_ body: (Int, UnsafeBufferPointer<Double>) -> Void) {
        guard n > 0 else { return }
        _ = Threads.count  // sets OpenBLAS's thread count before the first call
        let block = Swift.max(1, Swift.min(256, (1 << 22) / n))
        var g = [Double](repeating: 0, count: block * n)
        var start = 0
        while start < n {
            let rows = Swift.min(block, n - start)
            x.withUnsafeBufferPointer { xp in
                cblas_dgemm(
                    CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(n), Int32(d), 1,
                    xp.baseAddress! + start * d, Int32(d), xp.baseAddress!, Int32(d), 0, &g, Int32(n))
            }
            g.withUnsafeMutableBufferPointer { gp in
                for r in 0..<rows {
                    let i = start + r
                    let row = UnsafeMutableBufferPointer(rebasing: gp[(r * n)..<((r + 1) * n)])
                    for j in 0..<n { row[j] = Swift.max(0, norms[i] + norms[j] - 2 * row[j]) }
                    row[i] = 0
                    body(i, UnsafeBufferPointer(row))
                }
            }
            start += rows
        }
    }

    /// The `k` nearest points of every point (itself first, at distance 0, as umap-learn's exact kNN on its
    /// small-data path: argsort of `pairwise_distances`), by increasing distance, ties by index; `k` ≤ N.
    /// Returns [N·k] indices and Euclidean distances.
    func nearest(_ k: Int) -> (indices: [Int], distances: [Double]) {
        precondition(1 <= k && k <= n)
        var indices = [Int](repeating: 0, count: n * k), distances = [Double](repeating: 0, count: n * k)
        var best = [(Double, Int)](repeating: (0, 0), count: k)
        forEachDistanceRow { i, row in
            best[0] = (0, i)
            var filled = 1
            for j in 0..<n where j != i {
                let dj = row[j]
                // Keep best[1..<filled] sorted by (distance, index); j grows, so equal distances keep index order.
                if filled == k && dj >= best[k - 1].0 { continue }
                var p = filled == k ? k - 1 : filled
                if filled < k { filled += 1 }
                while p > 1 && best[p - 1].0 > dj {
                    best[p] = best[p - 1]
                    p -= 1
                }
                best[p] = (dj, j)
            }
            for r in 0..<k {
                indices[i * k + r] = best[r].1
                distances[i * k + r] = best[r].0.squareRoot()
            }
        }
        return (indices, distances)
    }
}

/// `sklearn.manifold.trustworthiness(X, X_embedded, n_neighbors=k, metric="euclidean")` (Venna & Kaski 2001):
///   T(k) = 1 − 2 / (n·k·(2n − 3k − 1)) · Σᵢ Σ_{j ∈ Nᵏᵢ(embedded)} max(0, r(i, j) − k),
/// where Nᵏᵢ are the k nearest neighbours of i in the embedding (i itself excluded) and r(i, j) is the rank
/// of j among i's neighbours in the original space (1 = nearest; i excluded; ties by index, where NumPy's
/// argsort leaves them unspecified). Needs k < n / 2, as scikit-learn checks.
func trustworthinessScore(original: PointSet, embedded: PointSet, neighbors k: Int) -> Double {
    let n = original.n
    precondition(embedded.n == n && k >= 1 && Double(k) < Double(n) / 2)
    // Embedded neighbours, i excluded.
    let near = embedded.nearest(k + 1).indices
    var t = 0.0
    original.forEachDistanceRow { i, row in
        for r in 1...k {
            let j = near[i * (k + 1) + r]
            let dj = row[j]
            var rank = 1
            for l in 0..<n where l != i {
                let dl = row[l]
                if dl < dj || (dl == dj && l < j) { rank += 1 }
            }
            t += Double(Swift.max(0, rank - k))
        }
    }
    let (nn, kk) = (Double(n), Double(k))
    return 1 - t * (2 / (nn * kk * (2 * nn - 3 * kk - 1)))
}
