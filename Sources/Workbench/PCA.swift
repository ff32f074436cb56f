// Principal component analysis through LAPACK: the covariance's leading eigenvectors, with scikit-learn's sign rule.
import CBLAS
import Tensor

/// Selected eigenpairs of a symmetric matrix, through LAPACK's `dsyevr` (MRRR).
enum SymmetricEigen {
    /// Eigenvalues number `lowest...highest` (1-based, ascending order) of the symmetric n×n matrix `a`
    /// (row-major; only its upper triangle is read, and `a` is overwritten) and their unit eigenvectors, one
    /// row-major row of n entries per eigenvalue. Nil when LAPACK reports a failure.
    static func compute(_ a: inout [Double], n: Int, lowest: Int, highest: Int) -> (
        values: [Double], vectors: [Double]
    )? {
        precondition(1 <= lowest && lowest <= highest && highest <= n && a.count == n * n)
        _ = Threads.count  // sets OpenBLAS's thread count before the first call
        var jobz = CChar(UInt8(ascii: "V")), range = CChar(UInt8(ascii: "I"))
        // Row-major upper = column-major lower of the same memory.
        var uplo = CChar(UInt8(ascii: "L"))
        var n32 = Int32(n), lda = Int32(n), il = Int32(lowest), iu = Int32(highest), ldz = Int32(n)
        var vl = 0.0, vu = 0.0, abstol = 0.0  // abstol 0: LAPACK's default accuracy (ε·‖T‖₁)
        var m: Int32 = 0, info: Int32 = 0
        let count = highest - lowest + 1
        var w = [Double](repeating: 0, count: n), z = [Double](repeating: 0, count: n * count)
        var isuppz = [Int32](repeating: 0, count: 2 * Swift.max(1, count))
        // Workspace query (lwork = liwork = -1), then the computation.
        var lwork: Int32 = -1, liwork: Int32 = -1, workSize = 0.0, iworkSize: Int32 = 0
        dsyevr_(
            &jobz, &range, &uplo, &n32, &a, &lda, &vl, &vu, &il, &iu, &abstol, &m, &w, &z, &ldz, &isuppz,
            &workSize, &lwork, &iworkSize, &liwork, &info, 1, 1, 1)
        guard info == 0 else { return nil }
        lwork = Int32(workSize)
        liwork = iworkSize
        var work = [Double](repeating: 0, count: Int(lwork)), iwork = [Int32](repeating: 0, count: Int(liwork))
        dsyevr_(
            &jobz, &range, &uplo, &n32, &a, &lda, &vl, &vu, &il, &iu, &abstol, &m, &w, &z, &ldz, &isuppz,
            &work, &lwork, &iwork, &liwork, &info, 1, 1, 1)
        guard info == 0, Int(m) == count else { return nil }
        // Column-major Z (n × m): eigenvector j is the contiguous column j, i.e. row j of `z` read row-major.
        return (Array(w[0..<count]), z)
    }
}

/// The outcome of `principalComponents`.
struct PCAResult {
    /// [N, k] row-major: the centred data projected on the components.
    var coordinates: [Double]
    /// Each component's variance over the total (scikit-learn's `explained_variance_ratio_`), largest first.
    var explainedVarianceRatio: [Double]
    /// [k, D] row-major unit vectors (scikit-learn's `components_`).
    var components: [Double]
}

/// PCA of the N×D row-major `x` on its `k` leading components, as scikit-learn's exact PCA computes it:
/// centre each column, eigendecompose the covariance C = XcᵀXc / (N − 1) in Double (the eigenvalues are
/// the squared singular values of Xc over N − 1, `explained_variance_`), sort by decreasing eigenvalue, and
/// divide by trace(C), the total variance. Signs follow `sklearn.utils.extmath.svd_flip(u, v,
/// u_based_decision=False)`, which PCA uses since scikit-learn 1.5: each component's entry of largest
/// magnitude (the first such) is positive, so the result does not depend on LAPACK's choice of sign.
/// Needs N ≥ 2 and k ≤ D. The D×D eigenproblem costs O(D³) whatever N is; the covariance O(N·D²).
func principalComponents(_ x: [Float], rows n: Int, columns d: Int, components k: Int) -> PCAResult? {
    precondition(n >= 2 && 1 <= k && k <= d && x.count == n * d)
    var mean = [Double](repeating: 0, count: d)
    for i in 0..<n { for j in 0..<d { mean[j] += Double(x[i * d + j]) } }
    for j in 0..<d { mean[j] /= Double(n) }
    var centred = [Double](repeating: 0, count: n * d)
    for i in 0..<n { for j in 0..<d { centred[i * d + j] = Double(x[i * d + j]) - mean[j] } }
    // C = Xcᵀ Xc / (N − 1), upper triangle (row-major).
    var c = [Double](repeating: 0, count: d * d)
    _ = Threads.count
    cblas_dsyrk(
        CblasRowMajor, CblasUpper, CblasTrans, Int32(d), Int32(n), 1 / Double(n - 1), centred, Int32(d), 0, &c,
        Int32(d))
    var total = 0.0
    for j in 0..<d { total += c[j * d + j] }
    guard let (values, vectors) = SymmetricEigen.compute(&c, n: d, lowest: d - k + 1, highest: d) else { return nil }
    // Ascending from LAPACK: the largest last.
    var components = [Double](repeating: 0, count: k * d)
    var ratios = [Double](repeating: 0, count: k)
    for r in 0..<k {
        let source = k - 1 - r
        var v = Array(vectors[(source * d)..<((source + 1) * d)])
        var best = 0
        for j in 1..<d where abs(v[j]) > abs(v[best]) { best = j }
        if v[best] < 0 { v = v.map { -$0 } }
        components.replaceSubrange((r * d)..<((r + 1) * d), with: v)
        ratios[r] = total > 0 ? Swift.max(values[source], 0) / total : 0
    }
    // Coordinates = Xc · componentsᵀ  [N, k].
    var coordinates = [Double](repeating: 0, count: n * k)
    cblas_dgemm(
        CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(k), Int32(d), 1, centred, Int32(d), components,
        Int32(d), 0, &coordinates, Int32(k))
    return PCAResult(coordinates: coordinates, explainedVarianceRatio: ratios, components: components)
}
