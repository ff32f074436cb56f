// BERT and GPT-2 against transformers on the golden fixtures: logits, hidden states, attentions,
// input-embedding gradients and greedy generation (goldens: weights-scripts/make_parity_goldens.py).
import Foundation
import Tensor
import Testing
import Transformer

/// The goldens of one fixture model and the model itself.
struct ParityCase {
    let model: LoadedModel
    let golden: HDF5Reader
    let batch: TokenBatch

    init(_ name: String) throws {
        model = try LoadedModel.load(fixture("\(name).h5"))
        golden = try HDF5Reader(fixture("parity/\(name).h5"))
        let ids = try golden.integers("/input_ids")
        let mask = try golden.integers("/attention_mask").values
        let types = golden.hasDataset("/token_type_ids") ? try golden.integers("/token_type_ids").values : nil
        batch = TokenBatch(
            ids: ids.values, typeIDs: types, attentionMask: mask, batchSize: ids.shape[0], length: ids.shape[1])
    }

    /// `pooledOnly`: logits alone, the last layer for [CLS] only (no hidden states or attentions).
    func forward(inputEmbeddings: Tensor? = nil, pooledOnly: Bool = false) -> ModelOutput {
        let options = ForwardOptions(outputHiddenStates: !pooledOnly, outputAttentions: !pooledOnly)
        switch model.network {
        case .bert(let bert):
            return bert(batch, inputEmbeddings: inputEmbeddings, options: options, pooledOnly: pooledOnly)
        case .gpt2(let gpt2):
            var cache: KVCache? = nil
            return gpt2(batch, inputEmbeddings: inputEmbeddings, cache: &cache, options: options)
        }
    }

    func wordEmbeddings() -> Tensor {
        switch model.network {
        case .bert(let bert): return bert.wordEmbeddings(batch)
        case .gpt2(let gpt2): return embedding(gpt2.wte, indices: batch.ids, shape: [batch.batchSize, batch.length])
        }
    }

    /// Hidden states, attentions: every layer within the tolerances of the issue.
    func checkLayers(layers: Int, hidden: Float = 1e-4, attention: Float = 1e-5) throws {
        let out = forward()
        #expect(out.hiddenStates.count == layers + 1 && out.attentions.count == layers)
        for (i, h) in out.hiddenStates.enumerated() {
            let expected = try golden.tensor("/hidden_states/\(i)")
            #expect(h.shape == expected.shape)
            #expect(maxAbsDiff(h.scalars, expected.scalars) <= hidden, "hidden state \(i)")
        }
        for (i, a) in out.attentions.enumerated() {
            let expected = try golden.tensor("/attentions/\(i)")
            #expect(a.shape == expected.shape)
            #expect(maxAbsDiff(a.scalars, expected.scalars) <= attention, "attention \(i)")
        }
    }

    /// d(Σ_b logit_b) / d(input embeddings) against PyTorch's autograd, ≤ 1e-4 relative to the
    /// gradient's largest entry. `score` picks each row's logit from the output.
    func checkGradient(pooledOnly: Bool = false, score: (Tensor) -> Tensor) throws {
        let tape = GradientTape()
        let (x, s) = tape.record { () -> (Tensor, Tensor) in
            let x = tape.watch(wordEmbeddings())
            return (x, score(forward(inputEmbeddings: x, pooledOnly: pooledOnly).logits!))
        }
        let g = tape.gradients(of: s, wrt: [x])[0]
        let expected = try golden.tensor("/grad_inputs_embeds")
        #expect(g.shape == expected.shape)
        let scale = expected.scalars.map(abs).max()!
        #expect(scale > 0)
        #expect(maxAbsDiff(g.scalars, expected.scalars) <= 1e-4 * scale, "gradient wrt input embeddings")
    }

    func targets() throws -> (ids: [Int], positions: [Int]) {
        (try golden.integers("/grad_target_ids").values, try golden.integers("/grad_target_positions").values)
    }
}

func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "length \(a.count) != \(b.count)")
    var m: Float = 0
    for (x, y) in zip(a, b) { m = max(m, abs(x - y)) }
    return m
}

/// logits[b, positions[b], ids[b]] summed over b, through differentiable slices.
func pickLogits(_ logits: Tensor, positions: [Int], ids: [Int]) -> Tensor {
    var total: Tensor?
    for (b, (p, id)) in zip(positions, ids).enumerated() {
        let v = logits.slice(axis: 0, b..<(b + 1)).slice(axis: 1, p..<(p + 1)).slice(axis: 2, id..<(id + 1)).sum()
        total = total.map { $0 + v } ?? v
    }
    return total!
}

@Suite struct BertParityTests {
    @Test func classifierMatchesTransformers() throws {
        let c = try ParityCase("bert_tiny_cls")
        let logits = c.forward().logits!
        let expected = try c.golden.tensor("/logits")
        #expect(logits.shape == [2, 2])
        #expect(maxAbsDiff(logits.scalars, expected.scalars) <= 1e-4)
        try c.checkLayers(layers: 2)
        // Class 1 of text 0 plus class 0 of text 1.
        let (ids, _) = try c.targets()
        try c.checkGradient { logits in
            logits.slice(axis: 0, 0..<1).slice(axis: 1, ids[0]..<(ids[0] + 1)).sum()
                + logits.slice(axis: 0, 1..<2).slice(axis: 1, ids[1]..<(ids[1] + 1)).sum()
        }
    }

    /// What predict, explain and fine-tuning run (`pooledOnly`: the last layer for the [CLS] row alone) gives
    /// transformers' logits on the fast path and its input gradient on the taped path.
    @Test func pooledOnlyClassifierMatchesTransformers() throws {
        let c = try ParityCase("bert_tiny_cls")
        let out = c.forward(pooledOnly: true)
        #expect(out.lastHiddenState.shape == [2, 1, 128], "the last layer ran for [CLS] only")
        #expect(!out.lastHiddenState.isTracked)
        #expect(maxAbsDiff(out.logits!.scalars, try c.golden.tensor("/logits").scalars) <= 1e-4)
        let (ids, _) = try c.targets()
        try c.checkGradient(pooledOnly: true) { logits in
            logits.slice(axis: 0, 0..<1).slice(axis: 1, ids[0]..<(ids[0] + 1)).sum()
                + logits.slice(axis: 0, 1..<2).slice(axis: 1, ids[1]..<(ids[1] + 1)).sum()
        }
    }

    @Test func maskedLMMatchesTransformers() throws {
        let c = try ParityCase("bert_tiny_mlm")
        let logits = c.forward().logits!  // [2, T, V]
        let v = logits.shape[2]
        let maskPositions = try c.golden.integers("/mask_positions").values
        let atMask = try c.golden.tensor("/logits_at_mask")
        for (b, p) in maskPositions.enumerated() {
            let row = Array(logits.scalars[((b * logits.shape[1] + p) * v)..<((b * logits.shape[1] + p + 1) * v)])
            #expect(maxAbsDiff(row, Array(atMask.scalars[(b * v)..<((b + 1) * v)])) <= 1e-4, "text \(b) at [MASK]")
        }
        // Top-5 logits at every position, gathered at HF's top-5 ids.
        let top5 = try c.golden.integers("/top5_ids")
        let top5Logits = try c.golden.tensor("/top5_logits")
        var gathered: [Float] = []
        for (i, id) in top5.values.enumerated() { gathered.append(logits.scalars[(i / 5) * v + id]) }
        #expect(maxAbsDiff(gathered, top5Logits.scalars) <= 1e-4)
        try c.checkLayers(layers: 2)
        let (ids, positions) = try c.targets()
        try c.checkGradient { pickLogits($0, positions: positions, ids: ids) }
    }
}

@Suite struct GPT2ParityTests {
    @Test func lmMatchesTransformersWithLeftPadding() throws {
        let c = try ParityCase("gpt2_tiny")
        let out = c.forward()
        let logits = out.logits!  // [2, T, V]
        let (t, v) = (logits.shape[1], logits.shape[2])
        let last = try c.golden.tensor("/logits_last")
        for b in 0..<2 {
            let row = Array(logits.scalars[((b * t + t - 1) * v)..<((b * t + t) * v)])
            #expect(maxAbsDiff(row, Array(last.scalars[(b * v)..<((b + 1) * v)])) <= 1e-4, "text \(b)")
        }
        try c.checkLayers(layers: 2)
        let (ids, positions) = try c.targets()
        try c.checkGradient { pickLogits($0, positions: positions, ids: ids) }
    }

    @Test func greedyGenerationMatchesTransformers() throws {
        let c = try ParityCase("gpt2_tiny")
        guard case .gpt2(let gpt2) = c.model.network else { Issue.record("not GPT-2"); return }
        let prompt = try c.golden.integers("/generate/single_input_ids").values
        let expected = try c.golden.integers("/generate/single_ids").values
        let config = GenerationConfig(maxNewTokens: 20, eosTokenID: c.model.eosID)
        let single = gpt2.generate(prompts: [prompt], config: config, padID: c.model.padID)
        #expect(single[0] == expected)
        // The left-padded batch of the two texts.
        let batchIDs = try c.golden.integers("/generate/batch_ids")
        var prompts: [[Int]] = []
        for b in 0..<2 {
            let row = Array(c.batch.ids[(b * c.batch.length)..<((b + 1) * c.batch.length)])
            let mask = Array(c.batch.attentionMask[(b * c.batch.length)..<((b + 1) * c.batch.length)])
            prompts.append(zip(row, mask).filter { $0.1 == 1 }.map(\.0))
        }
        let batch = gpt2.generate(prompts: prompts, config: config, padID: c.model.padID)
        let width = batchIDs.shape[1]
        for b in 0..<2 {
            let golden = Array(batchIDs.values[(b * width)..<((b + 1) * width)])
            // HF returns the padded prompt; ours starts at the first real token.
            let padding = c.batch.length - prompts[b].count
            #expect(Array(golden.dropFirst(padding)) == batch[b], "text \(b)")
        }
    }
}

@Suite struct ParameterTests {
    /// The visitor names exactly the checkpoint's tensors (tied heads excepted) with the same values.
    @Test(arguments: ["bert_tiny_cls", "bert_tiny_mlm", "gpt2_tiny"])
    func visitorCoversTheCheckpoint(name: String) throws {
        let checkpoint = try Checkpoint.load(fixture("\(name).h5"))
        let model = try LoadedModel(checkpoint)
        let params = model.network.namedParameters
        #expect(Set(params.map(\.name)) == Set(checkpoint.tensors.keys))
        #expect(params.count == checkpoint.tensors.count)
        for (n, t) in params { #expect(t.scalars == checkpoint.tensors[n]?.scalars, "\(n)") }
    }

    /// Parameters watched on a tape get gradients through a full forward pass.
    @Test func watchedParametersGetGradients() throws {
        let model = try LoadedModel.load(fixture("bert_tiny_cls.h5"))
        let (batch, _, _) = try model.encode(["a fine film", "bad"])
        let tape = GradientTape()
        var net = model.network
        let (watched, loss) = tape.record { () -> ([String: Tensor], Tensor) in
            let w = net.watchParameters(on: tape)
            guard case .bert(let bert) = net else { fatalError() }
            return (w, crossEntropy(bert(batch).logits!, labels: [1, 0]))
        }
        let names = Array(watched.keys).sorted()
        let grads = tape.gradients(of: loss, wrt: names.map { watched[$0]! })
        for (n, g) in zip(names, grads) {
            #expect(g.scalars.contains { $0 != 0 }, "no gradient for \(n)")
        }
    }

    /// Fine-tuning's forward (`pooledOnly`: the last layer for [CLS] alone) gives every parameter the gradient of
    /// the full forward, padding included.
    @Test func pooledOnlyGivesTheFullForwardsGradients() throws {
        let model = try LoadedModel.load(fixture("bert_tiny_cls.h5"))
        let (batch, _, _) = try model.encode(["a gentle and quietly moving film", "bad", "not a fine film at all"])
        func gradients(pooledOnly: Bool) -> [String: Tensor] {
            let tape = GradientTape()
            var net = model.network
            let (watched, loss) = tape.record { () -> ([String: Tensor], Tensor) in
                let w = net.watchParameters(on: tape)
                guard case .bert(let bert) = net else { fatalError() }
                return (w, crossEntropy(bert(batch, pooledOnly: pooledOnly).logits!, labels: [1, 0, 0]))
            }
            let names = Array(watched.keys)
            return Dictionary(
                uniqueKeysWithValues: zip(names, tape.gradients(of: loss, wrt: names.map { watched[$0]! })))
        }
        let (full, pruned) = (gradients(pooledOnly: false), gradients(pooledOnly: true))
        #expect(full.count == pruned.count && full.count > 0)
        let largest = full.values.map { $0.scalars.map(abs).max() ?? 0 }.max()!
        for (n, g) in full {
            // key.bias's exact gradient is 0 (a softmax row ignores a constant added to all its scores): both
            // sides hold rounding noise (~1e-8), so those two are held to the model's largest gradient instead.
            let scale = n.hasSuffix("key.bias") ? largest : g.scalars.map(abs).max()!
            #expect(scale > 0, "\(n)")
            #expect(maxAbsDiff(pruned[n]!.scalars, g.scalars) <= 1e-5 * scale, "\(n)")
        }
    }
}
