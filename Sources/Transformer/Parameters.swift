// Named access to every trainable tensor of a model, under its checkpoint name (no base prefix).
//
// One visitor per model walks the module tree in checkpoint-name order; reading, writing, watching on a
// gradient tape and saving all go through it, so the names live in one place beside the loaders.
import Tensor

extension Bert {
    /// Calls `body` with each parameter's checkpoint name and storage, e.g.
    /// `encoder.layer.0.attention.self.query.weight`, `classifier.bias`.
    public mutating func visitParameters(_ body: (String, inout Tensor) throws -> Void) rethrows {
        func linear(_ name: String, _ l: inout Linear) throws {
            try body(name + ".weight", &l.weight)
            if l.bias != nil { try body(name + ".bias", &l.bias!) }
        }
        func norm(_ name: String, _ n: inout LayerNorm) throws {
            try body(name + ".weight", &n.weight)
            try body(name + ".bias", &n.bias)
        }
        try body("embeddings.word_embeddings.weight", &embeddings.wordEmbeddings)
        try body("embeddings.position_embeddings.weight", &embeddings.positionEmbeddings)
        try body("embeddings.token_type_embeddings.weight", &embeddings.tokenTypeEmbeddings)
        try norm("embeddings.LayerNorm", &embeddings.layerNorm)
        for i in layers.indices {
            let n = "encoder.layer.\(i)"
            try linear("\(n).attention.self.query", &layers[i].query)
            try linear("\(n).attention.self.key", &layers[i].key)
            try linear("\(n).attention.self.value", &layers[i].value)
            try linear("\(n).attention.output.dense", &layers[i].attentionOutput)
            try norm("\(n).attention.output.LayerNorm", &layers[i].attentionNorm)
            try linear("\(n).intermediate.dense", &layers[i].intermediate)
            try linear("\(n).output.dense", &layers[i].output)
            try norm("\(n).output.LayerNorm", &layers[i].outputNorm)
        }
        if pooler != nil { try linear("pooler.dense", &pooler!) }
        if classifier != nil { try linear("classifier", &classifier!) }
        if mlmHead != nil {
            try linear("cls.predictions.transform.dense", &mlmHead!.transform)
            try norm("cls.predictions.transform.LayerNorm", &mlmHead!.norm)
            try body("cls.predictions.bias", &mlmHead!.bias)
        }
    }
}

extension GPT2 {
    /// Calls `body` with each parameter's checkpoint name and storage, e.g. `h.0.attn.c_attn.weight`.
    public mutating func visitParameters(_ body: (String, inout Tensor) throws -> Void) rethrows {
        func conv(_ name: String, _ c: inout Conv1D) throws {
            try body(name + ".weight", &c.weight)
            try body(name + ".bias", &c.bias)
        }
        func norm(_ name: String, _ n: inout LayerNorm) throws {
            try body(name + ".weight", &n.weight)
            try body(name + ".bias", &n.bias)
        }
        try body("wte.weight", &wte)
        try body("wpe.weight", &wpe)
        for i in blocks.indices {
            let n = "h.\(i)"
            try norm("\(n).ln_1", &blocks[i].ln1)
            try conv("\(n).attn.c_attn", &blocks[i].attention)
            try conv("\(n).attn.c_proj", &blocks[i].attentionProjection)
            try norm("\(n).ln_2", &blocks[i].ln2)
            try conv("\(n).mlp.c_fc", &blocks[i].fc)
            try conv("\(n).mlp.c_proj", &blocks[i].projection)
        }
        try norm("ln_f", &lnF)
        if lmHead != nil { try body("lm_head.weight", &lmHead!) }
    }
}

extension Network {
    /// Every trainable tensor under its checkpoint name, in visiting order.
    public var namedParameters: [(name: String, value: Tensor)] {
        var copy = self
        var out: [(String, Tensor)] = []
        copy.visitParameters { name, t in out.append((name, t)) }
        return out
    }

    public mutating func visitParameters(_ body: (String, inout Tensor) throws -> Void) rethrows {
        switch self {
        case .bert(var m):
            try m.visitParameters(body)
            self = .bert(m)
        case .gpt2(var m):
            try m.visitParameters(body)
            self = .gpt2(m)
        }
    }

    /// Marks every parameter as a leaf of `tape` (for fine-tuning) and returns them by name.
    public mutating func watchParameters(on tape: GradientTape) -> [String: Tensor] {
        var watched: [String: Tensor] = [:]
        visitParameters { name, t in
            t = tape.watch(t)
            watched[name] = t
        }
        return watched
    }
}
