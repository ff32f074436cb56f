// `attention`: every layer's and head's attention probabilities on one example, and their rollout (for bertviz-style views).
import Interpret
import Transformer

public struct AttentionRequest: Codable, Sendable {
    public var example: Example
    /// 1-based layer to return alone (default: every layer).
    public var layer: Int?
    public init(example: Example, layer: Int? = nil) {
        self.example = example
        self.layer = layer
    }
}

public struct AttentionResult: Codable, Sendable {
    public var id: String
    public var tokens: [String]
    /// The layers returned, 1-based.
    public var layers: [Int]
    /// [layer][head][query][key] probabilities.
    public var attention: [[[[Double]]]]
    /// Attention rollout through all layers (Abnar & Zuidema 2020), [query][key].
    public var rollout: [[Double]]
}

extension Workbench {
    public static func attention(_ request: AttentionRequest, model: LoadedModel) throws(WorkbenchError) -> AttentionResult {
        var explain = ExplainRequest(examples: [request.example], method: .attention)
        explain.maxTokens = 1  // GPT-2: the prompt's own attention, one step
        let e = try Workbench.explain(explain, model: model)[0]
        // GPT-2 explains each generated token; its first step's prefix is the prompt itself.
        guard let s = e.salience ?? e.sequence?.steps.first, let maps = s.attention else {
            throw .interpret(.noPrediction("the model returned no attention"))
        }
        let count = maps.layers.count
        if let l = request.layer, !(1...count).contains(l) {
            throw .invalidOption(OptionError(field: "layer", value: String(l), problem: .invalid("in 1…\(count)")))
        }
        let chosen = request.layer.map { [$0] } ?? Array(1...count)
        let t = maps.length
        func matrix(_ flat: [Float]) -> [[Double]] { (0..<t).map { i in (0..<t).map { Double(flat[i * t + $0]) } } }
        return AttentionResult(
            id: request.example.id, tokens: s.tokens, layers: chosen,
            attention: chosen.map { maps.layers[$0 - 1].map(matrix) }, rollout: matrix(maps.rollout))
    }
}
