// The tensor names and shapes a checkpoint must hold for its config, architecture and task, and the strict check.

/// Required and optional tensors (names as stored, with the checkpoint's base prefix `p`), read from the model's
/// `parameterTable`: the Swift twin of weights-scripts/loupe_h5.py `expected_tensors` and the table in
/// docs/weights-format.md, "Expected tensors".
struct ExpectedTensors {
    /// Required tensors in table order (embeddings, layers, final norm, heads), so that "the first missing
    /// tensor" is deterministic.
    private(set) var required: [(name: String, shape: [Int])] = []
    /// Allowed but not needed: the heads of other tasks and BertModel's pooler (docs: "optional: allowed,
    /// and ignored by a loader that does not need them").
    private(set) var optional: [String: [Int]] = [:]

    init(config: ModelConfig, task: Checkpoint.Task, prefix p: String) {
        switch config {
        case .bert(let c): add(Bert.parameterTable(c, task: task).entries, prefix: p)
        case .gpt2(let c): add(GPT2.parameterTable(c, task: task).entries, prefix: p)
        }
    }

    private mutating func add<Model>(_ entries: [ParameterDeclaration<Model>], prefix p: String) {
        for e in entries {
            let name = e.part.inBaseModel ? p + e.name : e.name
            if e.isRequired { required.append((name, e.shape)) } else { optional[name] = e.shape }
        }
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
