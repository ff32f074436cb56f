// Input reduction: AllenNLP's loop re-implemented in the golden script, and a toy whose prediction flips on a known step.
import Foundation
import Interpret
import Tensor
import Testing
import Tokenizers
import Transformer

/// Tokens with known gradient norms |cₜ|·‖w‖ and contributions vₜ: class 1 while b + Σ kept vₜ > 0.
struct ReductionToy: SalienceModel {
    let c: [Float] = [1, 0.5, 3, 0.2, 2, 1]
    let v: [Double] = [0, 1.0, -3.0, -0.3, 3.5, 0]
    let bias = 0.1
    let w = Tensor(shape: [2], scalars: [0.6, 0.8])  // ‖w‖ = 1
    var input: ExplainedInput {
        ExplainedInput(text: "t0 t1 t2 t3 t4 t5", tokens: (0..<6).map { "t\($0)" }, fixed: [0, 5])
    }
    var inputEmbeddings: Tensor { Tensor.zeros([6, 2]) }
    var capabilities: Capabilities { [.gradients, .removal] }
    func scores(_ embeddings: Tensor) -> Tensor { Tensor.zeros([embeddings.shape[0]]) }

    func reducedGradient(keeping keep: [Bool]) throws(InterpretError) -> (gradient: Tensor, predicted: Int) {
        let kept = (0..<6).filter { keep[$0] }
        let rows = kept.flatMap { p in w.scalars.map { $0 * c[p] } }
        let u = bias + kept.reduce(0.0) { $0 + v[$1] }
        return (Tensor(shape: [kept.count, 2], scalars: rows), u > 0 ? 1 : 0)
    }
}

@Suite struct InputReductionTests {
    /// Smallest norm first (t3, then t1); removing t4 next would flip the prediction, so t2 and t4 stay.
    @Test func stopsBeforeThePredictionChanges() throws {
        let s = try InputReduction().explain(ReductionToy())
        #expect(s.removalOrder == [3, 1])
        #expect(s.kept == [0, 2, 4, 5])
        #expect(s.scores == [0, 2, 3, 1, 3, 0])
        #expect(s.method == .inputReduction && s.steps == 2)
    }

    /// The classifier fixture against the golden script's AllenNLP loop: same removal order, same tokens kept.
    @Test(arguments: 0..<3)
    func matchesTheReferenceLoop(index: Int) throws {
        let golden = try HDF5Reader(fixture("parity/input_reduction.h5"))
        let model = try LoadedModel.load(fixture("bert_tiny_cls.h5"))
        let texts = ["the movie was a charming and often affecting journey .", "a dull , lifeless and tedious film",
                     "it is not a bad movie at all"]
        var o = ExplainOptions(method: .inputReduction)
        o.score = .prob
        let a = try salienceModel(model, text: texts[index], options: o)
        #expect(a.ids == (try golden.integers("/\(index)/input_ids").values))
        let s = try InputReduction().explain(a)
        let order = try golden.integers("/\(index)/removal_order").values
        #expect(s.removalOrder! == (order == [-1] ? [] : order))
        #expect(s.kept! == (try golden.integers("/\(index)/kept").values))
        // JSON carries the result itself.
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(s)) as! [String: Any]
        #expect(json["kept"] as? [Int] == s.kept && json["removal_order"] as? [Int] == s.removalOrder)
    }
}
