// Small dense least squares in Double for the surrogate models: weighted ridge (LIME), constrained WLS (KernelSHAP).

/// Solves A·x = b for a symmetric positive-definite A (n × n, row-major) by Cholesky; nil if A is
/// not positive definite.
func choleskySolve(_ a: [Double], _ b: [Double], n: Int) -> [Double]? {
    var l = [Double](repeating: 0, count: n * n)
    for i in 0..<n {
        for j in 0...i {
            var s = a[i * n + j]
            for k in 0..<j { s -= l[i * n + k] * l[j * n + k] }
            if i == j {
                guard s > 0 else { return nil }
                l[i * n + i] = s.squareRoot()
            } else {
                l[i * n + j] = s / l[j * n + j]
            }
        }
    }
    var y = [Double](repeating: 0, count: n)
    for i in 0..<n {
        var s = b[i]
        for k in 0..<i { s -= l[i * n + k] * y[k] }
        y[i] = s / l[i * n + i]
    }
    var x = [Double](repeating: 0, count: n)
    for i in stride(from: n - 1, through: 0, by: -1) {
        var s = y[i]
        for k in (i + 1)..<n { s -= l[k * n + i] * x[k] }
        x[i] = s / l[i * n + i]
    }
    return x
}

/// Weighted least squares with an L2 penalty on the coefficients (not on the intercept), as
/// `sklearn.linear_model.Ridge(alpha).fit(X, y, sample_weight=w)` with `fit_intercept=True`: X and y are
/// centred on their w-weighted means, then β = (XcᵀWXc + αI)⁻¹XcᵀWyc and intercept = ȳ − x̄ᵀβ.
/// `x` is rows × p row-major. A singular system (α = 0 and collinear columns) gets a 1e-10·trace
/// jitter, which is what a least-norm solution tends to.
func weightedRidge(x: [Double], y: [Double], weights w: [Double], rows: Int, p: Int, alpha: Double) -> (
    coefficients: [Double], intercept: Double
) {
    let wsum = w.reduce(0, +)
    var xm = [Double](repeating: 0, count: p)
    var ym = 0.0
    for r in 0..<rows {
        ym += w[r] * y[r]
        for j in 0..<p { xm[j] += w[r] * x[r * p + j] }
    }
    ym /= wsum
    for j in 0..<p { xm[j] /= wsum }
    var a = [Double](repeating: 0, count: p * p)
    var b = [Double](repeating: 0, count: p)
    var xc = [Double](repeating: 0, count: p)
    for r in 0..<rows {
        for j in 0..<p { xc[j] = x[r * p + j] - xm[j] }
        let yc = y[r] - ym
        for i in 0..<p {
            let wi = w[r] * xc[i]
            b[i] += wi * yc
            for j in 0...i { a[i * p + j] += wi * xc[j] }
        }
    }
    for i in 0..<p {
        for j in 0..<i { a[j * p + i] = a[i * p + j] }
        a[i * p + i] += alpha
    }
    let beta = solveRegularised(a, b, n: p)
    var intercept = ym
    for j in 0..<p { intercept -= xm[j] * beta[j] }
    return (beta, intercept)
}

/// Cholesky, retried with a growing diagonal jitter if A is only semi-definite.
func solveRegularised(_ a: [Double], _ b: [Double], n: Int) -> [Double] {
    if n == 0 { return [] }
    if let x = choleskySolve(a, b, n: n) { return x }
    var trace = 0.0
    for i in 0..<n { trace += a[i * n + i] }
    var jitter = max(trace / Double(n), 1) * 1e-10
    while true {
        var aj = a
        for i in 0..<n { aj[i * n + i] += jitter }
        if let x = choleskySolve(aj, b, n: n) { return x }
        jitter *= 10
    }
}

/// KernelSHAP's regression (Lundberg & Lee 2017, Theorem 2; shap `KernelExplainer.solve`): minimise
/// Σ wᵢ (yᵢ − φ₀ − zᵢᵀφ)² subject to φ₀ = f(∅) and Σφ = f(all) − f(∅) (the infinite-weight empty and
/// full coalitions), by eliminating the last coefficient: with Δ = f(all) − f(∅),
/// yᵢ − f(∅) − zᵢₘΔ = Σⱼ<ₘ (zᵢⱼ − zᵢₘ)φⱼ.
func constrainedShapleyRegression(
    z: [[Bool]], y: [Double], weights: [Double], empty: Double, full: Double
) -> [Double] {
    let m = z.first?.count ?? 0
    let delta = full - empty
    if m == 0 { return [] }
    if m == 1 { return [delta] }
    let p = m - 1
    var a = [Double](repeating: 0, count: p * p)
    var b = [Double](repeating: 0, count: p)
    var row = [Double](repeating: 0, count: p)
    for (i, zi) in z.enumerated() {
        let last = zi[m - 1] ? 1.0 : 0.0
        for j in 0..<p { row[j] = (zi[j] ? 1 : 0) - last }
        let target = y[i] - empty - last * delta
        let w = weights[i]
        for r in 0..<p where row[r] != 0 {
            b[r] += w * row[r] * target
            for c in 0...r { a[r * p + c] += w * row[r] * row[c] }
        }
    }
    for r in 0..<p { for c in 0..<r { a[c * p + r] = a[r * p + c] } }
    var phi = solveRegularised(a, b, n: p)
    phi.append(delta - phi.reduce(0, +))
    return phi
}
