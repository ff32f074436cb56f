// The JSON form of explanations (`loupe explain --format json`, the server's /api/explain): Codable conformances.
//
// Keys are snake_case as LIT's and Captum's users read them; per-dimension vectors are not encoded (they are
// [T, H] floats a client never shows). Predictions are an object from label to probability; decoding orders
// them by label.

extension ScoreKind: Codable {}

private enum SalienceKey: String, CodingKey {
    case text, method, target, score, tokens, offsets, scores, seconds, prediction, delta, steps, evaluations
    case converged, inputScore = "input_score", baselineScore = "baseline_score", attentions, rollout
    case ids, promptTokens = "prompt_tokens", targets, position, token, contrast, layer, neuron, kept, removalOrder = "removal_order"
}

private func encodeOffsets(_ offsets: [(start: Int, end: Int)]) -> [[Int]] { offsets.map { [$0.start, $0.end] } }

private func decodeOffsets(
    _ c: KeyedDecodingContainer<SalienceKey>, _ key: SalienceKey
) throws -> [(start: Int, end: Int)] {
    try c.decode([[Int]].self, forKey: key).map { pair in
        guard pair.count == 2 else {
            throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "an offset is [start, end]")
        }
        return (pair[0], pair[1])
    }
}

private func predictionObject(_ p: [(label: String, probability: Double)]) -> [String: Double] {
    var out: [String: Double] = [:]
    for (label, probability) in p { out[label] = probability }
    return out
}

private func decodePrediction(_ c: KeyedDecodingContainer<SalienceKey>) throws -> [(label: String, probability: Double)]
{
    try c.decode([String: Double].self, forKey: .prediction).sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
}

extension Salience: Codable {
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: SalienceKey.self)
        try c.encode(text, forKey: .text)
        try c.encode(method, forKey: .method)
        try c.encode(target, forKey: .target)
        try c.encodeIfPresent(contrast, forKey: .contrast)
        try c.encodeIfPresent(layer, forKey: .layer)
        try c.encodeIfPresent(neuron, forKey: .neuron)
        try c.encodeIfPresent(kept, forKey: .kept)
        try c.encodeIfPresent(removalOrder, forKey: .removalOrder)
        try c.encode(score, forKey: .score)
        try c.encode(tokens, forKey: .tokens)
        try c.encode(encodeOffsets(offsets), forKey: .offsets)
        try c.encode(scores, forKey: .scores)
        try c.encode(seconds, forKey: .seconds)
        try c.encode(predictionObject(prediction), forKey: .prediction)
        try c.encodeIfPresent(delta, forKey: .delta)
        try c.encodeIfPresent(steps, forKey: .steps)
        try c.encodeIfPresent(evaluations, forKey: .evaluations)
        try c.encodeIfPresent(converged, forKey: .converged)
        try c.encodeIfPresent(inputScore, forKey: .inputScore)
        try c.encodeIfPresent(baselineScore, forKey: .baselineScore)
        if let attention {
            let t = attention.length
            func matrix(_ flat: [Float]) -> [[Double]] { (0..<t).map { i in (0..<t).map { Double(flat[i * t + $0]) } } }
            try c.encode(attention.layers.map { $0.map(matrix) }, forKey: .attentions)
            try c.encode(matrix(attention.rollout), forKey: .rollout)
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: SalienceKey.self)
        self.init(
            method: try c.decode(MethodID.self, forKey: .method), text: try c.decode(String.self, forKey: .text),
            tokens: try c.decode([String].self, forKey: .tokens), offsets: try decodeOffsets(c, .offsets),
            scores: try c.decode([Double].self, forKey: .scores), prediction: try decodePrediction(c),
            target: try c.decode(String.self, forKey: .target), score: try c.decode(ScoreKind.self, forKey: .score))
        seconds = try c.decode(Double.self, forKey: .seconds)
        contrast = try c.decodeIfPresent(String.self, forKey: .contrast)
        layer = try c.decodeIfPresent(Int.self, forKey: .layer)
        neuron = try c.decodeIfPresent(Int.self, forKey: .neuron)
        kept = try c.decodeIfPresent([Int].self, forKey: .kept)
        removalOrder = try c.decodeIfPresent([Int].self, forKey: .removalOrder)
        delta = try c.decodeIfPresent(Double.self, forKey: .delta)
        steps = try c.decodeIfPresent(Int.self, forKey: .steps)
        evaluations = try c.decodeIfPresent(Int.self, forKey: .evaluations)
        converged = try c.decodeIfPresent(Bool.self, forKey: .converged)
        inputScore = try c.decodeIfPresent(Double.self, forKey: .inputScore)
        baselineScore = try c.decodeIfPresent(Double.self, forKey: .baselineScore)
        if let layers = try c.decodeIfPresent([[[[Double]]]].self, forKey: .attentions),
            let rollout = try c.decodeIfPresent([[Double]].self, forKey: .rollout)
        {
            let flat = { (m: [[Double]]) in m.flatMap { $0.map(Float.init) } }
            attention = AttentionMaps(
                layers: layers.map { $0.map(flat) }, rollout: flat(rollout), length: rollout.count)
        }
    }
}

extension SequenceSalience: Codable {
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: SalienceKey.self)
        try c.encode(text, forKey: .text)
        try c.encode(method, forKey: .method)
        try c.encode(tokens, forKey: .tokens)
        try c.encode(encodeOffsets(offsets), forKey: .offsets)
        try c.encode(ids, forKey: .ids)
        try c.encode(promptLength, forKey: .promptTokens)
        try c.encode(seconds, forKey: .seconds)
        var targets = c.nestedUnkeyedContainer(forKey: .targets)
        for (j, s) in steps.enumerated() {
            var t = targets.nestedContainer(keyedBy: SalienceKey.self)
            try t.encode(promptLength + j, forKey: .position)
            try t.encode(tokens[promptLength + j], forKey: .token)
            try t.encodeIfPresent(s.contrast, forKey: .contrast)
            try t.encode(s.scores, forKey: .scores)
            try t.encode(s.score, forKey: .score)
            try t.encode(predictionObject(s.prediction), forKey: .prediction)
            try t.encodeIfPresent(s.delta, forKey: .delta)
            try t.encodeIfPresent(s.steps, forKey: .steps)
            try t.encodeIfPresent(s.inputScore, forKey: .inputScore)
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: SalienceKey.self)
        method = try c.decode(MethodID.self, forKey: .method)
        text = try c.decode(String.self, forKey: .text)
        tokens = try c.decode([String].self, forKey: .tokens)
        offsets = try decodeOffsets(c, .offsets)
        ids = try c.decode([Int].self, forKey: .ids)
        promptLength = try c.decode(Int.self, forKey: .promptTokens)
        seconds = try c.decode(Double.self, forKey: .seconds)
        var targets = try c.nestedUnkeyedContainer(forKey: .targets)
        steps = []
        while !targets.isAtEnd {
            let t = try targets.nestedContainer(keyedBy: SalienceKey.self)
            let position = try t.decode(Int.self, forKey: .position)
            guard position >= 0 && position <= tokens.count && position <= offsets.count else {
                throw DecodingError.dataCorruptedError(
                    forKey: .position, in: t, debugDescription: "position \(position) is past the tokens")
            }
            var s = Salience(
                method: method, text: text, tokens: Array(tokens[..<position]), offsets: Array(offsets[..<position]),
                scores: try t.decode([Double].self, forKey: .scores), prediction: try decodePrediction(t),
                target: try t.decode(String.self, forKey: .token), score: try t.decode(ScoreKind.self, forKey: .score))
            s.contrast = try t.decodeIfPresent(String.self, forKey: .contrast)
            s.delta = try t.decodeIfPresent(Double.self, forKey: .delta)
            s.steps = try t.decodeIfPresent(Int.self, forKey: .steps)
            s.inputScore = try t.decodeIfPresent(Double.self, forKey: .inputScore)
            steps.append(s)
        }
    }
}
