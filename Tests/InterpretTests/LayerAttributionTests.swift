// Layer gradient × activation and layer integrated gradients against Captum 0.9 at every hidden state of the classifier.
import Foundation
import Interpret
import Tensor
import Testing
import Transformer

@Suite struct LayerAttributionTests {
    let golden: HDF5Reader
    let adapter: TransformerSalienceModel

    init() throws {
        golden = try HDF5Reader(fixture("parity/captum_layer.h5"))
        adapter = try CaptumCase().adapter(.prob)
    }

    func values(_ path: String) throws -> [Double] { try golden.tensor(path).scalars.map(Double.init) }

    @Test(arguments: [0, 1, 2])
    func gradientTimesActivationMatchesCaptum(layer: Int) throws {
        let s = try LayerGradientXActivation(layer: layer).explain(adapter)
        let want = try values("/prob/layer_\(layer)/grad_x_activation")
        #expect(s.layer == layer && s.method == .gradInput)
        #expect(relativeError(s.vectors!.scalars.map(Double.init), want) <= 1e-4, "layer \(layer)")
        let tokens = reduceTokens(try golden.tensor("/prob/layer_\(layer)/grad_x_activation"), .sum)
        #expect(relativeError(s.scores, tokens) <= 1e-4)
    }

    /// Captum interpolates the layer's activations between those of the zero input and of the input; its delta is
    /// Σ attributions − (F(x) − F(0)), the same as input IG's.
    @Test(arguments: [0, 1, 2])
    func layerIntegratedGradientsMatchesCaptum(layer: Int) throws {
        let s = try LayerIntegratedGradients(layer: layer, IntegratedGradients(steps: 16)).explain(adapter)
        let want = try values("/prob/layer_\(layer)/integrated_gradients")
        #expect(relativeError(s.vectors!.scalars.map(Double.init), want) <= 1e-4, "layer \(layer)")
        let gap = abs(s.inputScore! - s.baselineScore!)
        #expect(gap > 0.01)
        #expect(abs(s.delta! - (try values("/prob/layer_\(layer)/ig_delta"))[0]) <= 1e-4 * gap)
        // The endpoints are the input's: F at the layer activations of x and of the zero input.
        let plain = try IntegratedGradients(steps: 16).explain(adapter)
        #expect(abs(s.baselineScore! - plain.baselineScore!) <= 1e-5 && abs(s.inputScore! - plain.inputScore!) <= 1e-5)
    }

    /// Captum's LayerConductance with 16 + 1 Gauss–Legendre nodes: the layer's gradient at each node times the
    /// change of its activations to the next.
    @Test(arguments: [0, 1, 2])
    func conductanceMatchesCaptum(layer: Int) throws {
        let s = try LayerConductance(layer: layer, steps: 16).explain(adapter)
        let want = try values("/prob/layer_\(layer)/conductance")
        #expect(s.layer == layer && s.method == .conductance)
        #expect(relativeError(s.vectors!.scalars.map(Double.init), want) <= 1e-4, "layer \(layer)")
    }

    /// Captum's NeuronIntegratedGradients of unit 5 at [CLS]; completeness holds for the unit's own values.
    @Test(arguments: [0, 1, 2])
    func neuronIntegratedGradientsMatchesCaptum(layer: Int) throws {
        let s = try NeuronIntegratedGradients(layer: layer, unit: 5, IntegratedGradients(steps: 16)).explain(adapter)
        let want = try values("/prob/layer_\(layer)/neuron_5_integrated_gradients")
        #expect(s.layer == layer && s.neuron == 5 && s.target == "neuron \(layer):5")
        #expect(relativeError(s.vectors!.scalars.map(Double.init), want) <= 1e-4, "layer \(layer)")
        let x = adapter.inputEmbeddings
        let h = try adapter.hiddenState(layer: layer, x.reshaped([1] + x.shape)).scalars
        #expect(abs(s.inputScore! - Double(h[5])) <= 1e-5)  // row 0 ([CLS]), unit 5
    }

    /// `layer` in grad-input's and IG's config picks the layer methods; out of range it names the field.
    @Test func layerOptionSelectsTheLayerMethods() throws {
        #expect(try MethodID.gradInput.make(["layer": .int(1)]) is LayerGradientXActivation)
        #expect(try MethodID.gradInput.make([:]) is GradientTimesInput)
        let ig = try MethodID.ig.make(["layer": .int(2), "steps": .int(8)])
        #expect((ig as? LayerIntegratedGradients)?.integratedGradients.steps == 8)
        let neuron = try MethodID.ig.make(["neuron": .string("1:7")]) as? NeuronIntegratedGradients
        #expect(neuron?.layer == 1 && neuron?.unit == 7)
        for bad in ["1", "a:b", "1:-2", "1:2:3"] {
            #expect(throws: InterpretError.self) { try MethodID.ig.make(["neuron": .string(bad)]) }
        }
        #expect(throws: InterpretError.self) {
            try NeuronIntegratedGradients(layer: 1, unit: 128, IntegratedGradients(steps: 4)).explain(adapter)
        }
        #expect((try MethodID.conductance.make([:]) as? LayerConductance)?.layer == 0)
        do {
            _ = try LayerGradientXActivation(layer: 3).explain(adapter)
            Issue.record("layer 3 of a 2-layer model was accepted")
        } catch {
            guard case .invalidConfig(let o) = error else { Issue.record("\(error)"); return }
            #expect(o.field == "layer")
        }
        // A [PAD] baseline is made on the input side, so the layer view needs no [PAD] of its own.
        let pad = try LayerIntegratedGradients(layer: 1, IntegratedGradients(steps: 4, baseline: .pad)).explain(adapter)
        let zero = try LayerIntegratedGradients(layer: 1, IntegratedGradients(steps: 4)).explain(adapter)
        #expect(pad.baselineScore != zero.baselineScore)
        // Attributions to the input embeddings and to hidden state 0 (after embedding sum and LayerNorm) differ.
        let input = try GradientTimesInput().explain(adapter).scores
        let layer0 = try LayerGradientXActivation(layer: 0).explain(adapter).scores
        #expect(relativeError(layer0, input) > 0.01)
    }
}
