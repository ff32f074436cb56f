// `explainBatch` against `explain` one text at a time: the same Salience, field for field, up to float32 rounding.
import Foundation
import Interpret
import Tensor
import Testing
import Transformer

@Suite struct BatchedGradientsTests {
    let model: LoadedModel

    init() throws { model = try LoadedModel.load(fixture("bert_tiny_cls.h5")) }

    /// Lengths from 3 to ~70 tokens, out of length order, with word pieces, accents, a repeat and an empty text.
    static let texts = [
        "the plot is thin and the jokes fall flat .",
        "a gorgeous , witty , seductive movie .",
        "",
        "tedious , overlong and forgettable",
        "an affecting , beautifully acted drama that never condescends to its audience, its characters or its "
            + "subject, and whose unhurried pacing rewards the patient viewer with moments of startling, "
            + "unforced grace; the supporting cast is uniformly excellent, the photography luminous.",
        "meh",
        "the naïve café owner's unbelievably overwrought monologue",
        "a gorgeous , witty , seductive movie .",
        "it is neither funny nor moving , and at two hours it feels twice as long .",
        "bad",
        "the best film of the year , hands down , and one that will be remembered",
    ]

    /// Every field of `b` equals `a`'s, scores, vectors and probabilities within 1e-5 of the example's largest |value|.
    func expectSame(_ a: Salience, _ b: Salience, _ what: String) {
        #expect(a.method == b.method, "\(what)")
        #expect(a.text == b.text, "\(what)")
        #expect(a.tokens == b.tokens, "\(what)")
        #expect(a.offsets.map { [$0.start, $0.end] } == b.offsets.map { [$0.start, $0.end] }, "\(what)")
        #expect(a.target == b.target, "\(what)")
        #expect(a.score == b.score, "\(what)")
        #expect(a.contrast == b.contrast && a.layer == b.layer && a.neuron == b.neuron, "\(what)")
        #expect(a.kept == b.kept && a.removalOrder == b.removalOrder, "\(what)")
        #expect(a.delta == b.delta && a.baselineScore == b.baselineScore && a.steps == b.steps, "\(what)")
        #expect(a.evaluations == b.evaluations && a.converged == b.converged && a.attention == nil, "\(what)")
        #expect(a.prediction.map(\.label) == b.prediction.map(\.label), "\(what)")
        let p = a.prediction.map(\.probability), q = b.prediction.map(\.probability)
        #expect(maxDifference(p, q) <= 1e-5 * largest(p), "\(what): prediction \(p) vs \(q)")
        #expect(a.scores.count == b.scores.count, "\(what)")
        #expect(maxDifference(a.scores, b.scores) <= 1e-5 * largest(a.scores), "\(what): \(a.scores) vs \(b.scores)")
        if let x = a.inputScore, let y = b.inputScore {
            #expect(abs(x - y) <= 1e-5 * abs(x), "\(what): input score \(x) vs \(y)")
        } else {
            #expect(a.inputScore == nil && b.inputScore == nil, "\(what): input score")
        }
        #expect(a.vectors?.shape == b.vectors?.shape, "\(what): vectors")
        if let v = a.vectors, let w = b.vectors, v.shape == w.shape {
            let (x, y) = (v.scalars.map(Double.init), w.scalars.map(Double.init))
            #expect(maxDifference(x, y) <= 1e-5 * largest(x), "\(what): vectors")
        }
    }

    func maxDifference(_ a: [Double], _ b: [Double]) -> Double {
        a.count == b.count ? zip(a, b).map { abs($0 - $1) }.max() ?? 0 : .infinity
    }

    func largest(_ a: [Double]) -> Double { a.map(abs).max() ?? 0 }

    /// Both methods, each score kind, the predicted and a named target, word merging; batches of the default size
    /// and of at most 40 padded tokens (several batches, some of one row).
    @Test(arguments: [MethodID.gradInput, .gradNorm])
    func matchesOneByOne(method: MethodID) throws {
        var cases: [ExplainOptions] = []
        for score in ScoreKind.allCases {
            for target in [TargetSpec.predicted, .label(model.labels.first ?? "LABEL_0")] {
                var o = ExplainOptions(method: method)
                o.score = score
                o.target = target
                cases.append(o)
            }
        }
        var merged = ExplainOptions(method: method)
        merged.mergeWords = true
        cases.append(merged)
        cases.append(ExplainOptions(method: method, config: ["batch_size": .int(3)]))  // several batches of ≤ 3 texts
        for o in cases {
            let single = try Self.texts.map { try explain(model, text: $0, options: o) }
            for maxTokens in [2048, 40] {
                let batched = try explainBatch(model, texts: Self.texts, options: o, maxTokens: maxTokens)
                #expect(batched.count == Self.texts.count)
                for (i, (a, b)) in zip(single, batched).enumerated() {
                    #expect(b.text == Self.texts[i])
                    expectSame(a, b, "\(method) \(o.score) \(o.target) merge \(o.mergeWords) ≤\(maxTokens): text \(i)")
                }
            }
        }
    }

    /// `batch_size` 1 explains each text alone, exactly as `explain` does (bit for bit); 0 is refused by name.
    @Test func batchSizeOneIsOneByOne() throws {
        let o = ExplainOptions(method: .gradInput, config: ["batch_size": .int(1)])
        let single = try Self.texts.map { try explain(model, text: $0, options: ExplainOptions(method: .gradInput)) }
        let alone = try explainBatch(model, texts: Self.texts, options: o)
        #expect(zip(single, alone).allSatisfy { $0.scores == $1.scores && $0.vectors?.scalars == $1.vectors?.scalars })
        let batched = try explainBatch(model, texts: Self.texts, options: ExplainOptions(method: .gradInput))
        #expect(!zip(single, batched).allSatisfy { $0.scores == $1.scores }, "padded passes round differently")
        do {
            let zero = ExplainOptions(method: .gradNorm, config: ["batch_size": .int(0)])
            _ = try explainBatch(model, texts: Self.texts, options: zero)
            Issue.record("batch_size 0 was accepted")
        } catch {
            guard case .invalidConfig(let e) = error else { Issue.record("\(error)"); return }
            #expect(e.field == "batch_size")
        }
    }

    /// The texts really differ in length, so that rows are padded: otherwise the comparison shows nothing.
    @Test func textsArePadded() throws {
        let counts = try Self.texts.map { try model.encode([$0]).encodings[0].count }
        #expect(Set(counts).count >= 8)
        #expect(counts.max()! >= 10 * counts.min()!)
    }

    /// What cannot share a pass runs one by one, with the same results and errors as `explain`.
    @Test func fallsBackOneByOne() throws {
        var layer = ExplainOptions(method: .gradInput, config: ["layer": .int(1)])
        layer.score = .logit
        let single = try Self.texts.map { try explain(model, text: $0, options: layer) }
        let batched = try explainBatch(model, texts: Self.texts, options: layer)
        for (a, b) in zip(single, batched) {
            #expect(a.layer == 1 && b.layer == 1 && a.scores == b.scores && a.tokens == b.tokens)
        }
        var unknown = ExplainOptions(method: .gradInput)
        unknown.target = .label("neutral")
        #expect(throws: InterpretError.unknownTarget("neutral", known: model.labels)) {
            try explainBatch(model, texts: Self.texts, options: unknown)
        }
        #expect(try explainBatch(model, texts: [], options: ExplainOptions(method: .gradNorm)).isEmpty)
    }
}
