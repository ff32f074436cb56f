// TCAV on the random BERT-tiny classifier: the layer gradients, seeded runs, a separable concept, the t-test.
import Foundation
import Interpret
import Tensor
import Testing
import Transformer
import Workbench

@Suite struct TCAVTests {
    let model: LoadedModel

    init() throws { model = try Workbench.loadModel(fixture("bert_tiny_cls.h5")) }

    static let sentences = [
        "a gorgeous , witty , seductive movie .", "the plot is dull and the acting is flat .",
        "it is a charming and often affecting journey .", "unflinchingly bleak and desperate",
        "the film is strictly routine .", "a fine film with a great cast and a weak script",
        "one of the best films of the year", "it never finds its footing", "a sharp and funny comedy",
        "the story is too thin to carry the movie", "an engaging , moving drama", "boring , long and pointless",
    ]
    /// A concept the model's [CLS] activations separate from ordinary sentences: runs of punctuation.
    static let punctuation = ["! ! ! !", "? ? ?", "! ? ! ?", ". . . .", "! ! ?", "? . ? .", "! . !", ". ? ? !"]

    func examples(_ texts: [String], _ prefix: String) -> [Example] {
        texts.enumerated().map { Example(id: "\(prefix)\($0.offset)", text: $0.element) }
    }

    /// The re-run head reproduces the model's logits from every hidden state, and at the last layer the
    /// gradient matches central differences of classifier(tanh(pooler([CLS]))).
    @Test func layerGradientsReproduceTheModel() throws {
        guard case .bert(let bert) = model.network else { Issue.record("not BERT"); return }
        let inputs = examples(Array(Self.sentences.prefix(5)), "s")
        var r = PredictRequest(examples: inputs)
        r.includeLogits = true
        let logits = try Workbench.predict(r, model: model).map { $0.logits! }
        for layer in 0...bert.layers.count {
            let g = try Workbench.layerGradients(inputs, layer: layer, targetClass: 1, model: model)
            #expect(g.map(\.id) == inputs.map(\.id))
            #expect(logits.count == g.count)
            for (x, y) in zip(g, logits) {
                #expect(x.logits.count == y.count && zip(x.logits, y).allSatisfy { abs($0 - $1) < 1e-4 })
            }
        }
        let g = try Workbench.layerGradients(inputs, layer: nil, targetClass: 1, model: model)[0]
        let h = g.activation.count
        func logit(_ x: [Double]) -> Double {
            let cls = Tensor(shape: [1, h], scalars: x.map(Float.init))
            return Double(bert.classifier!(tanh(bert.pooler!(cls))).scalars[1])
        }
        var u = (0..<h).map { sin(Double($0) + 1) }
        let norm = u.reduce(0) { $0 + $1 * $1 }.squareRoot()
        u = u.map { $0 / norm }
        let eps = 1e-2
        let fd =
            (logit(zip(g.activation, u).map { $0 + eps * $1 }) - logit(zip(g.activation, u).map { $0 - eps * $1 }))
            / (2 * eps)
        let analytic = zip(g.gradient, u).reduce(0) { $0 + $1.0 * $1.1 }
        #expect(abs(fd - analytic) < 1e-2 * max(1, abs(analytic)), "\(fd) vs \(analytic)")
    }

    @Test func tcavIsSeededBoundedAndFindsASeparableConcept() throws {
        var request = TCAVRequest(
            concept: examples(Self.punctuation, "c"), random: examples(Self.sentences, "r"), targetClass: "positive")
        request.predictedOnly = false
        request.runs = 5
        let measured = examples(Self.sentences, "m")
        let a = try Workbench.tcav(request, model: model, examples: measured)
        let b = try Workbench.tcav(request, model: model, examples: measured)
        #expect(a == b)
        #expect((0...1).contains(a.score) && (0...1).contains(a.pValue) && a.runs == 5)
        #expect(a.scores.count == 5 && a.randomScores.count == 5 && a.scores.allSatisfy { (0...1).contains($0) })
        #expect(a.cavAccuracy >= 0.9, "accuracies \(a.accuracies)")
        #expect(a.measured == measured.map(\.id) && a.derivatives.count == measured.count)
        #expect(abs(a.cav.reduce(0) { $0 + $1 * $1 } - 1) < 1e-9)
        #expect(a.significant == (a.pValue < 0.05))
        #expect(a.pValue == Workbench.welchPValue(a.scores, a.randomScores))
        request.seed = 1
        let c = try Workbench.tcav(request, model: model, examples: measured)
        #expect(c.randomScores != a.randomScores || c.accuracies != a.accuracies || c.cav != a.cav)
        // LIT's default: only the inputs predicted as the target class are measured.
        request.predictedOnly = true
        let predicted = try Workbench.predict(PredictRequest(examples: measured), model: model)
        let positive = predicted.filter { $0.label == "positive" }.map(\.id)
        if positive.isEmpty {
            #expect(throws: WorkbenchError.self) { try Workbench.tcav(request, model: model, examples: measured) }
        } else {
            #expect(try Workbench.tcav(request, model: model, examples: measured).measured == positive)
        }
    }

    @Test func tcavRequestsDecodeAndAreChecked() throws {
        let json = #"{"concept":[{"id":1,"text":"a"}],"random":[],"target_class":1,"layer":1,"runs":3}"#
        let r = try JSONDecoder().decode(TCAVRequest.self, from: Data(json.utf8))
        #expect(r.targetClass == "1" && r.layer == 1 && r.runs == 3 && r.seed == 0 && r.predictedOnly)
        let few = workbenchError { () throws(WorkbenchError) in _ = try Workbench.tcav(r, model: model, examples: []) }
        #expect(few?.field == "concept")
        var bad = TCAVRequest(
            concept: examples(Self.punctuation, "c"), random: examples(Self.sentences, "r"), targetClass: "neutral")
        #expect(
            workbenchError { () throws(WorkbenchError) in _ = try Workbench.tcav(bad, model: model, examples: []) }?
                .field == "target")
        bad.targetClass = "0"
        bad.layer = 3
        #expect(
            workbenchError { () throws(WorkbenchError) in _ = try Workbench.tcav(bad, model: model, examples: []) }?
                .field == "layer")
    }

    /// Welch's t-test against scipy.stats.ttest_ind(a, b, equal_var=False) (scipy 1.x).
    @Test func welchTTestMatchesScipy() {
        let cases: [([Double], [Double], Double)] = [
            ([1, 2, 3, 4, 5], [2, 4, 6, 8, 10, 12], 0.04928433820673053),
            ([0.5, 0.6, 0.55, 0.7], [0.1, 0.2, 0.15, 0.3, 0.12], 0.00023615148755533617),
            ([1.0, 1.0, 0.9], [0.4, 0.6, 0.5, 0.5], 0.00030543677866533503),
        ]
        for (a, b, p) in cases { #expect(abs(Workbench.welchPValue(a, b) - p) < 1e-9 * p) }
        #expect(Workbench.welchPValue([0.5, 0.5], [0.5, 0.5]) == 1)
    }
}
