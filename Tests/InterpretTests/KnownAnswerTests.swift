// Known answers: on models whose attributions are analytic, every method must return exactly those.
import Foundation
import Interpret
import Tensor
import Testing

@Suite struct GradientKnownAnswerTests {
    /// Linear bag, score = u: ∂F/∂xₜ = w for every token, so grad-norm = ‖w‖ and grad × input = w·xₜ.
    @Test func gradientsOfALinearBag() throws {
        let m = LinearBag(length: 6, hidden: 16, seed: 1)
        let norm = m.w.scalars.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        let gn = try GradientNorm().explain(m)
        #expect(relativeError(gn.scores, [Double](repeating: norm, count: 6)) <= 1e-6)
        let gi = try GradientTimesInput().explain(m)
        #expect(relativeError(gi.scores, m.tokenTerms) <= 1e-6)
        #expect(gi.tokens == m.input.tokens)
    }

    /// IG of a linear score is (x − x′)·w per token for any rule whose weights sum to 1, and delta = 0.
    @Test(arguments: QuadratureRule.allCases)
    func integratedGradientsOfALinearBag(rule: QuadratureRule) throws {
        let m = LinearBag(length: 5, hidden: 12, seed: 2)
        let ig = try IntegratedGradients(steps: 9, rule: rule).explain(m)
        #expect(relativeError(ig.scores, m.tokenTerms) <= 1e-6)
        #expect(abs(ig.delta!) <= 1e-5 * abs(m.tokenTerms.reduce(0, +)))
    }

    /// F = sigmoid(u), u = Σₜ w·xₜ, zero baseline: along the line u(α) = αu, so
    /// IGₜ = (w·xₜ / u)·(sigmoid(u) − sigmoid(0)) exactly. 32 Gauss–Legendre points reach it to 1e-6.
    @Test func integratedGradientsOfASigmoidBag() throws {
        let m = LinearBag(length: 7, hidden: 10, seed: 3, bias: 0, squash: true)
        let terms = m.tokenTerms
        let u = terms.reduce(0, +)
        let expected = terms.map { $0 / u * (m.link(u) - 0.5) }
        let ig = try IntegratedGradients(steps: 32, rule: .gaussLegendre).explain(m)
        #expect(relativeError(ig.scores, expected) <= 1e-5)
        #expect(abs(ig.inputScore! - m.link(u)) <= 1e-6)
        #expect(abs(ig.baselineScore! - 0.5) <= 1e-7)
        // A coarse left Riemann sum is visibly worse: the test can tell rules apart.
        let left = try IntegratedGradients(steps: 4, rule: .riemannLeft).explain(m)
        #expect(relativeError(left.scores, expected) > 1e-3)
    }

    /// The [MASK] baseline replaces non-fixed tokens only: fixed positions keep x and get no attribution.
    @Test func maskBaselineKeepsFixedTokens() throws {
        let m = LinearBag(length: 6, hidden: 8, seed: 4, fixed: [0, 5])
        let ig = try IntegratedGradients(steps: 8, baseline: .mask).explain(m)
        var expected = m.tokenTerms  // mask embedding = 0, so x − x′ = x except at fixed positions
        expected[0] = 0
        expected[5] = 0
        #expect(relativeError(ig.scores, expected) <= 1e-6)
    }

    /// With a tolerance, nested rules refine until |delta| ≤ tol·|ΔF| and reuse every evaluation.
    @Test(arguments: [QuadratureRule.clenshawCurtis, .riemannTrapezoid, .gaussLegendre])
    func toleranceRefines(rule: QuadratureRule) throws {
        let m = LinearBag(length: 6, hidden: 10, seed: 5, bias: -0.3, squash: true)
        let tol = 1e-4
        let ig = try IntegratedGradients(steps: 2, rule: rule, tolerance: tol).explain(m)
        let gap = abs(ig.inputScore! - ig.baselineScore!)
        #expect(ig.converged == true)
        #expect(abs(ig.delta!) <= tol * gap)
        #expect(ig.steps! > 2)
        if rule == .gaussLegendre {
            #expect(ig.evaluations! > ig.steps!)  // doubling keeps nothing but the middle node
        } else {
            #expect(ig.evaluations! == ig.steps!)  // nested: every coarser node is reused
        }
    }
}

@Suite struct PerturbationKnownAnswerTests {
    /// Masking a token of the linear bag removes exactly w·xₜ: leave-one-out gives the terms.
    @Test(arguments: Perturbation.allCases)
    func occlusionOfALinearBag(perturbation: Perturbation) throws {
        let m = LinearBag(length: 8, hidden: 6, seed: 6, fixed: [0, 7])
        let s = try Occlusion(perturbation: perturbation).explain(m)
        var expected = m.tokenTerms
        expected[0] = 0
        expected[7] = 0
        #expect(relativeError(s.scores, expected) <= 1e-5)
    }

    /// LIME on an exactly linear f(z) = b + Σ zₜ·(w·xₜ): unregularised, the surrogate's coefficients are
    /// the model's weights; with LIT's defaults (ridge α = 1, 256 samples) they keep their signs and order
    /// and stay within 5 % of the largest.
    @Test func limeRecoversALinearModel() throws {
        let m = LinearBag(length: 9, hidden: 8, seed: 7)
        let exact = try LIME(samples: 256, seed: 3, alpha: 0).explain(m)
        #expect(relativeError(exact.scores, m.tokenTerms) <= 1e-5)
        let ridge = try LIME(seed: 3).explain(m)
        #expect(relativeError(ridge.scores, m.tokenTerms) <= 0.05)
        let order = { (v: [Double]) in v.indices.sorted { v[$0] > v[$1] } }
        #expect(order(ridge.scores) == order(m.tokenTerms))
        // Another seed gives other samples (the seed is used).
        let other = try LIME(samples: 64, seed: 4).explain(m)
        let same = try LIME(samples: 64, seed: 3).explain(m)
        #expect(other.scores != same.scores)
        #expect(try LIME(samples: 64, seed: 3).explain(m).scores == same.scores)
    }

    /// Brute-force Shapley values: φᵢ = Σ_{S ⊆ N∖i} |S|!(M−|S|−1)!/M! · (f(S ∪ i) − f(S)).
    func bruteForceShapley(_ m: some SalienceModel) throws -> [Double] {
        let n = m.length
        var masks: [[Bool]] = []
        for code in 0..<(1 << n) { masks.append((0..<n).map { code & (1 << $0) != 0 }) }
        let f = try m.perturbedScores(masks, by: .mask)
        func factorial(_ k: Int) -> Double { k < 2 ? 1 : (2...k).reduce(1.0) { $0 * Double($1) } }
        return (0..<n).map { i in
            var phi = 0.0
            for code in 0..<(1 << n) where code & (1 << i) == 0 {
                let s = code.nonzeroBitCount
                phi += factorial(s) * factorial(n - s - 1) / factorial(n) * (f[code | (1 << i)] - f[code])
            }
            return phi
        }
    }

    @Test(arguments: [3, 6, 10])
    func kernelShapExactEqualsBruteForce(tokens: Int) throws {
        let m = InteractionModel(length: tokens, hidden: 5, seed: UInt64(tokens))
        let expected = try bruteForceShapley(m)
        let shap = try KernelSHAP().explain(m)
        #expect(shap.steps == 1 << tokens)
        #expect(relativeError(shap.scores, expected) <= 1e-6)
        // Efficiency: Σφ = f(all) − f(∅).
        #expect(abs(shap.scores.reduce(0, +) - (shap.inputScore! - shap.baselineScore!)) <= 1e-9)
    }

    /// Beyond 10 tokens KernelSHAP samples coalitions; on an additive model any coalition set gives the
    /// exact answer, and on the interaction model it approaches brute force.
    @Test func kernelShapSampled() throws {
        let linear = LinearBag(length: 12, hidden: 4, seed: 8)
        let s = try KernelSHAP(samples: 200, seed: 1).explain(linear)
        #expect(s.steps == 202)
        #expect(relativeError(s.scores, linear.tokenTerms) <= 1e-5)
        let m = InteractionModel(length: 12, hidden: 5, seed: 9)
        let expected = try bruteForceShapley(m)
        let sampled = try KernelSHAP(samples: 2048, seed: 1).explain(m)
        #expect(relativeError(sampled.scores, expected) <= 0.05)
    }
}

@Suite struct InformationMethodTests {
    /// Guan et al.'s README example: Φ(x) = W·x with W = [10, 20, 5, −20, −10]; words 2 and 4 (|W| = 20)
    /// keep the most information (smallest σ), word 3 (|W| = 5) the least. r from 100 sampled inputs as
    /// in the example, the default scale 10 × std of the embeddings, λ = 0.1, lr 0.01.
    @Test func weightedSumRanksWordsTwoAndFour() throws {
        let m = WeightedSumPhi(seed: 11)
        let samples: [any SalienceModel] = (0..<100).map { WeightedSumPhi(seed: 1000 + UInt64($0)) }
        let r = try InformationSalience.regularization(layer: 0, samples: samples)
        #expect(r.shape == [256])
        let s = try InformationSalience(layer: 0, iterations: 1000, regularization: r, seed: 0).explain(m)
        let order = s.scores.indices.sorted { s.scores[$0] < s.scores[$1] }
        #expect(Set(order.prefix(2)) == [1, 3], "σ = \(s.scores)")
        #expect(order.last == 2, "σ = \(s.scores)")
        #expect(s.scores.allSatisfy { $0 > 0 && $0 < 10 * 0.0101 })
        // Without r the reference code normalises by mean(Φ(x)²); the ranking is the same.
        let selfNormalised = try InformationSalience(layer: 0, iterations: 1000, seed: 0).explain(m)
        let order2 = selfNormalised.scores.indices.sorted { selfNormalised.scores[$0] < selfNormalised.scores[$1] }
        #expect(Set(order2.prefix(2)) == [1, 3], "σ = \(selfNormalised.scores)")
    }
}
