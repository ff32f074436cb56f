// Reverse-mode autodiff: an explicit tape of nodes (parents + pullback) and a backward pass over it.
//
// Design after micrograd and candle's backprop.rs: every recorded op appends one node holding the
// indices of its tracked inputs and a pullback closure. Nodes are appended in execution order, which
// is already a topological order, so backward walks the tape in reverse from the output and
// accumulates cotangents into a gradient store indexed by node.
import Synchronization

/// The position of a recorded value on a specific tape.

struct TapeHandle: Sendable, Equatable {
    let tape: UInt64
    let index: Int
}

/// Computes the cotangents of an op's inputs from the cotangent of its output.
/// `needs[i]` says whether input i is tracked; a pullback may skip the work for the others.

typealias Pullback = (_ cotangent: Tensor, _ needs: [Bool]) -> [Tensor?]

private let tapeCounter = Atomic<UInt64>(1)

/// Records differentiable operations while active, then computes gradients of a scalar with respect
/// to any recorded value: watched leaves (parameters, input embeddings) or intermediate results.
///
/// ```swift
/// let tape = GradientTape()
/// let (x, loss) = tape.record {
///     let x = tape.watch(input)
///     return (x, model(x).sum())
/// }
/// let dx = tape.gradients(of: loss, wrt: [x])[0]
/// ```
/// Outside `record` (or for values derived only from untracked tensors) ops record nothing and cost
/// nothing extra. A tape is not meant to be shared between threads while recording.
public final class GradientTape: @unchecked Sendable {
    @TaskLocal static var active: GradientTape?

    struct Node {
        let parents: [Int]  // tape indices of the tracked inputs, -1 for untracked ones
        let pullback: Pullback?  // nil for leaves
        let shape: [Int]
    }

    let id: UInt64
    var nodes: [Node] = []

    public init() {
        id = tapeCounter.add(1, ordering: .relaxed).newValue
    }

    /// Number of recorded nodes (leaves included).
    public var nodeCount: Int { nodes.count }

    /// Runs `body` with this tape recording: ops on tracked values append nodes.
    public func record<R>(_ body: () throws -> R) rethrows -> R {
        try GradientTape.$active.withValue(self) { try body() }
    }

    /// Marks `value` as a leaf whose gradient can be requested (PyTorch: `requires_grad_()`).
    public func watch(_ value: Tensor) -> Tensor {
        var t = value
        t.handle = TapeHandle(tape: id, index: nodes.count)
        nodes.append(Node(parents: [], pullback: nil, shape: value.shape))
        return t
    }

    /// Gradients of `output` with respect to each of `inputs`, which must have been recorded on this
    /// tape. `output` must be a scalar unless `seed` (the output cotangent, same shape) is given.
    /// Values that `output` does not depend on get zeros.
    public func gradients(of output: Tensor, wrt inputs: [Tensor], seed: Tensor? = nil) -> [Tensor] {
        for (i, x) in inputs.enumerated() {
            check(
                x.handle?.tape == id,
                "gradients: input \(i) of shape \(x.shape) was not recorded on this tape (watch it first)")
        }
        guard let out = output.handle, out.tape == id else {
            return inputs.map { Tensor.zeros($0.shape) }
        }
        let seedValue: Tensor
        if let seed {
            check(
                seed.shape == output.shape, "gradients: seed shape \(seed.shape) != output shape \(output.shape)")
            seedValue = seed.detached
        } else {
            check(
                output.count == 1,
                "gradients: output of shape \(output.shape) is not a scalar; pass a seed of the same shape")
            seedValue = Tensor.ones(output.shape)
        }
        let wanted = Set(inputs.map { $0.handle!.index })
        // Pullbacks run untaped: they use captured values that may still carry handles.
        let store = GradientTape.$active.withValue(nil) {
            backward(from: out.index, seed: seedValue, keep: wanted)
        }
        return inputs.map { store[$0.handle!.index] ?? Tensor.zeros($0.shape) }
    }

    /// Walks the tape in reverse from `start`, accumulating cotangents; keeps only `keep`'s entries
    /// once their consumers are done, so memory stays at the live frontier.
    private func backward(from start: Int, seed: Tensor, keep: Set<Int>) -> [Int: Tensor] {
        var grads = [Tensor?](repeating: nil, count: start + 1)
        grads[start] = seed
        var result: [Int: Tensor] = [:]
        for i in stride(from: start, through: 0, by: -1) {
            guard let g = grads[i] else { continue }
            if keep.contains(i) { result[i] = g }
            grads[i] = nil
            let node = nodes[i]
            guard let pullback = node.pullback else { continue }
            let needs = node.parents.map { $0 >= 0 }
            let parentGrads = pullback(g, needs)
            for (p, pg) in zip(node.parents, parentGrads) where p >= 0 {
                guard let pg else { continue }
                check(
                    pg.shape == nodes[p].shape,
                    "backward: pullback gave shape \(pg.shape) for an input of shape \(nodes[p].shape)")
                if let existing = grads[p] {
                    grads[p] = existing.detached.adding(pg.detached)
                } else {
                    grads[p] = pg.detached
                }
            }
        }
        return result
    }

    /// The tape that `handle` belongs to, if it is the one recording now.

    static func recording(_ handle: TapeHandle?) -> GradientTape? {
        guard let handle, let tape = active, tape.id == handle.tape else { return nil }
        return tape
    }

    func append(_ output: Tensor, parents: [Int], pullback: @escaping Pullback) -> Tensor {
        var t = output
        t.handle = TapeHandle(tape: id, index: nodes.count)
        nodes.append(Node(parents: parents, pullback: pullback, shape: output.shape))
        return t
    }
}

// MARK: - Recording helpers used by every op

extension Tensor {
    /// Whether ops on this value are being recorded now: it is tracked by the tape that is recording.
    /// False for untracked values and for values of a tape that has stopped recording. An op keeps what its VJP
    /// needs (a pre-activation, probabilities) only when this is true for one of its inputs.
    public var isRecording: Bool { handle != nil && GradientTape.recording(handle) != nil }
}

extension Tensor {
    /// Records a one-input op when its input is tracked by the active tape; otherwise returns `self`.

    func recorded(from a: Tensor, _ pullback: @escaping (Tensor) -> Tensor) -> Tensor {
        guard a.handle != nil, let tape = GradientTape.recording(a.handle) else { return self }
        return tape.append(self, parents: [a.handle!.index]) { g, _ in [pullback(g)] }
    }

    /// Records a two-input op. The pullback receives which inputs need a cotangent.

    func recorded(
        from a: Tensor, _ b: Tensor,
        _ pullback: @escaping (Tensor, _ needA: Bool, _ needB: Bool) -> (Tensor?, Tensor?)
    ) -> Tensor {
        if a.handle == nil && b.handle == nil { return self }
        let ta = GradientTape.recording(a.handle)
        let tb = GradientTape.recording(b.handle)
        guard let tape = ta ?? tb else { return self }
        let pa = ta != nil ? a.handle!.index : -1
        let pb = tb != nil ? b.handle!.index : -1
        return tape.append(self, parents: [pa, pb]) { g, needs in
            let (ga, gb) = pullback(g, needs[0], needs[1])
            return [ga, gb]
        }
    }

    /// Records an n-input op (concatenate, stack).

    func recorded(from inputs: [Tensor], _ pullback: @escaping (Tensor, [Bool]) -> [Tensor?]) -> Tensor {
        guard inputs.contains(where: { $0.handle != nil }) else { return self }
        var tape: GradientTape?
        var parents = [Int]()
        parents.reserveCapacity(inputs.count)
        for x in inputs {
            if let t = GradientTape.recording(x.handle) {
                tape = t
                parents.append(x.handle!.index)
            } else {
                parents.append(-1)
            }
        }
        guard let tape else { return self }
        return tape.append(self, parents: parents, pullback: pullback)
    }
}
