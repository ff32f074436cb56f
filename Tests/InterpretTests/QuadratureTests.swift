// Quadrature rules: exactness on polynomials, Captum's stored nodes, and nesting for --tolerance.
import Foundation
import Interpret
import Testing
import Transformer

@Suite struct QuadratureTests {
    func integrate(_ q: Quadrature, _ f: (Double) -> Double) -> Double {
        zip(q.nodes, q.weights).reduce(0.0) { $0 + $1.1 * f($1.0) }
    }

    /// n-point Gauss–Legendre integrates x^k exactly for k ≤ 2n − 1 (∫₀¹ xᵏ = 1/(k+1)) and not x^{2n}.
    @Test(arguments: [1, 2, 3, 5, 8, 16, 32, 64])
    func gaussLegendreDegree(n: Int) {
        let q = Quadrature(.gaussLegendre, points: n)
        #expect(q.nodes == q.nodes.sorted())
        for k in 0...(2 * n - 1) {
            #expect(abs(integrate(q) { pow($0, Double(k)) } - 1 / Double(k + 1)) <= 1e-13, "n \(n) degree \(k)")
        }
        // …and not degree 2n (its error shrinks like (n!)⁴/((2n+1)((2n)!)³), so look at small n only).
        if n <= 5 { #expect(abs(integrate(q) { pow($0, Double(2 * n)) } - 1 / Double(2 * n + 1)) > 1e-10) }
    }

    /// Clenshaw–Curtis with n points is exact for degree n − 1; trapezoid for degree 1; weights sum to 1.
    @Test(arguments: [2, 3, 5, 9, 17, 33])
    func clenshawCurtisAndTrapezoid(n: Int) {
        let cc = Quadrature(.clenshawCurtis, points: n)
        #expect(cc.nodes.first == 0 && cc.nodes.last == 1)
        for k in 0..<n {
            #expect(abs(integrate(cc) { pow($0, Double(k)) } - 1 / Double(k + 1)) <= 1e-13, "n \(n) degree \(k)")
        }
        let tr = Quadrature(.riemannTrapezoid, points: n)
        #expect(abs(tr.weights.reduce(0, +) - 1) <= 1e-14)
        #expect(abs(integrate(tr) { $0 } - 0.5) <= 1e-14)
    }

    /// Captum's Gauss–Legendre nodes and step sizes for n = 32: numpy 2.4.6 `leggauss(32)` mapped to [0, 1]
    /// (α = (1 + x)/2, w/2), exactly the float64 datasets `/captum/ig_gausslegendre/{alphas,step_sizes}` of
    /// `Tests/Fixtures/parity/bert_tiny_cls.h5` (compared with h5py; HDF5Reader reads float32 only).
    static let captumAlphas: [Double] = [
        0.001368069075259215, 0.007194244227365809, 0.017618872206246805, 0.03254696203113017,
        0.051839422116973954, 0.07531619313371501, 0.10275810201602881, 0.13390894062985514,
        0.16847786653489238, 0.20614212137961885, 0.24655004553388532, 0.28932436193468236,
        0.33406569885893617, 0.38035631887393145, 0.42776401920860174, 0.4758461671561308,
        0.5241538328438692, 0.5722359807913983, 0.6196436811260685, 0.6659343011410639,
        0.7106756380653176, 0.7534499544661146, 0.7938578786203812, 0.8315221334651076,
        0.8660910593701449, 0.8972418979839711, 0.924683806866285, 0.948160577883026,
        0.9674530379688698, 0.9823811277937532, 0.9928057557726342, 0.9986319309247408,
    ]
    static let captumStepSizes: [Double] = [
        0.003509305004735253, 0.008137197365452872, 0.012696032654631012, 0.017136931456510882,
        0.021417949011113418, 0.025499029631188046, 0.029342046739267783, 0.03291111138818084,
        0.03617289705442417, 0.039096947893535114, 0.041655962113473353, 0.04382604650220189,
        0.04558693934788189, 0.046922199540402255, 0.047819360039637354, 0.04827004425736383,
        0.04827004425736383, 0.047819360039637354, 0.046922199540402255, 0.04558693934788189,
        0.04382604650220189, 0.041655962113473353, 0.039096947893535114, 0.03617289705442417,
        0.03291111138818084, 0.029342046739267783, 0.025499029631188046, 0.021417949011113418,
        0.017136931456510882, 0.012696032654631012, 0.008137197365452872, 0.003509305004735253,
    ]

    @Test func captumGaussLegendreNodes() {
        let q = Quadrature(.gaussLegendre, points: 32)
        #expect(q.nodes.count == 32 && q.weights.count == 32 && QuadratureTests.captumAlphas.count == 32)
        #expect(QuadratureTests.captumStepSizes.count == 32)
        #expect(zip(q.nodes, QuadratureTests.captumAlphas).allSatisfy { abs($0 - $1) <= 1e-15 })
        #expect(zip(q.weights, QuadratureTests.captumStepSizes).allSatisfy { abs($0 - $1) <= 1e-15 })
    }

    /// Refinement keeps every node of the coarser rule for the nested rules.
    @Test(arguments: [QuadratureRule.riemannLeft, .riemannRight, .riemannMiddle, .riemannTrapezoid, .clenshawCurtis])
    func nestedRefinement(rule: QuadratureRule) {
        var q = Quadrature(rule, points: rule == .riemannMiddle ? 3 : 5)
        for _ in 0..<3 {
            let next = q.refined()!
            #expect(next.count > q.count)
            for a in q.nodes { #expect(next.nodes.contains { abs($0 - a) <= 1e-14 }, "\(rule) lost node \(a)") }
            q = next
        }
    }
}
