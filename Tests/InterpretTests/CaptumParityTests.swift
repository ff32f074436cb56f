// Gradient methods and integrated gradients against Captum 0.9.0 on the BERT-tiny golden classifier.
import Foundation
import Interpret
import Tensor
import Testing
import Tokenizers
import Transformer

/// The golden model, the Captum goldens, and the adapter for text 0 with target "positive".
struct CaptumCase {
    static let text = "the movie was a charming and often affecting journey ."
    let model: LoadedModel
    let golden: HDF5Reader

    init() throws {
        model = try LoadedModel.load(fixture("bert_tiny_cls.h5"))
        golden = try HDF5Reader(fixture("parity/bert_tiny_cls.h5"))
    }

    func adapter(_ score: ScoreKind) throws -> TransformerSalienceModel {
        var o = ExplainOptions(method: .gradNorm)
        o.score = score
        o.target = .label("positive")
        return try salienceModel(model, text: CaptumCase.text, options: o)
    }

    func values(_ path: String) throws -> [Double] { try golden.tensor(path).scalars.map(Double.init) }

    /// Captum's `riemann_trapezoid` for n points: α = linspace(0, 1, n), steps 1/n with both ends halved
    /// (weights sum to 1 − 1/n). Its Gauss–Legendre rule is ours (QuadratureTests.captumGaussLegendreNodes).
    static func captumTrapezoid(_ n: Int) -> Quadrature {
        var w = [Double](repeating: 1 / Double(n), count: n)
        w[0] /= 2
        w[n - 1] /= 2
        return Quadrature(nodes: (0..<n).map { Double($0) / Double(n - 1) }, weights: w)
    }
}

@Suite struct CaptumParityTests {
    @Test func tokensAreCaptumsInput() throws {
        let c = try CaptumCase()
        let a = try c.adapter(.prob)
        #expect(a.ids == (try c.golden.integers("/captum/input_ids").values))
        #expect(a.input.target == "positive")
        #expect(a.input.fixed == [0, a.length - 1])
    }

    @Test(arguments: [ScoreKind.prob, .logit])
    func gradientMethodsMatchCaptum(score: ScoreKind) throws {
        let c = try CaptumCase()
        let a = try c.adapter(score)
        let g = "/captum/\(score.rawValue)"
        let gn = try GradientNorm().explain(a)
        #expect(relativeError(gn.scores, try c.values("\(g)/grad_norm")) <= 1e-4)
        let gi = try GradientTimesInput().explain(a)
        #expect(relativeError(gi.scores, try c.values("\(g)/grad_input")) <= 1e-4)
        #expect(abs(gi.inputScore! - (try c.values("\(g)/F_input"))[0]) <= 1e-5)
    }

    /// Captum's gausslegendre and riemann_trapezoid IG, with Captum's nodes and weights (its trapezoid
    /// weights sum to 1 − 1/32, so its delta is about −3 % of F(x) − F(0); the same nodes give the same delta).
    @Test(arguments: [ScoreKind.prob, .logit])
    func integratedGradientsMatchCaptum(score: ScoreKind) throws {
        let c = try CaptumCase()
        let a = try c.adapter(score)
        let g = "/captum/\(score.rawValue)"
        let gl = try IntegratedGradients(steps: 32, rule: .gaussLegendre).explain(a)
        #expect(relativeError(gl.scores, try c.values("\(g)/ig_gausslegendre_sum")) <= 1e-4)
        #expect(relativeError(gl.vectors!.scalars.map(Double.init), try c.values("\(g)/ig_gausslegendre")) <= 1e-4)
        let fx = try c.values("\(g)/F_input")[0], fb = try c.values("\(g)/F_baseline")[0]
        #expect(abs(gl.inputScore! - fx) <= 1e-5 * max(1, abs(fx)))
        #expect(abs(gl.baselineScore! - fb) <= 1e-5 * max(1, abs(fb)))
        let scale = abs(fx - fb)
        #expect(abs(gl.delta! - (try c.values("\(g)/ig_gausslegendre_delta"))[0]) <= 1e-4 * scale)

        let tr = try IntegratedGradients(quadrature: CaptumCase.captumTrapezoid(32)).explain(a)
        #expect(relativeError(tr.scores, try c.values("\(g)/ig_riemann_trapezoid_sum")) <= 1e-4)
        let captumDelta = try c.values("\(g)/ig_riemann_trapezoid_delta")[0]
        #expect(abs(tr.delta! - captumDelta) <= 1e-4 * scale)
        #expect(abs(captumDelta) > 0.01 * scale)  // the 1 − 1/n weights show
    }

    /// Completeness on the BERT fixture: 64 Gauss–Legendre points, Σ attributions within 1e-3·|F(x) − F(0)| of
    /// F(x) − F(0) as PyTorch computed them (the goldens' F_input and F_baseline), not the method's own values;
    /// and delta is that difference as the method reports it.
    @Test(arguments: [ScoreKind.prob, .logit])
    func integratedGradientsCompleteness(score: ScoreKind) throws {
        let c = try CaptumCase()
        let a = try c.adapter(score)
        let ig = try IntegratedGradients(steps: 64, rule: .gaussLegendre).explain(a)
        let g = "/captum/\(score.rawValue)"
        let change = try c.values("\(g)/F_input")[0] - c.values("\(g)/F_baseline")[0]
        let gap = abs(change)
        #expect(gap > 0.01)
        let total = ig.scores.reduce(0, +)
        #expect(abs(total - change) <= 1e-3 * gap, "Σ attributions \(total) for F(x) − F(0) = \(change)")
        #expect(abs(ig.scores.reduce(0, +) - (ig.inputScore! - ig.baselineScore!) - ig.delta!) <= 1e-12)
    }

    /// The classifier's batched IG equals one interpolation point at a time (batches are independent rows).
    @Test func batchSizeDoesNotChangeIG() throws {
        let c = try CaptumCase()
        let a = try c.adapter(.prob)
        let one = try IntegratedGradients(steps: 6, batchSize: 1).explain(a)
        let all = try IntegratedGradients(steps: 6, batchSize: 6).explain(a)
        #expect(relativeError(one.scores, all.scores) <= 1e-5)
    }
}
