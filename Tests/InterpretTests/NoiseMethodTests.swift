// SmoothGrad / SmoothGrad² / VarGrad and GradientSHAP against Captum 0.9 (its draws replayed), and their own properties.
import Foundation
import Interpret
import Tensor
import Testing
import Transformer

/// Captum's NoiseTunnel and GradientShap on the classifier's text 0, target "positive", score prob
/// (weights-scripts/make_attribution_goldens.py).
struct NoiseGolden {
    let golden: HDF5Reader
    let adapter: TransformerSalienceModel

    init() throws {
        golden = try HDF5Reader(fixture("parity/captum_noise.h5"))
        adapter = try CaptumCase().adapter(.prob)
    }

    /// Rows of a [S, T, H] dataset, one [T·H] array per sample.
    func rows(_ path: String) throws -> [[Float]] {
        let t = try golden.tensor(path)
        let n = t.shape[0], size = t.count / max(n, 1), s = t.scalars
        return (0..<n).map { Array(s[($0 * size)..<(($0 + 1) * size)]) }
    }

    func values(_ path: String) throws -> [Double] { try golden.tensor(path).scalars.map(Double.init) }
}

@Suite struct NoiseMethodTests {
    @Test(arguments: [
        (MethodID.gradNorm, NoiseTunnelType.smoothgrad), (.gradInput, .smoothgrad), (.gradInput, .smoothgradSq),
        (.gradInput, .vargrad), (.ig, .smoothgrad),
    ])
    func noiseTunnelMatchesCaptum(base: MethodID, type: NoiseTunnelType) throws {
        let g = try NoiseGolden()
        let path = "/prob/\(base.rawValue)/\(type.rawValue)"
        let noise = try g.rows("\(path)/noise")
        let method = SmoothGrad(
            base: base, type: type, samples: noise.count, integratedGradients: IntegratedGradients(steps: 8),
            draws: noise)
        let s = try method.explain(g.adapter)
        let want = try g.values("\(path)/attributions")
        #expect(relativeError(s.vectors!.scalars.map(Double.init), want) <= 1e-4, "\(path)")
        let reduction: TokenReduction = type == .smoothgrad && base == .gradNorm ? .l2 : .sum
        let tokens = reduceTokens(Tensor(shape: s.vectors!.shape, scalars: want.map(Float.init)), reduction)
        #expect(relativeError(s.scores, tokens) <= 1e-4, "\(path)")
    }

    /// σ = 0.15 · (max − min) of the input embeddings, as the golden script computed it from Captum's input.
    @Test func noiseScaleIsAFractionOfTheEmbeddingRange() throws {
        let g = try NoiseGolden()
        let sigma = 0.15 * SmoothGrad.range(g.adapter.inputEmbeddings)
        #expect(abs(sigma - (try g.values("/sigma"))[0]) <= 1e-6 * sigma)
    }

    @Test func gradientShapMatchesCaptum() throws {
        let g = try NoiseGolden()
        let path = "/prob/gradient-shap/smoothgrad"
        let noise = try g.rows("\(path)/noise"), baselines = try g.rows("\(path)/baselines")
        let alphas = try g.golden.tensor("\(path)/alphas").scalars
        let draws = (0..<noise.count).map { (baseline: baselines[$0], alpha: alphas[$0], noise: noise[$0]) }
        let s = try GradientSHAP(samples: draws.count, draws: draws).explain(g.adapter)
        #expect(relativeError(s.vectors!.scalars.map(Double.init), try g.values("\(path)/attributions")) <= 1e-4)
    }

    /// Without noise every copy is the input: SmoothGrad of grad × input is grad × input, VarGrad is zero. (The copies
    /// run as a batch of 3 rows, the plain method as one: float32 rounding differs, as in batchSizeDoesNotChangeIG.)
    @Test func zeroNoiseGivesTheBaseMethod() throws {
        let a = try CaptumCase().adapter(.prob)
        let plain = try GradientTimesInput().explain(a)
        let smooth = try SmoothGrad(base: .gradInput, samples: 3, noise: 0).explain(a)
        #expect(relativeError(smooth.scores, plain.scores) <= 1e-5)
        let variance = try SmoothGrad(base: .gradInput, type: .vargrad, samples: 3, noise: 0).explain(a)
        #expect(variance.scores.allSatisfy { abs($0) <= 1e-9 * plain.scores.map(abs).max()! * plain.scores.map(abs).max()! })
    }

    /// The seed fixes the draws; another seed gives other scores; VarGrad is never negative.
    @Test func seededDrawsAreReproducible() throws {
        let a = try CaptumCase().adapter(.prob)
        let one = try MethodID.smoothgrad.make(["samples": .int(4), "seed": .int(3)]).explain(a)
        let again = try MethodID.smoothgrad.make(["samples": .int(4), "seed": .int(3)]).explain(a)
        let other = try MethodID.smoothgrad.make(["samples": .int(4), "seed": .int(4)]).explain(a)
        #expect(one.scores == again.scores)
        #expect(one.scores != other.scores)
        let v = try MethodID.vargrad.make(["samples": .int(4)]).explain(a)
        #expect(v.scores.allSatisfy { $0 >= 0 } && v.scores.contains { $0 > 0 } && v.method == .vargrad)
        let shap = try MethodID.gradientShap.make(["samples": .int(4), "seed": .int(3)]).explain(a)
        let shapAgain = try MethodID.gradientShap.make(["samples": .int(4), "seed": .int(3)]).explain(a)
        #expect(shap.scores == shapAgain.scores && shap.steps == 4)
    }

    /// With one baseline and no noise GradientSHAP is IG's integral by Monte Carlo: many samples come near IG.
    @Test func gradientShapWithOneBaselineApproachesIG() throws {
        let a = try CaptumCase().adapter(.logit)
        let ig = try IntegratedGradients(steps: 32).explain(a)
        let shap = try GradientSHAP(samples: 256, baseline: .zeros, seed: 1).explain(a)
        #expect(relativeError(shap.scores, ig.scores) <= 0.1)
        let few = try GradientSHAP(samples: 2, baseline: .zeros, seed: 1).explain(a)
        #expect(relativeError(few.scores, ig.scores) > relativeError(shap.scores, ig.scores))
    }

    @Test func optionsAreValidatedByName() throws {
        #expect(throws: InterpretError.self) { try MethodID.smoothgrad.make(["base": .string("lime")]) }
        #expect(throws: InterpretError.self) { try MethodID.smoothgrad.make(["noise": .double(-1)]) }
        #expect(throws: InterpretError.self) { try MethodID.gradientShap.make(["baseline": .string("uniform")]) }
        let m = try MethodID.smoothgrad.make(["base": .string("ig"), "steps": .int(8)]) as! SmoothGrad
        #expect(m.base == .ig && m.integratedGradients.steps == 8 && m.type == .smoothgrad)
        #expect((try MethodID.vargrad.make([:]) as! VarGrad).smoothGrad.type == .vargrad)
        #expect(MethodID.vargrad.spec["nt_type"] == nil && MethodID.smoothgrad.spec["nt_type"] != nil)
    }
}
