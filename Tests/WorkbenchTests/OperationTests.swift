// The typed operations on the fixture models: ids carried through, one explain entry point, Codable results.
import Foundation
import Interpret
import Testing
import Transformer
import Workbench

func fixture(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").appendingPathComponent(name).path
}

func workbenchError(_ body: () throws(WorkbenchError) -> Void) -> WorkbenchError? {
    do { try body() } catch { return error }
    return nil
}

@Suite struct OperationTests {
    let examples = [Example(id: "a", text: "a gorgeous , witty movie ."), Example(id: "b", text: "dull and flat")]

    @Test func predictionsCarryIdsAndRoundTrip() throws {
        let m = try Workbench.loadModel(fixture("bert_tiny_cls.h5"))
        var r = PredictRequest(examples: examples)
        r.batchSize = 1
        let p = try Workbench.predict(r, model: m)
        #expect(p.map(\.id) == ["a", "b"])
        #expect(p.allSatisfy { abs(($0.probabilities ?? [:]).values.reduce(0, +) - 1) < 1e-9 })
        // Same numbers in one batch as one by one.
        r.batchSize = 2
        let together = try Workbench.predict(r, model: m)
        #expect(together.map(\.id) == p.map(\.id))
        for (x, y) in zip(p, together) {
            #expect(Set(x.probabilities!.keys) == Set(y.probabilities!.keys))
            for (k, v) in x.probabilities! { #expect(abs(v - (y.probabilities![k] ?? .nan)) < 1e-6) }
        }
        let back = try JSONDecoder().decode([Prediction].self, from: JSONEncoder().encode(p))
        #expect(back == p)
        r.topK = 0
        #expect(
            workbenchError { () throws(WorkbenchError) in _ = try Workbench.predict(r, model: m) }?.message(naming: {
                "--" + $0
            }) == "--top_k must be at least 1, got 0")
    }

    /// BERT token salience and GPT-2 sequence salience come from the same call.
    @Test func oneExplainEntryPointForBothArchitectures() throws {
        let bert = try Workbench.loadModel(fixture("bert_tiny_cls.h5"))
        let gpt2 = try Workbench.loadModel(fixture("gpt2_tiny.h5"))
        var request = ExplainRequest(examples: examples, method: .ig, config: ["steps": .int(8)])
        let b = try Workbench.explain(request, model: bert)
        #expect(b.map(\.id) == ["a", "b"] && b.allSatisfy { $0.salience != nil && $0.sequence == nil })
        #expect(b[0].salience!.steps == 8 && b[0].salience!.method == .ig)
        request.examples = [Example(id: "p", text: "The dog")]
        request.maxTokens = 2
        let g = try Workbench.explain(request, model: gpt2)
        #expect(g.count == 1 && g[0].id == "p" && g[0].sequence?.steps.count == 2)
        // Encoded as the salience object plus the id, and decoded back.
        for e in b + g {
            let data = try JSONEncoder().encode(e)
            let object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
            #expect(object["id"] as? String == e.id)
            let back = try JSONDecoder().decode(Explanation.self, from: data)
            #expect(back.salience?.scores == e.salience?.scores)
            #expect(back.sequence?.steps.map(\.scores) == e.sequence?.steps.map(\.scores))
        }
        request.config = ["stepz": .int(8)]
        let e = workbenchError { () throws(WorkbenchError) in _ = try Workbench.explain(request, model: bert) }
        #expect(e?.field == "stepz")
    }

    /// A contrast token reaches GPT-2's sequence salience, survives the JSON round trip, and is refused for BERT.
    @Test func contrastIsForGPT2() throws {
        let bert = try Workbench.loadModel(fixture("bert_tiny_cls.h5"))
        let gpt2 = try Workbench.loadModel(fixture("gpt2_tiny.h5"))
        var request = ExplainRequest(examples: [Example(id: "p", text: "The dog")], method: .gradInput)
        request.contrast = "iz"
        let g = try Workbench.explain(request, model: gpt2)
        #expect(g[0].sequence?.steps.count == 1 && g[0].sequence?.steps[0].contrast == "iz")
        let back = try JSONDecoder().decode(Explanation.self, from: JSONEncoder().encode(g[0]))
        #expect(back.sequence?.steps[0].contrast == "iz")
        request.examples = examples
        let e = workbenchError { () throws(WorkbenchError) in _ = try Workbench.explain(request, model: bert) }
        #expect(e?.field == "contrast")
    }

    @Test func evaluationAcceptsLabelNamesAndIndices() throws {
        let m = try Workbench.loadModel(fixture("bert_tiny_cls.h5"))
        let labelled = [
            Example(id: "0", text: "a fine film", label: "positive"), Example(id: "1", text: "a dull film", label: "0"),
        ]
        let metrics = try Workbench.evaluate(EvaluateRequest(examples: labelled), model: m)
        #expect(metrics.examples == 2 && metrics.confusion.flatMap { $0 }.reduce(0, +) == 2)
        let bad = [Example(id: "x", text: "a film", label: "neutral")]
        let e = workbenchError { () throws(WorkbenchError) in
            _ = try Workbench.evaluate(EvaluateRequest(examples: bad), model: m)
        }
        #expect(e?.description == "example x: label \"neutral\" is not one of negative, positive")
        let wrong = workbenchError { () throws(WorkbenchError) in
            _ = try Workbench.evaluate(
                EvaluateRequest(examples: labelled), model: try Workbench.loadModel(fixture("gpt2_tiny.h5")))
        }
        guard case .wrongModel = wrong else {
            Issue.record("expected wrongModel, got \(String(describing: wrong))"); return
        }
    }

    /// Every method's spec validates its own defaults, and makes a method (LIT's config_spec).
    @Test func everyMethodHasASpecWithValidDefaults() throws {
        for id in MethodID.allCases {
            let method = try id.make([:])
            #expect(method.id == id)
            for f in id.spec.fields { #expect(!f.help.isEmpty && !f.summary.isEmpty) }
        }
        let spec = try JSONEncoder().encode(MethodID.ig.spec)
        #expect(String(decoding: spec, as: UTF8.self).contains("\"gauss-legendre\""))
    }
}
