// Quadrature rules on [0, 1] for integrated gradients: Riemann sums, trapezoid, Gauss–Legendre, Clenshaw–Curtis.
import Foundation

/// A quadrature rule name (`--rule`).
public enum QuadratureRule: String, Sendable, CaseIterable {
    case riemannLeft = "riemann-left"
    case riemannRight = "riemann-right"
    case riemannMiddle = "riemann-middle"
    case riemannTrapezoid = "riemann-trapezoid"
    case gaussLegendre = "gauss-legendre"
    case clenshawCurtis = "clenshaw-curtis"

    /// The smallest number of points the rule is defined for.
    public var minimumPoints: Int {
        switch self {
        case .riemannTrapezoid, .clenshawCurtis: return 2
        default: return 1
        }
    }
}

/// Nodes αₖ ∈ [0, 1] and weights wₖ with ∫₀¹ f ≈ Σ wₖ f(αₖ), in Double.
public struct Quadrature: Sendable, Equatable {
    public var nodes: [Double]
    public var weights: [Double]
    /// The rule it came from (nil for explicit nodes, e.g. Captum's stored ones).
    public var rule: QuadratureRule?

    public var count: Int { nodes.count }

    /// Explicit nodes and weights, e.g. Captum's `approximation_parameters(method)(n)`.
    public init(nodes: [Double], weights: [Double]) {
        precondition(nodes.count == weights.count, "Quadrature: \(nodes.count) nodes, \(weights.count) weights")
        self.nodes = nodes
        self.weights = weights
        self.rule = nil
    }

    /// The `n`-point rule. Riemann rules use step 1/n at the left ends, right ends or midpoints of the n
    /// intervals (as Captum). The trapezoid rule here is the composite trapezoid on n equally spaced points
    /// including both ends, weights 1/(n−1) with the ends halved, so the weights sum to 1 — Captum's
    /// `riemann_trapezoid` uses step 1/n instead, and its weights sum to 1 − 1/n. Gauss–Legendre is
    /// numpy's `leggauss(n)` mapped to [0, 1] (α = (1 + x)/2, w/2), as Captum; Clenshaw–Curtis uses the
    /// n Chebyshev extreme points, α = (1 − cos(kπ/(n−1)))/2.
    public init(_ rule: QuadratureRule, points n: Int) {
        precondition(
            n >= rule.minimumPoints, "Quadrature: \(rule.rawValue) needs at least \(rule.minimumPoints) points")
        self.rule = rule
        let dn = Double(n)
        switch rule {
        case .riemannLeft:
            nodes = (0..<n).map { Double($0) / dn }
            weights = Array(repeating: 1 / dn, count: n)
        case .riemannRight:
            nodes = (0..<n).map { Double($0 + 1) / dn }
            weights = Array(repeating: 1 / dn, count: n)
        case .riemannMiddle:
            nodes = (0..<n).map { (Double($0) + 0.5) / dn }
            weights = Array(repeating: 1 / dn, count: n)
        case .riemannTrapezoid:
            let h = 1 / Double(n - 1)
            nodes = (0..<n).map { Double($0) * h }
            weights = Array(repeating: h, count: n)
            weights[0] /= 2
            weights[n - 1] /= 2
        case .gaussLegendre:
            let (x, w) = gaussLegendre(n)
            nodes = x.map { (1 + $0) / 2 }
            weights = w.map { $0 / 2 }
        case .clenshawCurtis:
            (nodes, weights) = clenshawCurtis(n)
        }
    }

    /// The next rule of the refinement sequence for `--tolerance`: nested rules (left/right ×2,
    /// middle ×3, trapezoid and Clenshaw–Curtis n → 2n − 1) keep every previous node, so earlier
    /// gradient evaluations are reused; Gauss–Legendre doubles n and shares no nodes (except ½).
    public func refined() -> Quadrature? {
        guard let rule else { return nil }
        switch rule {
        case .riemannLeft, .riemannRight, .gaussLegendre: return Quadrature(rule, points: 2 * count)
        case .riemannMiddle: return Quadrature(rule, points: 3 * count)
        case .riemannTrapezoid, .clenshawCurtis: return Quadrature(rule, points: 2 * count - 1)
        }
    }
}

/// Gauss–Legendre nodes (ascending) and weights on [−1, 1]: Newton's method on Pₙ from the
/// Tricomi-style initial guesses cos(π(i − ¼)/(n + ½)), with the three-term recurrence
/// (k+1)Pₖ₊₁ = (2k+1)xPₖ − kPₖ₋₁ and Pₙ′ = n(xPₙ − Pₙ₋₁)/(x² − 1); weights 2/((1 − x²)Pₙ′(x)²).
/// Matches numpy.polynomial.legendre.leggauss to about 1e-15.
func gaussLegendre(_ n: Int) -> (nodes: [Double], weights: [Double]) {
    /// (Pₙ(z), Pₙ₋₁(z)) by the recurrence.
    func legendre(_ z: Double) -> (Double, Double) {
        var previous = 1.0, current = z
        if n == 1 { return (z, 1) }
        for k in 1..<n {
            let next = (Double(2 * k + 1) * z * current - Double(k) * previous) / Double(k + 1)
            previous = current
            current = next
        }
        return (current, previous)
    }
    var x = [Double](repeating: 0, count: n), w = [Double](repeating: 0, count: n)
    for i in 0..<((n + 1) / 2) {
        var z = cos(Double.pi * (Double(i) + 0.75) / (Double(n) + 0.5))
        for _ in 0..<100 {
            let (pn, pm) = legendre(z)
            let dz = pn / (Double(n) * (z * pn - pm) / (z * z - 1))
            z -= dz
            if abs(dz) <= 1e-16 { break }
        }
        let (pn, pm) = legendre(z)
        let dp = Double(n) * (z * pn - pm) / (z * z - 1)
        let weight = 2 / ((1 - z * z) * dp * dp)
        (x[i], x[n - 1 - i]) = (-z, z)
        (w[i], w[n - 1 - i]) = (weight, weight)
    }
    if n % 2 == 1 { x[n / 2] = 0 }
    return (x, w)
}

/// Clenshaw–Curtis on [0, 1] with n ≥ 2 points (N = n − 1 intervals): nodes (1 − cos(kπ/N))/2 and the
/// classical weights wₖ = (cₖ/N)(1 − Σⱼ₌₁^{⌊N/2⌋} bⱼ cos(2jkπ/N)/(4j² − 1)), cₖ = 1 at the ends and 2
/// inside, bⱼ = 1 for j = N/2 and 2 otherwise (Trefethen, "Is Gauss quadrature better than
/// Clenshaw–Curtis?", SIAM Review 2008), halved for [0, 1].
func clenshawCurtis(_ n: Int) -> (nodes: [Double], weights: [Double]) {
    let big = n - 1
    var nodes = [Double](), weights = [Double]()
    for k in 0...big {
        // sin² form of (1 − cos θ)/2: exact 0 and 1 at the ends and symmetric nodes.
        let s = sin(Double.pi * Double(k) / Double(2 * big))
        nodes.append(k == big ? 1 : s * s)
        var sum = 0.0
        if big >= 2 {
            for j in 1...(big / 2) {
                let b: Double = 2 * j == big ? 1 : 2
                sum += b * cos(2 * Double(j) * Double(k) * Double.pi / Double(big)) / Double(4 * j * j - 1)
            }
        }
        let c: Double = k == 0 || k == big ? 1 : 2
        weights.append(c / Double(big) * (1 - sum) / 2)
    }
    return (nodes, weights)
}
