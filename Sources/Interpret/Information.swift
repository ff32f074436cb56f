// Guan et al. 2019 (ICML), "Towards a Deep and Unified Understanding of Deep Neural Models in NLP": per-token σ.
import Foundation
import Tensor

/// How much information about each input word a hidden layer Φ keeps (Guan et al. 2019, §3, eq. 7):
/// learn per-token noise levels σᵢ = scale · sigmoid(ρᵢ) that perturb the word embeddings as much as
/// possible, x̃ = x + σ ⊙ ε with ε ~ N(0, I) shared across a token's dimensions, while keeping Φ(x̃)
/// close to Φ(x):
///
///     L(ρ) = mean((Φ(x̃) − Φ(x))² / r²) − λ · mean(log sigmoid(ρ))
///
/// minimised with Adam. r is the per-dimension standard deviation of Φ over sampled inputs
/// (`regularization`); without it the loss is normalised as the reference code does,
/// mean((Φ(x̃) − Φ(x))²) / mean(Φ(x)²). A small σᵢ means Φ is sensitive to word i: the layer keeps
/// much information about it. Defaults are the paper's code (microsoft/nlp-recipes
/// `utils_nlp/interpreter/Interpreter.py`): ρ ~ N(0, 1), λ = 0.1, lr = 0.01, one noise sample per step,
/// and the ρ kept at the end is the one saved after the step whose loss was lowest;
/// scale = 10 × the standard deviation of the word-embedding matrix (its recommended value).
public struct InformationSalience: SalienceMethod {
    public static let id = MethodID.info
    /// The hidden state Φ: 0 = embedding output … L = last layer; nil = the last layer.
    public var layer: Int?
    public var iterations: Int
    public var learningRate: Float
    public var rate: Float
    /// The largest σ; nil = 10 × std of the word-embedding matrix.
    public var scale: Float?
    /// r, broadcastable to Φ's per-input shape (e.g. [H]); nil = the reference code's self-normalisation.
    public var regularization: Tensor?
    public var seed: UInt64

    public init(
        layer: Int? = nil, iterations: Int = 1000, learningRate: Float = 0.01, rate: Float = 0.1,
        scale: Float? = nil, regularization: Tensor? = nil, seed: UInt64 = 0
    ) {
        self.layer = layer
        self.iterations = iterations
        self.learningRate = learningRate
        self.rate = rate
        self.scale = scale
        self.regularization = regularization
        self.seed = seed
    }

    public var requirements: Capabilities { [.gradients, .hiddenStates] }

    /// r: the per-dimension standard deviation of Φ(x) over every token of every sample
    /// (the reference `calculate_regularization` with the token axis pooled), shape Φ's last axis.
    public static func regularization(
        layer: Int, samples: [any SalienceModel]
    ) throws(InterpretError) -> Tensor {
        var sum: [Double] = [], sumSquares: [Double] = [], count = 0
        for model in samples {
            let x = model.inputEmbeddings
            let s = try model.hiddenState(layer: layer, x.reshaped([1] + x.shape))
            let d = s.shape.last ?? 1
            if sum.isEmpty {
                sum = [Double](repeating: 0, count: d)
                sumSquares = sum
            }
            guard d == sum.count else { throw .badInput("hidden sizes differ between samples") }
            let v = s.scalars
            for i in 0..<(v.count / d) {
                for j in 0..<d {
                    let e = Double(v[i * d + j])
                    sum[j] += e
                    sumSquares[j] += e * e
                }
            }
            count += v.count / d
        }
        guard count > 1 else { throw .badInput("the regularisation needs at least two sampled token vectors") }
        let n = Double(count)
        // numpy's np.std: population standard deviation (ddof = 0).
        let std = zip(sum, sumSquares).map { s, q in Float(max(q / n - (s / n) * (s / n), 0).squareRoot()) }
        return Tensor(std)
    }

    public func explain(_ model: some SalienceModel) throws(InterpretError) -> Salience {
        try checkCompatible(with: model)
        guard iterations >= 1 else {
            throw .invalidConfig(
                OptionError(field: "iterations", value: String(iterations), problem: .invalid("at least 1")))
        }
        let layer = self.layer ?? (model.hiddenStateCount - 1)
        guard layer >= 0 && layer < model.hiddenStateCount else {
            throw .layerOutOfRange(layer, 0...(model.hiddenStateCount - 1), of: "the model's hidden states")
        }
        let x = model.inputEmbeddings
        let (t, h) = (model.length, model.hiddenSize)
        let x1 = x.reshaped([1, t, h])
        let target = try model.hiddenState(layer: layer, x1).detached
        let scale = self.scale ?? Float(10 * model.wordEmbeddingStd)
        if let r = regularization, r.scalars.contains(where: { !($0 > 0) }) {
            throw .badInput("the regularisation r must be positive in every dimension")
        }
        let inverseR2 = regularization.map { 1 / ($0 * $0) }
        let norm = inverseR2 == nil ? Float((target * target).mean().item) : 1
        var generator = RandomGenerator(seed: seed)
        var rho = Tensor.randomNormal([t], generator: &generator)
        var adam = AdamW(learningRate: learningRate, weightDecay: 0)
        var best = rho
        var bestLoss = Float.infinity
        for _ in 0..<iterations {
            let noise = Tensor.randomNormal([1, t, h], generator: &generator)
            let tape = GradientTape()
            var failure: InterpretError?
            let (p, loss) = tape.record { () -> (Tensor, Tensor) in
                let p = tape.watch(rho)
                let ratios = sigmoid(p)  // [T]
                let xt = x1 + ratios.reshaped([1, t, 1]) * noise * scale  // [1, T, H]
                let st: Tensor
                do throws(InterpretError) { st = try model.hiddenState(layer: layer, xt) } catch {
                    failure = error
                    return (p, Tensor(0))
                }
                let d = st - target
                var fit = d * d
                if let inverseR2 { fit = fit * inverseR2 }
                let main = fit.mean() / norm
                return (p, main - log(ratios).mean() * rate)
            }
            if let failure { throw failure }
            let g = tape.gradients(of: loss, wrt: [p])
            var params = [rho]
            adam.update(&params, gradients: g)
            rho = params[0]
            // The reference saves the parameters after the step taken with the lowest loss.
            if loss.item < bestLoss {
                bestLoss = loss.item
                best = rho
            }
        }
        let sigma = best.scalars.map { Double(scale) / (1 + Foundation.exp(-Double($0))) }
        var out = salience(for: model, scores: sigma)
        out.steps = iterations
        return out
    }
}
