// Named access to every trainable tensor of a model, under its checkpoint name (no base prefix).
//
// The visitor walks the model's `parameterTable` (the one declaration of its names) over the parts the model
// holds; reading, writing, watching on a gradient tape and saving all go through it.
import Tensor

extension Bert {
    /// The declarations of the tensors this model holds, in visiting order (`parameterTable` order).
    public var heldParameters: [ParameterDeclaration<Bert>] {
        Bert.parameterTable(config, task: task).held(holds)
    }

    /// Calls `body` with each parameter's checkpoint name and storage, e.g.
    /// `encoder.layer.0.attention.self.query.weight`, `classifier.bias`.
    public mutating func visitParameters(_ body: (String, inout Tensor) throws -> Void) rethrows {
        for p in heldParameters { try body(p.name, &self[keyPath: p.path!]) }
    }
}

extension GPT2 {
    /// The declarations of the tensors this model holds, in visiting order (`parameterTable` order).
    public var heldParameters: [ParameterDeclaration<GPT2>] {
        GPT2.parameterTable(config, task: task).held(holds)
    }

    /// Calls `body` with each parameter's checkpoint name and storage, e.g. `h.0.attn.c_attn.weight`.
    public mutating func visitParameters(_ body: (String, inout Tensor) throws -> Void) rethrows {
        for p in heldParameters { try body(p.name, &self[keyPath: p.path!]) }
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
