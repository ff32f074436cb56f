// Small models with analytic attributions, built from Tensor ops, that the methods run on in the tests.
import Foundation
import Interpret
import Tensor

/// A linear bag of embeddings: u(E) = Σₜ w·Eₜ + b, score = u (logit) or sigmoid(u). [MASK] and [PAD]
/// embed to the zero vector, so a masked token contributes nothing and f(z) = b + Σₜ zₜ·(w·xₜ).
struct LinearBag: SalienceModel {
    let input: ExplainedInput
    let inputEmbeddings: Tensor  // [T, H]
    let w: Tensor  // [H]
    let bias: Float
    let squash: Bool
    var capabilities: Capabilities = [.gradients, .maskToken, .padToken, .removal]
    var batchSize: Int { 7 }  // odd on purpose: batches that do not divide the work

    init(length t: Int, hidden h: Int, seed: UInt64, bias: Float = 0.25, squash: Bool = false, fixed: Set<Int> = []) {
        var g = RandomGenerator(seed: seed)
        inputEmbeddings = Tensor.randomNormal([t, h], std: 0.5, generator: &g)
        w = Tensor.randomNormal([h], generator: &g)
        self.bias = bias
        self.squash = squash
        input = ExplainedInput(
            text: (0..<t).map { "w\($0)" }.joined(separator: " "), tokens: (0..<t).map { "w\($0)" }, fixed: fixed)
    }

    /// w·xₜ for each token, in Double.
    var tokenTerms: [Double] {
        let (t, h) = (length, hiddenSize)
        let x = inputEmbeddings.scalars, wv = w.scalars
        return (0..<t).map { p in (0..<h).reduce(0.0) { $0 + Double(x[p * h + $1]) * Double(wv[$1]) } }
    }

    func link(_ u: Double) -> Double { squash ? 1 / (1 + exp(-u)) : u }

    func scores(_ embeddings: Tensor) -> Tensor {
        let (b, t, h) = (embeddings.shape[0], embeddings.shape[1], embeddings.shape[2])
        let u = matmul(embeddings.reshaped([b * t, h]), w.reshaped([h, 1])).reshaped([b, t]).sum(axis: 1) + bias
        return squash ? sigmoid(u) : u
    }

    func tokenEmbedding(_ token: SpecialToken) -> Tensor? { Tensor.zeros([hiddenSize]) }

    func scores(keeping keep: [[Bool]]) throws(InterpretError) -> [Double] {
        let terms = tokenTerms
        return keep.map { k in link(Double(bias) + zip(k, terms).reduce(0.0) { $0 + ($1.0 ? $1.1 : 0) }) }
    }
}

/// Guan et al.'s README example: x [5, 256] = N(0, 1)/100 and Φ(x) = W·x = Σᵢ Wᵢxᵢ with
/// W = [10, 20, 5, −20, −10]; Φ is the model's only "hidden state".
struct WeightedSumPhi: SalienceModel {
    static let weights: [Float] = [10, 20, 5, -20, -10]
    let input = ExplainedInput(text: "1 2 3 4 5", tokens: ["1", "2", "3", "4", "5"])
    let inputEmbeddings: Tensor
    var capabilities: Capabilities { [.gradients, .hiddenStates] }

    init(seed: UInt64) {
        inputEmbeddings = Tensor.randomNormal([5, 256], std: 0.01, seed: seed)
    }

    func scores(_ embeddings: Tensor) -> Tensor { phi(embeddings).sum(axis: 1) }

    var hiddenStateCount: Int { 1 }

    /// [B, 5, H] → [B, H].
    func phi(_ x: Tensor) -> Tensor {
        (x * Tensor(shape: [1, 5, 1], scalars: WeightedSumPhi.weights)).sum(axis: 1)
    }

    func hiddenState(layer: Int, _ embeddings: Tensor) throws(InterpretError) -> Tensor { phi(embeddings) }
}

/// An interaction model for Shapley values (not additive, so the answer is not trivial):
/// f(E) = sigmoid(Σₜ aₜ·Eₜ) · (1 + Σₜ bₜ·Eₜ), masked tokens embed to zero.
struct InteractionModel: SalienceModel {
    let input: ExplainedInput
    let inputEmbeddings: Tensor
    let a: Tensor, b: Tensor  // [H]
    var capabilities: Capabilities { [.gradients, .maskToken] }

    init(length t: Int, hidden h: Int, seed: UInt64) {
        var g = RandomGenerator(seed: seed)
        inputEmbeddings = Tensor.randomNormal([t, h], generator: &g)
        a = Tensor.randomNormal([h], std: 0.3, generator: &g)
        b = Tensor.randomNormal([h], std: 0.3, generator: &g)
        input = ExplainedInput(text: "", tokens: (0..<t).map { "t\($0)" })
    }

    func scores(_ embeddings: Tensor) -> Tensor {
        let (n, t, h) = (embeddings.shape[0], embeddings.shape[1], embeddings.shape[2])
        let flat = embeddings.reshaped([n * t, h])
        let u = matmul(flat, a.reshaped([h, 1])).reshaped([n, t]).sum(axis: 1)
        let v = matmul(flat, b.reshaped([h, 1])).reshaped([n, t]).sum(axis: 1)
        return sigmoid(u) * (v + 1)
    }

    func tokenEmbedding(_ token: SpecialToken) -> Tensor? { Tensor.zeros([hiddenSize]) }
}

/// max |a − b| / max |b|.
func relativeError(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count, "\(a.count) vs \(b.count)")
    let scale = b.map(abs).max() ?? 0
    let diff = zip(a, b).map { abs($0 - $1) }.max() ?? 0
    return scale > 0 ? diff / scale : diff
}

func fixture(_ name: String) -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").appendingPathComponent(name)
}
