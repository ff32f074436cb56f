// Attention as an explanation: every layer's and head's probabilities, and attention rollout.
import Tensor

/// Attention probabilities of all layers and heads, and attention rollout (Abnar & Zuidema 2020, §3):
/// each layer's head-averaged attention plus the identity for the residual connection,
/// Ã = ½A + ½I with rows renormalised, multiplied through the layers, R = Ã_L ⋯ Ã_1. Token scores are
/// the rollout row of the position the head reads ([CLS], the [MASK], or GPT-2's last token); with
/// `layer` set, that layer's head-averaged raw attention row instead (layer l = the block whose output
/// is hidden state l, 1…L). Unsigned: attention says where information flows, not in which direction.
public struct AttentionSalience: SalienceMethod {
    public static let id = MethodID.attention
    public var layer: Int?

    public init(layer: Int? = nil) { self.layer = layer }

    public var requirements: Capabilities { .attention }

    public func explain(_ model: some SalienceModel) throws(InterpretError) -> Salience {
        try checkCompatible(with: model)
        let maps = try model.attentions()
        guard !maps.isEmpty else { throw .noPrediction("the model returned no attention layers") }
        if let layer, !(1...maps.count).contains(layer) {
            throw .layerOutOfRange(layer, 1...maps.count, of: "the model's attention layers")
        }
        let t = model.length
        var layers: [[[Float]]] = []
        var averaged: [[Double]] = []
        for a in maps {  // [NH, T, T]
            let heads = a.shape[0]
            let s = a.scalars
            layers.append((0..<heads).map { Array(s[($0 * t * t)..<(($0 + 1) * t * t)]) })
            var mean = [Double](repeating: 0, count: t * t)
            for hd in 0..<heads { for i in 0..<(t * t) { mean[i] += Double(s[hd * t * t + i]) } }
            averaged.append(mean.map { $0 / Double(heads) })
        }
        let rollout = attentionRollout(averaged, length: t)
        let r = model.input.readout
        let scores: [Double]
        if let layer {
            scores = Array(averaged[layer - 1][(r * t)..<((r + 1) * t)])
        } else {
            scores = Array(rollout[(r * t)..<((r + 1) * t)])
        }
        var out = salience(for: model, scores: scores)
        out.attention = AttentionMaps(layers: layers, rollout: rollout.map { Float($0) }, length: t)
        out.steps = maps.count
        return out
    }
}

/// Rollout of head-averaged attention matrices (each T × T row-major, first layer first):
/// R = Ã_L ⋯ Ã_1 with Ã = rownorm(½A + ½I).
public func attentionRollout(_ layers: [[Double]], length t: Int) -> [Double] {
    var r = [Double](repeating: 0, count: t * t)
    for i in 0..<t { r[i * t + i] = 1 }
    for a in layers {
        var at = a
        for i in 0..<t {
            var sum = 0.0
            for j in 0..<t {
                at[i * t + j] = 0.5 * a[i * t + j] + (i == j ? 0.5 : 0)
                sum += at[i * t + j]
            }
            for j in 0..<t { at[i * t + j] /= sum }
        }
        // r ← Ã · r
        var next = [Double](repeating: 0, count: t * t)
        for i in 0..<t {
            for k in 0..<t {
                let v = at[i * t + k]
                if v == 0 { continue }
                for j in 0..<t { next[i * t + j] += v * r[k * t + j] }
            }
        }
        r = next
    }
    return r
}
