// UMAP (McInnes, Healy & Melville 2018, arXiv:1802.03426) as umap-learn 0.5 computes it, seeded and single-threaded.
//
// Steps and their umap-learn sources (umap/umap_.py, umap/layouts.py, umap/spectral.py):
// exact kNN (the small-data path) → `smooth_knn_dist` (ρ, σ) → `compute_membership_strengths` → fuzzy union
// (`fuzzy_simplicial_set`) → `simplicial_set_embedding`: weight filter, spectral initialisation, noise and
// rescaling, `make_epochs_per_sample`, `optimize_layout_euclidean` (SGD with negative sampling).
//
// Determinism: the same seed gives the same layout bit for bit as long as no other thread calls OpenBLAS during
// the kNN distances and the spectral eigenproblem (its threaded level-2 routines split their sums by the threads
// free at the call, and the SGD amplifies a last-bit difference); the server computes one request at a time.
import Foundation
import Tensor

struct UMAPResult {
    /// [N, dims] row-major.
    var coordinates: [Float]
    var neighbors: Int
    var epochs: Int
    var a: Double, b: Double
    /// "spectral", "pca" (fallback: disconnected graph or N > `UMAP.spectralLimit`) or "random" (tiny N).
    var initialization: String
}

enum UMAP {
    /// Largest N whose spectral initialisation is a dense N×N LAPACK eigenproblem; above it, PCA initialisation.
    static let spectralLimit = 2000
    /// The repulsive samples per attractive one (umap-learn's `negative_sample_rate`).
    static let negativeSampleRate = 5

    static func embed(
        _ points: PointSet, dims: Int, neighbors requested: Int, minDist: Double, epochs: Int?, seed: UInt64
    ) -> UMAPResult {
        let n = points.n
        // umap-learn: with N ≤ n_neighbors, n_neighbors = N − 1 and random initialisation.
        let tiny = n <= requested || n <= dims + 1
        let k = Swift.max(1, Swift.min(requested, n - 1))
        let defaultEpochs = n <= 10_000 ? 500 : 200
        let nEpochs = epochs ?? defaultEpochs
        let (a, b) = fitAB(minDist: minDist)
        var result = UMAPResult(
            coordinates: [Float](repeating: 0, count: n * dims), neighbors: k, epochs: nEpochs, a: a, b: b,
            initialization: "random")
        guard n > 1 else { return result }
        var random = SplitMix64(seed: seed)

        // The fuzzy graph, symmetric, as sorted (row, column) edges; then umap-learn's weight filter: edges
        // below max(w) / n_epochs (the default epochs when n_epochs ≤ 10) would never be sampled.
        let knn = points.nearest(k)
        var edges = fuzzyGraph(knn.indices, knn.distances, n: n, k: k)
        let wmax = edges.map(\.w).max() ?? 0
        let floor = wmax / Double(nEpochs > 10 ? nEpochs : defaultEpochs)
        edges.removeAll { $0.w < floor }

        // Initialisation, then umap-learn's `noisy_scale_coords` (largest |coordinate| 10, N(0, 1e-4) noise).
        var y: [Double]
        if tiny || edges.isEmpty {
            y = (0..<(n * dims)).map { _ in random.uniform(-10, 10) }  // init="random"
        } else if n <= spectralLimit, isConnected(edges, n: n), let s = spectral(edges, n: n, dims: dims) {
            y = s
            result.initialization = "spectral"
        } else if points.d >= dims,
            let p = principalComponents(
                points.x.map(Float.init), rows: n, columns: points.d, components: dims)
        {
            y = p.coordinates  // umap-learn's init="pca"
            result.initialization = "pca"
        } else {
            y = (0..<(n * dims)).map { _ in random.uniform(-10, 10) }
        }
        if result.initialization != "random" {
            let expansion = 10 / Swift.max(y.map(abs).max() ?? 1, .leastNormalMagnitude)
            y = y.map { Double(Float($0 * expansion) + Float(random.normal() * 1e-4)) }
        }
        // Every column to [0, 10] (simplicial_set_embedding, before the layout).
        var e = [Float](repeating: 0, count: n * dims)
        for c in 0..<dims {
            let column = (0..<n).map { y[$0 * dims + c] }
            let lo = column.min()!, span = column.max()! - lo
            for i in 0..<n { e[i * dims + c] = Float(span > 0 ? 10 * (column[i] - lo) / span : 0) }
        }
        if !edges.isEmpty { layout(&e, edges: edges, n: n, dims: dims, epochs: nEpochs, a: a, b: b, seed: seed) }
        result.coordinates = e
        return result
    }

    struct Edge {
        var i: Int, j: Int, w: Double
    }

    /// The fuzzy simplicial set: each point's directed memberships (`compute_membership_strengths`)
    ///   w(i → j) = 0 for j = i;  1 if d(i, j) ≤ ρᵢ or σᵢ = 0;  exp(−(d(i, j) − ρᵢ) / σᵢ) otherwise,
    /// combined by the fuzzy union (set_op_mix_ratio 1): w = w(i→j) + w(j→i) − w(i→j)·w(j→i). Zeros dropped.
    static func fuzzyGraph(_ indices: [Int], _ distances: [Double], n: Int, k: Int) -> [Edge] {
        let (sigma, rho) = smoothKNNDistances(distances, n: n, k: k)
        var directed = [[Int: Double]](repeating: [:], count: n)
        for i in 0..<n {
            for r in 0..<k {
                let j = indices[i * k + r], d = distances[i * k + r]
                let w = j == i ? 0 : (d - rho[i] <= 0 || sigma[i] == 0 ? 1 : exp(-(d - rho[i]) / sigma[i]))
                if w != 0 { directed[i][j] = w }
            }
        }
        var incoming = [[Int]](repeating: [], count: n)
        for i in 0..<n { for j in directed[i].keys { incoming[j].append(i) } }
        var edges: [Edge] = []
        for i in 0..<n {
            for j in Set(directed[i].keys).union(incoming[i]).sorted() {
                let p = directed[i][j] ?? 0, q = directed[j][i] ?? 0
                let w = p + q - p * q
                if w != 0 { edges.append(Edge(i: i, j: j, w: w)) }
            }
        }
        return edges
    }

    /// umap-learn's `smooth_knn_dist` (local_connectivity 1, bandwidth 1, 64 bisection steps): ρᵢ is the distance
    /// to the nearest other point at a non-zero distance, and σᵢ solves Σ_{j≥1} exp(−max(0, dᵢⱼ − ρᵢ) / σᵢ) =
    /// log₂ k (paper, eq. in §3.1 / Definition 9) to 1e-5; σᵢ is floored at 1e-3 × the mean distance of row i
    /// (of all rows when ρᵢ = 0). Rows are the k neighbours of each point, itself first.
    static func smoothKNNDistances(_ distances: [Double], n: Int, k: Int) -> (sigma: [Double], rho: [Double]) {
        let target = log2(Double(k))
        let tolerance = 1e-5, minScale = 1e-3
        let meanAll = distances.reduce(0, +) / Double(distances.count)
        var sigma = [Double](repeating: 0, count: n), rho = [Double](repeating: 0, count: n)
        for i in 0..<n {
            let row = distances[(i * k)..<((i + 1) * k)]
            rho[i] = row.first { $0 > 0 } ?? 0
            var lo = 0.0, hi = Double.infinity, mid = 1.0
            for _ in 0..<64 {
                var psum = 0.0
                for d in row.dropFirst() {
                    let x = d - rho[i]
                    psum += x > 0 ? exp(-(x / mid)) : 1
                }
                if abs(psum - target) < tolerance { break }
                if psum > target {
                    hi = mid
                    mid = (lo + hi) / 2
                } else {
                    lo = mid
                    mid = hi == .infinity ? mid * 2 : (lo + hi) / 2
                }
            }
            let mean = rho[i] > 0 ? row.reduce(0, +) / Double(k) : meanAll
            sigma[i] = Swift.max(mid, minScale * mean)
        }
        return (sigma, rho)
    }

    /// Whether the graph of `edges` joins all n points (union–find).
    static func isConnected(_ edges: [Edge], n: Int) -> Bool {
        var parent = Array(0..<n)
        func root(_ v: Int) -> Int {
            var v = v
            while parent[v] != v {
                parent[v] = parent[parent[v]]
                v = parent[v]
            }
            return v
        }
        var components = n
        for e in edges {
            let (p, q) = (root(e.i), root(e.j))
            if p != q {
                parent[p] = q
                components -= 1
            }
        }
        return components == 1
    }

    /// umap-learn's `spectral_layout`: eigenvectors 2 … dims + 1 (by ascending eigenvalue) of the normalised
    /// Laplacian L = I − D^{−1/2} W D^{−1/2}, D the weighted degrees (Belkin & Niyogi's Laplacian eigenmaps;
    /// paper §4.1). umap-learn uses ARPACK (`eigsh`); here LAPACK `dsyevr` on the dense N×N L. Each vector's
    /// entry of largest magnitude is made positive, for the same result on any LAPACK. [N, dims] row-major.
    static func spectral(_ edges: [Edge], n: Int, dims: Int) -> [Double]? {
        var degree = [Double](repeating: 0, count: n)
        for e in edges { degree[e.j] += e.w }  // column sums, as `graph.sum(axis=0)`
        let scale = degree.map { 1 / $0.squareRoot() }
        var l = [Double](repeating: 0, count: n * n)
        for i in 0..<n { l[i * n + i] = 1 }
        for e in edges { l[e.i * n + e.j] -= scale[e.i] * e.w * scale[e.j] }
        guard let (_, vectors) = SymmetricEigen.compute(&l, n: n, lowest: 1, highest: dims + 1) else { return nil }
        var y = [Double](repeating: 0, count: n * dims)
        for c in 0..<dims {
            let v = vectors[((c + 1) * n)..<((c + 2) * n)]
            var best = v.startIndex
            for t in v.indices where abs(v[t]) > abs(v[best]) { best = t }
            let sign: Double = v[best] < 0 ? -1 : 1
            for i in 0..<n { y[i * dims + c] = sign * v[v.startIndex + i] }
        }
        return y
    }

    /// umap-learn's `optimize_layout_euclidean`, single-threaded. Edge e is sampled every
    /// `epochs_per_sample` = max(w) / w epochs (`make_epochs_per_sample`); each sample moves both ends by the
    /// attractive gradient of the cross entropy with q = 1 / (1 + a·d^{2b}) (paper, §3.2 and appendix C):
    ///   ∂ = −2ab·d^{2(b−1)} / (1 + a·d^{2b}) · (yᵢ − yⱼ),
    /// then draws `negativeSampleRate` / `epochs_per_sample` random points per epoch as negatives, moving yᵢ by
    ///   ∂ = 2γb / ((0.001 + d²)(1 + a·d^{2b})) · (yᵢ − yₖ)   (γ = 1),
    /// every gradient component clipped to [−4, 4], with learning rate α = 1 − epoch / n_epochs (the first two
    /// epochs at 1, as umap-learn updates α after each epoch). Negatives come from a SplitMix64 stream per
    /// vertex (umap-learn: a Tausworthe stream per vertex), seeded by `seed`.
    static func layout(
        _ e: inout [Float], edges: [Edge], n: Int, dims: Int, epochs: Int, a: Double, b: Double, seed: UInt64
    ) {
        let wmax = edges.map(\.w).max()!
        let perSample = edges.map { wmax / $0.w }
        let perNegative = perSample.map { $0 / Double(negativeSampleRate) }
        var nextSample = perSample, nextNegative = perNegative
        var streams = (0..<n).map { SplitMix64(seed: seed &+ 0x5851_F42D_4C95_7F2D &* UInt64($0 + 1)) }
        let heads = edges.map(\.i), tails = edges.map(\.j)
        let (fa, fb) = (Float(a), Float(b))
        @inline(__always) func clip(_ g: Float) -> Float { Swift.min(4, Swift.max(-4, g)) }
        var alpha: Float = 1
        e.withUnsafeMutableBufferPointer { y in
            for epoch in 0..<epochs {
                let now = Double(epoch)
                for s in 0..<edges.count where nextSample[s] <= now {
                    let j = heads[s], k = tails[s]
                    var d2: Float = 0
                    for c in 0..<dims {
                        let t = y[j * dims + c] - y[k * dims + c]
                        d2 += t * t
                    }
                    var coefficient: Float = 0
                    if d2 > 0 {
                        let powB1 = powf(d2, fb - 1)  // d^{2(b−1)}; d^{2b} = d^{2(b−1)}·d²
                        coefficient = -2 * fa * fb * powB1 / (fa * powB1 * d2 + 1)
                    }
                    for c in 0..<dims {
                        let g = clip(coefficient * (y[j * dims + c] - y[k * dims + c]))
                        y[j * dims + c] += g * alpha
                        y[k * dims + c] -= g * alpha
                    }
                    nextSample[s] += perSample[s]
                    let negatives = Int((now - nextNegative[s]) / perNegative[s])
                    for _ in 0..<Swift.max(0, negatives) {
                        let other = Int(streams[j].next() % UInt64(n))
                        var d2: Float = 0
                        for c in 0..<dims {
                            let t = y[j * dims + c] - y[other * dims + c]
                            d2 += t * t
                        }
                        if d2 > 0 {
                            let coefficient = 2 * fb / ((0.001 + d2) * (fa * powf(d2, fb) + 1))
                            for c in 0..<dims {
                                y[j * dims + c] += clip(coefficient * (y[j * dims + c] - y[other * dims + c])) * alpha
                            }
                        }  // d² = 0: no move (umap-learn: grad 0, or skip when it drew the point itself)
                    }
                    nextNegative[s] += Double(Swift.max(0, negatives)) * perNegative[s]
                }
                alpha = Float(1 - now / Double(epochs))
            }
        }
    }

    /// umap-learn's `find_ab_params(spread = 1, min_dist)`: least squares of 1 / (1 + a·x^{2b}) against
    /// 1 for x < min_dist and exp(−(x − min_dist)) beyond, on 300 points of [0, 3], from (a, b) = (1, 1).
    /// scipy's `curve_fit` runs MINPACK's Levenberg–Marquardt; this is Levenberg–Marquardt with the
    /// analytic Jacobian and Marquardt's diagonal scaling, to the same minimum.
    static func fitAB(minDist: Double, spread: Double = 1) -> (a: Double, b: Double) {
        let xs = (0..<300).map { spread * 3 * Double($0) / 299 }
        let ys = xs.map { $0 < minDist ? 1 : exp(-($0 - minDist) / spread) }
        func cost(_ a: Double, _ b: Double) -> Double {
            var s = 0.0
            for (x, y) in zip(xs, ys) {
                let r = 1 / (1 + a * pow(x, 2 * b)) - y
                s += r * r
            }
            return s
        }
        var (a, b) = (1.0, 1.0)
        var current = cost(a, b), lambda = 1e-3
        for _ in 0..<500 {
            // Normal equations JᵀJ δ = −Jᵀr, J = ∂f/∂(a, b): f = 1/(1+u), u = a·x^{2b};
            // ∂f/∂a = −x^{2b}/(1+u)², ∂f/∂b = −2a·x^{2b}·ln x/(1+u)².
            var (h11, h12, h22, g1, g2) = (0.0, 0.0, 0.0, 0.0, 0.0)
            for (x, y) in zip(xs, ys) where x > 0 {
                let p = pow(x, 2 * b), u = a * p, f = 1 / (1 + u)
                let ja = -p * f * f, jb = -2 * u * log(x) * f * f, r = f - y
                h11 += ja * ja
                h12 += ja * jb
                h22 += jb * jb
                g1 += ja * r
                g2 += jb * r
            }
            var accepted = false
            while lambda < 1e16 {
                let (m11, m22) = (h11 * (1 + lambda), h22 * (1 + lambda))
                let det = m11 * m22 - h12 * h12
                let da = (-g1 * m22 + g2 * h12) / det, db = (-g2 * m11 + g1 * h12) / det
                let trial = cost(a + da, b + db)
                if trial.isFinite && trial <= current {
                    let small = abs(da) <= 1e-14 * (abs(a) + 1e-14) && abs(db) <= 1e-14 * (abs(b) + 1e-14)
                    (a, b, current) = (a + da, b + db, trial)
                    lambda = Swift.max(lambda / 10, 1e-12)
                    accepted = !small
                    break
                }
                lambda *= 10
            }
            if !accepted { break }
        }
        return (a, b)
    }
}
