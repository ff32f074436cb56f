// Output: the JSON fields of `loupe explain`, word merging, colours and the HTML page.
import Foundation
import Interpret
import Testing
import Transformer

@Suite struct RenderTests {
    @Test func jsonHasOneScorePerModelToken() throws {
        let m = try LoadedModel.load(fixture("bert_tiny_cls.h5"))
        let o = ExplainOptions(method: .ig, config: ["steps": .int(4)])
        let s = try explain(m, text: "a charming , affecting film", options: o)
        let encoder = JSONEncoder()
        let json = try JSONSerialization.jsonObject(with: encoder.encode(s)) as! [String: Any]
        let tokens = json["tokens"] as! [String]
        #expect(tokens.first == "[CLS]" && tokens.last == "[SEP]")
        #expect((json["scores"] as! [Double]).count == tokens.count)
        #expect((json["offsets"] as! [[Int]]).count == tokens.count)
        #expect(Set((json["prediction"] as! [String: Double]).keys) == ["negative", "positive"])
        #expect(json["delta"] != nil && json["method"] as? String == "ig")
        // Decoding gives the same explanation back (vectors are not encoded).
        let back = try JSONDecoder().decode(Salience.self, from: encoder.encode(s))
        #expect(back.scores == s.scores && back.tokens == s.tokens && back.delta == s.delta && back.method == .ig)
        let noDelta = try explain(m, text: "a film", options: ExplainOptions(method: .gradNorm))
        let noDeltaJSON = try JSONSerialization.jsonObject(with: encoder.encode(noDelta)) as! [String: Any]
        #expect(noDeltaJSON["delta"] == nil)
    }

    /// Word pieces merge into words: sums for grad × input, L2 for the gradient norm; [CLS]/[SEP] stay.
    @Test func mergingWordPieces() throws {
        let m = try LoadedModel.load(fixture("bert_tiny_cls.h5"))
        let text = "often affecting"
        let pieces = try explain(m, text: text, options: ExplainOptions(method: .gradInput))
        #expect(pieces.tokens == ["[CLS]", "often", "af", "##f", "##e", "##c", "##t", "##ing", "[SEP]"])
        var o = ExplainOptions(method: .gradInput)
        o.mergeWords = true
        let words = try explain(m, text: text, options: o)
        #expect(words.tokens == ["[CLS]", "often", "affecting", "[SEP]"])
        #expect(words.offsets[2] == (6, 15) || (words.offsets[2].start == 6 && words.offsets[2].end == 15))
        // Two separate explanations: equal up to float32 noise (tests run in parallel, and concurrent BLAS
        // calls may split work differently); a wrong grouping would be off by whole token scores.
        #expect(relativeError(words.scores, pieces.mergingWords([1..<2, 2..<8], by: .sum).scores) <= 1e-4)
        let merged = pieces.mergingWords([1..<2, 2..<8], by: .sum)
        #expect(merged.scores[2] == pieces.scores[2...7].reduce(0, +))
        let norms = try explain(m, text: text, options: ExplainOptions(method: .gradNorm))
        let mergedNorms = norms.mergingWords([1..<2, 2..<8], by: .l2)
        #expect(mergedNorms.scores[2] == norms.scores[2...7].map { $0 * $0 }.reduce(0, +).squareRoot())
        #expect(mergedNorms.tokens == words.tokens)
        // Perturbation methods switch whole words on and off.
        o.method = .occlusion
        let occ = try explain(m, text: text, options: o)
        #expect(occ.tokens.count == 4 && occ.scores[0] == 0 && occ.scores[3] == 0)
    }

    @Test func coloursAndPage() {
        var s = Salience(
            method: .gradInput, text: "a <b>", tokens: ["a", "<b>"], offsets: [(0, 1), (2, 5)], scores: [0.5, -1],
            prediction: [("positive", 0.7), ("negative", 0.3)], target: "positive", score: .prob)
        #expect(ColourScale.signed.intensities(s.scores) == [0.5, -1])
        let ansi = s.terminalText(colour: true)
        #expect(ansi.contains("\u{1B}[48;2;215;48;39m"))  // full red for the most negative token
        #expect(ansi.hasPrefix("prediction: positive 0.7000"))
        #expect(!s.terminalText(colour: false).contains("\u{1B}"))
        s.delta = 0.001
        let page = htmlPage([s])
        #expect(page.hasPrefix("<!DOCTYPE html>") && page.hasSuffix("</body></html>\n"))
        #expect(page.contains("&lt;b&gt;") && !page.contains("<b>\u{3C}"))
        // The heat map itself: one span per token, in order, with its escaped text, its score and its colour
        // (the most negative token full red, as in the terminal).
        let span = /<span class="tok" title="([^"]*)" style="background:rgb\((\d+),(\d+),(\d+)\)"><span>([^<]*)<\/span><\/span>/
        let spans = page.matches(of: span).map { m in
            (title: String(m.output.1), rgb: [Int(m.output.2)!, Int(m.output.3)!, Int(m.output.4)!], text: String(m.output.5))
        }
        #expect(spans.map(\.text) == ["a", "&lt;b&gt;"] && spans.map(\.title) == ["0.5", "-1"])
        #expect(spans.last?.rgb == [215, 48, 39] && spans.first?.rgb != spans.last?.rgb)
        #expect(page.contains("<tr><td>positive</td><td>0.7000</td></tr><tr><td>negative</td><td>0.3000</td></tr>"))
        #expect(page.contains("target <b>positive</b> · method grad-input · score prob · delta 0.001"))
        #expect(relativeError(ColourScale.inverted.intensities([0.1, 0.3, 0.2]), [1, 0, 0.5]) <= 1e-12)
    }
}
