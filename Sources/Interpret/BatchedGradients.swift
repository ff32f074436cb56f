// Many texts' gradient explanations at once: a BERT classifier's grad-input / grad-norm, one pass per batch.
import Foundation
import Tensor
import Tokenizers
import Transformer

/// Explains each of `texts` with the options' method, as `explain(_:text:options:)` would one by one, results in
/// input order. When every text can share one taped forward and backward pass — a BERT sequence classifier, the
/// plain gradient methods (grad-input at the input embeddings, grad-norm) — texts run together, shortest first,
/// right-padded under the attention mask, at most `batch_size` texts (the method's option) and about `maxTokens`
/// padded tokens per pass: on short texts the per-pass overhead (packing tiny matrices, allocation, reference
/// counting) otherwise costs more than the arithmetic.
/// Everything else, and anything the batch could report differently (a text that does not encode), runs one by one.
public func explainBatch(
    _ model: LoadedModel, texts: [String], options: ExplainOptions, maxTokens: Int = 2048
) throws(InterpretError) -> [Salience] {
    let method = try options.makeMethod()
    // grad-norm's and grad-input's `batch_size` (default 16; `make` above has checked it); 1 explains each text alone.
    let textsPerPass = (try? options.method.spec.validate(options.config))?.int("batch_size") ?? 1
    guard texts.count > 1, explainsInBatches(model, method), textsPerPass > 1, let encoded = encodeEach(model, texts)
    else {
        return try texts.map { text throws(InterpretError) in try explain(model, text: text, options: options) }
    }
    var out = [Salience?](repeating: nil, count: texts.count)
    let counts = encoded.map(\.encoding.count)
    let order = lengthOrder(counts)  // shortest first, so that a batch pads little
    var start = 0
    while start < order.count {
        var end = start + 1
        // Sorted ascending, the row being added sets the padded length.
        while end < order.count && end - start < textsPerPass && (end - start + 1) * counts[order[end]] <= maxTokens {
            end += 1
        }
        let rows = Array(order[start..<end])
        let saliences = try gradientBatch(
            model, rows.map { (text: texts[$0], encoding: encoded[$0].encoding) }, method: method, options: options)
        for (k, r) in rows.enumerated() {
            var s = saliences[k]
            s.seconds += encoded[r].seconds
            if options.mergeWords {
                s = s.mergingWords(encoded[r].encoding.words().map(\.tokens), by: options.method.wordMerge)
            }
            out[r] = s
        }
        start = end
    }
    return out.map { $0! }
}

/// Positions by token count, ties in input order: batches formed in this order pad each text to the longest of
/// texts of similar length (`explainBatch`; Workbench's predict and embed).
public func lengthOrder(_ counts: [Int]) -> [Int] {
    counts.indices.sorted { (counts[$0], $0) < (counts[$1], $1) }
}

/// Whether `explainBatch` runs the options' method on `model` in shared passes, so that a caller streaming
/// examples gives it many at a time (sorted by length, they pad little); false also for an invalid config.
public func explainsInBatches(_ model: LoadedModel, options: ExplainOptions) -> Bool {
    guard let method = try? options.makeMethod() else { return false }
    return explainsInBatches(model, method)
}

/// Whether `method` on `model` is one taped pass whose rows are independent: the gradient of the summed target
/// scores gives each row its own gradient. Layer attributions (grad-input with a layer) and masked LMs are not.
func explainsInBatches(_ model: LoadedModel, _ method: any SalienceMethod) -> Bool {
    guard case .bert = model.network, model.task == .sequenceClassification else { return false }
    return (method is GradientTimesInput || method is GradientNorm) && method.isCompatible(with: model)
}

/// Each text encoded as `salienceModel` encodes it (cut to the model's length), with the time it took; nil when a
/// text does not encode to at least one token, so that the one-by-one path reports it in its own words.
private func encodeEach(_ model: LoadedModel, _ texts: [String]) -> [(encoding: Encoding, seconds: Double)]? {
    var out: [(encoding: Encoding, seconds: Double)] = []
    out.reserveCapacity(texts.count)
    for text in texts {
        let start = Date()
        guard let e = try? model.encode([text], truncate: true).encodings[0], e.count > 0 else { return nil }
        out.append((e, Date().timeIntervalSince(start)))
    }
    return out
}

/// One forward and one backward pass over `rows` (ascending length), each row's Salience as `GradientTimesInput`
/// or `GradientNorm` gives it through `TransformerSalienceModel`: the same target rule, score and fields. Each
/// row's `seconds` is its share of the pass.
private func gradientBatch(
    _ model: LoadedModel, _ rows: [(text: String, encoding: Encoding)], method: any SalienceMethod,
    options: ExplainOptions
) throws(InterpretError) -> [Salience] {
    let start = Date()
    let net = model.network
    let b = rows.count
    let t = rows.map(\.encoding.count).max()!
    var ids: [Int] = [], types: [Int] = [], mask: [Int] = []
    ids.reserveCapacity(b * t)
    types.reserveCapacity(b * t)
    mask.reserveCapacity(b * t)
    for (_, e) in rows {
        let n = t - e.count
        ids += e.ids + [Int](repeating: model.padID, count: n)
        types += e.typeIDs + [Int](repeating: 0, count: n)
        mask += [Int](repeating: 1, count: e.count) + [Int](repeating: 0, count: n)
    }
    // Padded keys get exactly zero attention probability, so real rows see what they see alone.
    let batch = TokenBatch(ids: ids, typeIDs: types, attentionMask: mask, batchSize: b, length: t)  // [B, T]
    let x0 = embedding(net.wordEmbeddingTable, indices: ids, shape: [b, t])  // [B, T, H]
    let tape = GradientTape()
    let (x, logits) = tape.record { () -> (Tensor, Tensor?) in
        let x = tape.watch(x0)
        return (x, net.headForward(batch, inputEmbeddings: x).logits)
    }
    guard let logits, logits.shape.count == 2, logits.shape[0] == b else {
        throw .noPrediction("\(model.url.path): the classifier gives no class scores")
    }
    let c = logits.shape[1]
    let all = logits.scalars  // [B, C]
    let labels = model.labels.count == c ? model.labels : (0..<c).map { "LABEL_\($0)" }
    var predictions: [[Double]] = [], targets: [Int] = []
    for r in 0..<b {
        // The target rule of `TransformerSalienceModel`: the most probable class unless one is named.
        let p = probabilities(all[(r * c)..<((r + 1) * c)])
        var k = p.indices.max { p[$0] < p[$1] }!
        if case .label(let name) = options.target {
            guard let i = labels.firstIndex(of: name) else { throw .unknownTarget(name, known: labels) }
            k = i
        }
        predictions.append(p)
        targets.append(k)
    }
    // Σ over rows of each row's own target score: its gradient is the one-hot of the targets, as `select` passes.
    var oneHot = [Float](repeating: 0, count: b * c)
    for r in 0..<b { oneHot[r * c + targets[r]] = 1 }
    let picks = Tensor(shape: [b, c], scalars: oneHot)
    let (z, total) = tape.record { () -> (Tensor, Tensor) in
        let z = options.score.normalize(logits)  // [B, C]
        return (z, (z * picks).sum())
    }
    let g = tape.gradients(of: total, wrt: [x])[0]  // [B, T, H]
    let h = x0.shape[2]
    let (gs, xs, zs) = (g.scalars, x0.scalars, z.scalars)
    let norm = method is GradientNorm
    var out: [Salience] = []
    out.reserveCapacity(b)
    for (r, (text, e)) in rows.enumerated() {
        let n = e.count  // the real tokens; the padding's gradient is dropped
        let span = (r * t * h)..<(r * t * h + n * h)
        let gradient = Tensor(shape: [n, h], scalars: Array(gs[span]))
        let vectors = norm ? gradient : gradient * Tensor(shape: [n, h], scalars: Array(xs[span]))  // [T, H]
        var s = Salience(
            method: method.id, text: text, tokens: e.tokens, offsets: e.offsets.map { (start: $0.start, end: $0.end) },
            scores: reduceTokens(vectors, norm ? .l2 : .sum), prediction: Array(zip(labels, predictions[r])),
            target: labels[targets[r]], score: options.score)
        s.vectors = vectors
        s.inputScore = Double(zs[r * c + targets[r]])
        out.append(s)
    }
    let share = Date().timeIntervalSince(start) / Double(b)
    for r in out.indices { out[r].seconds = share }
    return out
}
