// LIT's counterfactual generators on the random BERT-tiny classifier: exact rewrites, seeded shuffles, verified flips.
import Foundation
import Interpret
import Tensor
import Testing
import Transformer
import Workbench

@Suite struct CounterfactualTests {
    let model: LoadedModel

    init() throws { model = try Workbench.loadModel(fixture("bert_tiny_cls.h5")) }

    func generate(_ texts: [String], _ g: GeneratorID, _ config: ConfigValues = [:]) throws -> [Counterfactual] {
        let examples = texts.enumerated().map { Example(id: "e\($0.offset)", text: $0.element) }
        return try Workbench.counterfactuals(
            CounterfactualRequest(examples: examples, generator: g, config: config), model: model)
    }

    func label(_ text: String) throws -> String {
        try Workbench.predict(PredictRequest(examples: [Example(id: "x", text: text)]), model: model)[0].label!
    }

    @Test func wordReplacerRewritesOneOccurrencePerOutputAsLIT() throws {
        let text = "Great movie, great cast. greatly good."
        let out = try generate(
            [text], .wordReplacer, ["substitutions": .string("great -> terrible, good -> bad | poor")])
        #expect(
            out.map(\.example.text) == [
                "terrible movie, great cast. greatly good.", "Great movie, terrible cast. greatly good.",
                "Great movie, great cast. greatly bad.", "Great movie, great cast. greatly poor.",
            ])
        #expect(out.map(\.example.id) == ["e0-cf0", "e0-cf1", "e0-cf2", "e0-cf3"])
        #expect(out.allSatisfy { $0.example.parent == "e0" && $0.prediction.id == $0.example.id })
        #expect(out[0].edits == [CounterfactualEdit(start: 0, end: 5, from: "Great", to: "terrible")])
        #expect(out[1].edits == [CounterfactualEdit(start: 13, end: 18, from: "great", to: "terrible")])
        // Every occurrence of one rule at once; case-sensitive; a punctuation source matches anywhere.
        let all = try generate(
            [text], .wordReplacer,
            ["substitutions": .string("great -> terrible, good -> bad | poor"), "per_occurrence": .bool(false)])
        #expect(
            all.map(\.example.text) == [
                "terrible movie, terrible cast. greatly good.", "Great movie, great cast. greatly bad.",
                "Great movie, great cast. greatly poor.",
            ])
        let cased = try generate(
            [text], .wordReplacer, ["substitutions": .string("Great -> Fine"), "ignore_casing": .bool(false)])
        #expect(cased.map(\.example.text) == ["Fine movie, great cast. greatly good."])
        let partial = try generate(
            [text], .wordReplacer, ["substitutions": .string("great -> big"), "whole_word": .bool(false)])
        #expect(partial.map(\.example.text).last == "Great movie, great cast. bigly good.")
        let dots = try generate(["a.b ."], .wordReplacer, ["substitutions": .string(". -> !")])
        #expect(dots.map(\.example.text) == ["a!b .", "a.b !"])
        #expect(try generate(["nothing here"], .wordReplacer).isEmpty)
        // Unicode-scalar offsets after a multi-scalar character.
        let accented = try generate(["e\u{301}t\u{e9} great"], .wordReplacer)
        #expect(accented[0].edits?.first?.start == 5 && accented[0].example.text == "e\u{301}t\u{e9} terrible")
        let bad = workbenchError { () throws(WorkbenchError) in
            _ = try Workbench.counterfactuals(
                CounterfactualRequest(
                    examples: [Example(id: "a", text: "x")], generator: .wordReplacer,
                    config: ["substitutions": .string("great terrible")]), model: model)
        }
        #expect(bad?.field == "substitutions")
    }

    @Test func scramblerIsSeededAndPermutesTheWords() throws {
        let text = "the acting is sharp and the story moves fast"
        let a = try generate([text, "one two three four"], .scrambler, ["samples": .int(3), "seed": .int(7)])
        let b = try generate([text, "one two three four"], .scrambler, ["samples": .int(3), "seed": .int(7)])
        let c = try generate([text], .scrambler, ["samples": .int(3), "seed": .int(8)])
        #expect(a.map(\.example.text) == b.map(\.example.text))
        #expect(a.prefix(3).map(\.example.text) != c.map(\.example.text))
        #expect(a.map(\.example.id) == ["e0-cf0", "e0-cf1", "e0-cf2", "e1-cf0", "e1-cf1", "e1-cf2"])
        for cf in a {
            let parent = cf.example.parent == "e0" ? text : "one two three four"
            #expect(cf.example.text.split(separator: " ").sorted() == parent.split(separator: " ").sorted())
        }
        #expect(Set(a.prefix(3).map(\.example.text)).count > 1)
        // Each example's shuffles do not depend on the other examples of the request.
        let alone = try generate([text], .scrambler, ["samples": .int(3), "seed": .int(7)])
        #expect(alone.map(\.example.text) == a.prefix(3).map(\.example.text))
    }

    /// The random fixture model calls all of the first 150 SST-2 dev sentences positive (p ≈ 0.6–0.8); these
    /// are dev sentences on which a search with the default limits found ablation flips (one needs a single
    /// removal, others 2–5), so the checks below are not vacuous (at least one flip must be found).
    static let texts = [
        "the cold turkey would 've been a far better title .", "a tender , heartfelt family drama .",
        "a gorgeous , witty , seductive movie .", "i had to look away - this was god awful .",
    ]

    @Test func ablationFlipsReallyFlipAndAreMinimal() throws {
        let out = try generate(Self.texts, .ablationFlip, ["max_outputs": .int(3)])
        #expect(!out.isEmpty, "no ablation flip found on the fixture inputs")
        #expect(Set(out.map(\.example.text)).count == out.count)  // ", movie ." once, though two commas can go
        for cf in out {
            let parent = Self.texts[Int(cf.example.parent!.dropFirst())!]
            let original = try label(parent)
            #expect(try label(cf.example.text) != original && cf.prediction.label != original)
            // The removed words, and every strict non-empty subset of them: none of those flips.
            let words = parent.split(separator: " ").map(String.init)
            var starts: [Int] = [], at = 0
            for w in words {
                starts.append(at)
                at += w.unicodeScalars.count + 1
            }
            let removed = cf.edits!.map { e in starts.firstIndex(of: e.start)! }
            #expect(cf.edits!.allSatisfy { $0.to == "" && words[starts.firstIndex(of: $0.start)!] == $0.from })
            #expect(
                cf.example.text
                    == words.indices.filter { !removed.contains($0) }.map { words[$0] }.joined(separator: " "))
            for mask in 1..<((1 << removed.count) - 1) {
                let sub = Set(removed.indices.filter { mask & (1 << $0) != 0 }.map { removed[$0] })
                let text = words.indices.filter { !sub.contains($0) }.map { words[$0] }.joined(separator: " ")
                #expect(try label(text) == original, "a strict subset of \(cf.edits!.map(\.from)) flips")
            }
        }
        // Bounded: with one candidate beyond leave-one-out, at most one flip per example removes several words.
        let capped = try generate(Self.texts, .ablationFlip, ["max_candidates": .int(1)])
        for p in Set(capped.map { $0.example.parent! }) {
            #expect(capped.filter { $0.example.parent == p && $0.edits!.count > 1 }.count <= 1)
        }
    }

    @Test func hotflipEstimatesAreFirstOrderAndFlipsAreReal() throws {
        guard case .bert(let bert) = model.network else { Issue.record("not BERT"); return }
        let example = Example(id: "h", text: Self.texts[0])
        let a = try Workbench.hotflipCandidates(example, model: model)
        #expect(!a.candidates.isEmpty && a.tokens.first == "[CLS]")
        #expect(a.candidates.allSatisfy { !$0.replacement.hasPrefix("##") && $0.position > 0 })
        let t = a.ids.count
        let batch = TokenBatch(ids: a.ids, typeIDs: [Int](repeating: 0, count: t), batchSize: 1, length: t)
        let e = bert.wordEmbeddings(batch).scalars  // [1, T, H]
        let table = bert.embeddings.wordEmbeddings
        let h = table.shape[1]
        func logp(_ x: [Float]) -> Double {
            let z = bert(batch, inputEmbeddings: Tensor(shape: [1, t, h], scalars: x), pooledOnly: true).logits!.scalars
            let m = z.max()!
            return Double(z[a.predictedIndex] - m) - log(z.reduce(0) { $0 + Double(exp($1 - m)) })
        }
        #expect(abs(logp(e) - a.logProbability) < 1e-4)
        // Central differences along e_v − e_i at the first three positions: the estimate is the derivative.
        for c in a.candidates.prefix(3) {
            let step = 0.05
            var plus = e, minus = e
            for d in 0..<h {
                let delta = table.scalars[c.replacementID * h + d] - table.scalars[a.ids[c.position] * h + d]
                plus[c.position * h + d] += Float(step) * delta
                minus[c.position * h + d] -= Float(step) * delta
            }
            let fd = (logp(plus) - logp(minus)) / (2 * step)
            #expect(
                abs(fd - c.estimate) < 0.02 * abs(c.estimate) + 2e-3, "position \(c.position): \(fd) vs \(c.estimate)")
        }
        // Every returned flip changes the label on a real forward pass of its text.
        let out = try generate(Self.texts, .hotflip, ["max_outputs": .int(3)])
        #expect(!out.isEmpty, "no HotFlip found on the fixture inputs")
        for cf in out {
            let parent = Self.texts[Int(cf.example.parent!.dropFirst())!]
            #expect(try label(cf.example.text) != label(parent))
            let edits = cf.edits!
            #expect(!edits.isEmpty && edits.count <= 3)
            #expect(abs(edits.reduce(0) { $0 + $1.estimate! } - cf.estimatedChange!) < 1e-9)
            // The text is the parent's with exactly the edited spans replaced.
            var s = Array(parent.unicodeScalars)
            for ed in edits.reversed() { s.replaceSubrange(ed.start..<ed.end, with: Array(ed.to.unicodeScalars)) }
            #expect(String(String.UnicodeScalarView(s)) == cf.example.text)
        }
        let json = try JSONEncoder().encode(out)
        #expect(String(decoding: json, as: UTF8.self).contains("\"estimated_change\""))
    }

    @Test func generatorsDeclareSpecsAndCompatibility() throws {
        let gpt2 = try Workbench.loadModel(fixture("gpt2_tiny.h5"))
        for g in GeneratorID.allCases {
            #expect(try g.spec.validate([:]).values.count == g.spec.fields.count)
            #expect(g.spec.fields.allSatisfy { !$0.help.isEmpty })
            #expect(g.isCompatible(model))
        }
        #expect(GeneratorID.scrambler.isCompatible(gpt2) && !GeneratorID.hotflip.isCompatible(gpt2))
        #expect(!GeneratorID.ablationFlip.isCompatible(gpt2))
        let e = workbenchError { () throws(WorkbenchError) in
            _ = try Workbench.counterfactuals(
                CounterfactualRequest(examples: [Example(id: "p", text: "The dog")], generator: .hotflip), model: gpt2)
        }
        guard case .wrongModel = e else { Issue.record("expected wrongModel, got \(String(describing: e))"); return }
        let unknown = workbenchError { () throws(WorkbenchError) in
            _ = try Workbench.counterfactuals(
                CounterfactualRequest(examples: [], generator: .hotflip, config: ["max_flip": .int(2)]), model: model)
        }
        #expect(unknown?.field == "max_flip")
        let request = try JSONDecoder().decode(
            CounterfactualRequest.self,
            from: Data(
                #"{"examples":[{"id":1,"text":"a"}],"generator":"ablation-flip","config":{"max_ablations":2}}"#.utf8))
        #expect(request.generator == .ablationFlip && request.config["max_ablations"] == .int(2))
    }
}
