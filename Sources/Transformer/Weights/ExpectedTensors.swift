// The tensor names and shapes a checkpoint must hold for its config, architecture and task, and the strict check.

/// Required and optional tensors (names as stored, with the checkpoint's base prefix `p`): the Swift twin
/// of weights-scripts/loupe_h5.py `expected_tensors` and the table in docs/weights-format.md,
/// "Expected tensors".
struct ExpectedTensors {
    /// Required tensors in a fixed order (embeddings, layers, final norm, heads), so that "the first missing
    /// tensor" is deterministic.
    private(set) var required: [(name: String, shape: [Int])] = []
    /// Allowed but not needed: the heads of other tasks and BertModel's pooler (docs: "optional: allowed,
    /// and ignored by a loader that does not need them").
    private(set) var optional: [String: [Int]] = [:]

    init(config: ModelConfig, task: Checkpoint.Task, prefix p: String) {
        switch config {
        case .bert(let c): bert(c, task, p)
        case .gpt2(let c): gpt2(c, task, p)
        }
    }

    private mutating func need(_ name: String, _ shape: [Int]) { required.append((name, shape)) }

    private mutating func group(_ tensors: [(String, [Int])], required isRequired: Bool) {
        for (name, shape) in tensors {
            if isRequired { need(name, shape) } else { optional[name] = shape }
        }
    }

    private mutating func bert(_ c: BertConfig, _ task: Checkpoint.Task, _ p: String) {
        let (h, i, v) = (c.hiddenSize, c.intermediateSize, c.vocabSize)
        let e = p + "embeddings."
        need(e + "word_embeddings.weight", [v, h])
        need(e + "position_embeddings.weight", [c.maxPositionEmbeddings, h])
        need(e + "token_type_embeddings.weight", [c.typeVocabSize, h])
        need(e + "LayerNorm.weight", [h])
        need(e + "LayerNorm.bias", [h])
        for layer in 0..<c.numHiddenLayers {
            let l = "\(p)encoder.layer.\(layer)."
            for m in ["query", "key", "value"] {
                need(l + "attention.self.\(m).weight", [h, h])
                need(l + "attention.self.\(m).bias", [h])
            }
            need(l + "attention.output.dense.weight", [h, h])
            need(l + "attention.output.dense.bias", [h])
            need(l + "attention.output.LayerNorm.weight", [h])
            need(l + "attention.output.LayerNorm.bias", [h])
            need(l + "intermediate.dense.weight", [i, h])
            need(l + "intermediate.dense.bias", [i])
            need(l + "output.dense.weight", [h, i])
            need(l + "output.dense.bias", [h])
            need(l + "output.LayerNorm.weight", [h])
            need(l + "output.LayerNorm.bias", [h])
        }
        // The task's own head is required; another task's head is allowed (loupe_h5.expected_tensors).
        let classify = task == .sequenceClassification
        let mlm = task == .maskedLM
        group([(p + "pooler.dense.weight", [h, h]), (p + "pooler.dense.bias", [h])], required: classify)
        group([("classifier.weight", [c.numLabels, h]), ("classifier.bias", [c.numLabels])], required: classify)
        let cp = "cls.predictions."
        group(
            [
                (cp + "transform.dense.weight", [h, h]), (cp + "transform.dense.bias", [h]),
                (cp + "transform.LayerNorm.weight", [h]), (cp + "transform.LayerNorm.bias", [h]),
                (cp + "bias", [v]),
            ], required: mlm)
        // The decoder weight is stored only when untied (CheckpointNames: "drop if tied").
        group([(cp + "decoder.weight", [v, h])], required: mlm && !c.tieWordEmbeddings)
        // BertForPreTraining's next-sentence head: kept, never needed.
        group([("cls.seq_relationship.weight", [2, h]), ("cls.seq_relationship.bias", [2])], required: false)
    }

    private mutating func gpt2(_ c: GPT2Config, _ task: Checkpoint.Task, _ p: String) {
        let (e, i, v) = (c.nEmbd, c.innerSize, c.vocabSize)
        need(p + "wte.weight", [v, e])
        need(p + "wpe.weight", [c.nPositions, e])
        for layer in 0..<c.nLayer {
            let h = "\(p)h.\(layer)."
            for ln in ["ln_1", "ln_2"] {
                need(h + ln + ".weight", [e])
                need(h + ln + ".bias", [e])
            }
            // Conv1D layers store [in, out] (docs/weights-format.md, "Group /weights").
            need(h + "attn.c_attn.weight", [e, 3 * e])
            need(h + "attn.c_attn.bias", [3 * e])
            need(h + "attn.c_proj.weight", [e, e])
            need(h + "attn.c_proj.bias", [e])
            need(h + "mlp.c_fc.weight", [e, i])
            need(h + "mlp.c_fc.bias", [i])
            need(h + "mlp.c_proj.weight", [i, e])
            need(h + "mlp.c_proj.bias", [e])
        }
        need(p + "ln_f.weight", [e])
        need(p + "ln_f.bias", [e])
        group([("lm_head.weight", [v, e])], required: task == .causalLM && !c.tieWordEmbeddings)
    }

    /// The strict check of loupe_h5.validate: the first missing required tensor (in `required` order), then,
    /// in name order, the first tensor that is in neither list or has another shape.
    func check(_ found: [(name: String, shape: [Int])], file: String) throws(WeightError) {
        var shapes: [String: [Int]] = [:]
        for t in found { shapes[t.name] = t.shape }
        for r in required where shapes[r.name] == nil {
            throw .missingTensor(file: file, key: r.name)
        }
        var requiredShapes: [String: [Int]] = [:]
        for r in required { requiredShapes[r.name] = r.shape }
        for t in found.sorted(by: { $0.name < $1.name }) {
            guard let want = requiredShapes[t.name] ?? optional[t.name] else {
                throw .unexpectedTensor(file: file, key: t.name)
            }
            if t.shape != want { throw .shapeMismatch(file: file, key: t.name, expected: want, found: t.shape) }
        }
    }
}
