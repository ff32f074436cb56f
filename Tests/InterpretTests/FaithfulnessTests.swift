// ERASER comprehensiveness / sufficiency: known answers on the linear bag, and SST-2 dev on the golden model.
import Foundation
import Interpret
import TestData
import Testing
import Transformer

@Suite struct FaithfulnessTests {
    /// Linear bag with score = u: deleting a set S changes the score by exactly Σ_{t∈S} w·xₜ.
    @Test func erasureOfALinearBag() throws {
        let m = LinearBag(length: 12, hidden: 5, seed: 21, fixed: [0, 11])
        let terms = m.tokenTerms
        let scores = terms  // a perfect attribution
        let (comp, suff) = try Faithfulness.erase(m, scores: scores)
        let ranked = (1...10).sorted { terms[$0] > terms[$1] }
        let full = terms.reduce(0, +)
        for (b, k) in Faithfulness.bins.enumerated() {
            let n = max(1, Int((k * 10).rounded(.up)))
            let top = ranked.prefix(n)
            let kept = top.reduce(0.0) { $0 + terms[$1] } + terms[0] + terms[11]
            #expect(abs(comp[b] - top.reduce(0.0) { $0 + terms[$1] }) <= 1e-5)
            #expect(abs(suff[b] - (full - kept)) <= 1e-5)
        }
        // The reversed ranking erases the least supportive tokens first: lower comprehensiveness.
        let (worse, _) = try Faithfulness.erase(m, scores: scores.map { -$0 })
        #expect(worse.reduce(0, +) < comp.reduce(0, +))
    }

    /// `loupe eval-saliency` on 40 SST-2 dev sentences with the golden (random-weight) BERT-tiny.
    /// The signed gradient methods (grad × input, IG) must beat random attributions on comprehensiveness.
    /// Gradient norm is unsigned: it ranks tokens that push towards the other class as high as supportive
    /// ones, and on this random-weight model it does not beat random (measured −0.0030 vs −0.0015); that is
    /// recorded, not asserted away.
    @Test func sst2DevOnTheGoldenModel() throws {
        let m = try LoadedModel.load(fixture("bert_tiny_cls.h5"))
        let path = try TestData.shared("sst2/dev.tsv").path
        let rows = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").dropFirst()
        let texts = rows.prefix(40).map { String($0.split(separator: "\t")[0]) }
        let methods = [
            ExplainOptions(method: .gradNorm), ExplainOptions(method: .gradInput),
            ExplainOptions(method: .ig, config: ["steps": .int(16)]),
        ]
        let result = try Faithfulness.evaluate(model: m, texts: texts, methods: methods)
        let by = Dictionary(uniqueKeysWithValues: result.map { ($0.method, $0) })
        let random = by["random"]!.comprehensiveness
        #expect(by["grad-input"]!.comprehensiveness > random)
        #expect(by["ig"]!.comprehensiveness > random)
        #expect(by["ig"]!.meanRelativeDelta! < 0.01)
        #expect(by["grad-norm"]!.examples == 40)
    }
}
