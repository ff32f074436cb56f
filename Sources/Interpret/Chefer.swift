// Chefer et al.'s gradient-weighted attention relevance, propagated through the layers (ICCV 2021).
import Tensor
import Transformer

/// The relevance of Chefer, Gur & Wolf, "Generic Attention-model Explainability for Interpreting Bi-Modal and
/// Encoder-Decoder Transformers" (ICCV 2021), for self-attention (BERT's encoder, GPT-2's decoder alike): with A a
/// layer's attention probabilities [NH, T, T] and ∇A = ∂y/∂A of the explained score y,
///   Ā = E_h[(∇A ⊙ A)⁺]   (eq. 5: the head mean of the positive part),   R ← R + Ā·R   (eq. 6),
/// starting from R = I (eq. 3), layers in forward order. Token scores are R's row of the position the head reads
/// ([CLS], the [MASK], GPT-2's last token); that entry includes the identity's 1 (the authors' code drops the
/// [CLS] column for display). The authors take y as the target's logit; here it is the explanation's score, so
/// `score: logit` is their rule.
public struct CheferRelevance: SalienceMethod {
    public static let id = MethodID.chefer

    public init() {}

    public var requirements: Capabilities { [.attention, .gradients] }

    public func explain(_ model: some SalienceModel) throws(InterpretError) -> Salience {
        try checkCompatible(with: model)
        let layers = try model.attentionGradients()
        guard !layers.isEmpty else { throw .noPrediction("the model returned no attention layers") }
        let t = model.length
        var r = [Double](repeating: 0, count: t * t)
        for i in 0..<t { r[i * t + i] = 1 }
        for (a, g) in layers {  // [NH, T, T] each
            let heads = a.shape[0]
            var cam = [Double](repeating: 0, count: t * t)  // Ā
            a.withUnsafeBufferPointer { pa in
                g.withUnsafeBufferPointer { pg in
                    for h in 0..<heads {
                        for i in 0..<(t * t) { cam[i] += Double(max(pa[h * t * t + i] * pg[h * t * t + i], 0)) }
                    }
                }
            }
            for i in 0..<(t * t) { cam[i] /= Double(heads) }
            r = add(r, product(cam, r, t))  // R + Ā·R
        }
        let row = model.input.readout
        var out = salience(for: model, scores: Array(r[(row * t)..<((row + 1) * t)]))
        out.steps = layers.count
        return out
    }

    /// a·b of two row-major t × t matrices.
    private func product(_ a: [Double], _ b: [Double], _ t: Int) -> [Double] {
        var c = [Double](repeating: 0, count: t * t)
        for i in 0..<t {
            for k in 0..<t where a[i * t + k] != 0 {
                let v = a[i * t + k]
                for j in 0..<t { c[i * t + j] += v * b[k * t + j] }
            }
        }
        return c
    }

    private func add(_ a: [Double], _ b: [Double]) -> [Double] { zip(a, b).map { $0 + $1 } }
}

extension TransformerSalienceModel {
    /// One forward pass with every layer's probabilities kept and their gradients retained, one backward pass from
    /// the target score: [(A, ∂score/∂A)], each [NH, T, T], first layer first.
    public func attentionGradients() throws(InterpretError) -> [(attention: Tensor, gradient: Tensor)] {
        let t = ids.count
        let tape = GradientTape()
        let (out, s) = tape.record { () -> (ModelOutput, Tensor) in
            let x = tape.watch(inputEmbeddings.reshaped([1, t, hiddenSize]))
            let out = network.headForward(
                batch(rows: 1), inputEmbeddings: x,
                options: ForwardOptions(outputAttentions: true, retainAttentionGradients: true))
            return (out, pick(out.logits!).sum())
        }
        _ = tape.gradients(of: s, wrt: [out.inputEmbeddings])
        var layers: [(attention: Tensor, gradient: Tensor)] = []
        for (a, kept) in zip(out.attentions, out.attentionGradients) {
            guard let g = kept.gradient else { throw .noPrediction("no gradient reached an attention layer") }
            // [1, NH, T, T] → [NH, T, T]
            layers.append((a.reshaped([a.shape[1], t, t]), g.reshaped([g.shape[1], t, t])))
        }
        guard layers.count == network.layerCount else {
            throw .noPrediction("\(layers.count) attention layers of \(network.layerCount) kept their gradients")
        }
        return layers
    }
}
