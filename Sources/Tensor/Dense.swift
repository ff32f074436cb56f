// Dense layers as one tape op: y = act(x·op(W) + b), several weights side by side, forward beside its VJP.
//
// The forward is one `sgemm` per weight (or one int8 / bf16 product), with the bias and the activation applied
// to each block of the output while it is still in cache (`FusedKernels.biasActivation`). Weights that read the
// same input (BERT's query, key and value) write their outputs side by side into one [rows, Σ out] tensor, which
// attention then reads in place. The VJP (dz = g·act′(z); dx = Σ dz·op(W)ᵀ; dW = op-wise xᵀ·dz; db = Σ_rows dz) keeps
// the pre-activation z only when the activation is not the identity, as llm.c's `matmul_backward` + `gelu_backward`.
//
// Dimension legend: R rows (all leading axes of x), K input features, N output features (Σ over the weights).

/// One weight of a dense op: W stored [out, in] (`torch.nn.Linear`) or [in, out] (GPT-2's `Conv1D`), and a bias.
public struct DenseWeight: Sendable {
    public enum Layout: Sendable { case outByIn, inByOut }
    public var weight: Tensor
    public var bias: Tensor?
    public var layout: Layout

    public init(weight: Tensor, bias: Tensor?, layout: Layout) {
        (self.weight, self.bias, self.layout) = (weight, bias, layout)
    }

    var outputs: Int { layout == .outByIn ? weight.shape[0] : weight.shape[1] }
    var inputs: Int { layout == .outByIn ? weight.shape[1] : weight.shape[0] }
}

/// The same product in int8 or bf16 for untaped passes, with the bias of all its output columns.
public struct LowPrecisionDense: Sendable {
    public let matrix: LowPrecisionMatrix
    public let bias: Tensor?  // [N]

    public init(matrix: LowPrecisionMatrix, bias: Tensor?) {
        (self.matrix, self.bias) = (matrix, bias)
    }
}

/// y[..., N] = act(x[..., K]·op(W) + b) for the weights side by side (N = Σ their outputs), as `F.linear` followed by
/// the activation, concatenated along the last axis. `lowPrecision` replaces the float32 product when nothing records
/// (a taped pass always runs in float32, so that its forward and its gradients are of one model).
public func dense(
    _ x: Tensor, _ weights: [DenseWeight], epilogue: Epilogue = .identity, lowPrecision: LowPrecisionDense? = nil
) -> Tensor {
    check(x.rank >= 1 && !weights.isEmpty, "dense: input \(x.shape) with \(weights.count) weights")
    let k = x.shape[x.rank - 1]
    for (i, w) in weights.enumerated() {
        check(w.weight.rank == 2 && w.inputs == k, "dense: weight \(i) \(w.weight.shape) for input \(x.shape)")
        if let b = w.bias { check(b.shape == [w.outputs], "dense: bias \(i) \(b.shape) for weight \(w.weight.shape)") }
    }
    let n = weights.reduce(0) { $0 + $1.outputs }
    let rows = shapeCount(Array(x.shape.dropLast()))
    let shape = Array(x.shape.dropLast()) + [n]
    let inputs = [x] + weights.flatMap { [$0.weight] + ($0.bias.map { [$0] } ?? []) }
    let recording = inputs.contains { $0.isRecording }
    if let lowPrecision, !recording {
        check(
            lowPrecision.matrix.k == k && lowPrecision.matrix.n == n,
            "dense: low-precision product [\(lowPrecision.matrix.k), \(lowPrecision.matrix.n)] for [\(k), \(n)]")
        return Tensor(shape: shape) { out in
            guard out.count > 0 else { return }
            x.withUnsafeBufferPointer { px in
                withOptionalPointer(lowPrecision.bias) { b in
                    lowPrecision.matrix.multiply(
                        px.baseAddress!, m: rows, lda: k, into: out.baseAddress!, ldy: n, bias: b,
                        epilogue: biasActivationPass(out.baseAddress!, n, nil, epilogue))
                }
            }
        }
    }
    // The pre-activation z is kept for act′(z) only when recording; otherwise the activation runs in the epilogue.
    let keepZ = recording && epilogue != .identity
    let z = Tensor(shape: shape) { out in  // [R, N]
        guard out.count > 0 else { return }
        x.withUnsafeBufferPointer { px in
            var column = 0
            for w in weights {
                product(
                    px.baseAddress!, rows: rows, k: k, w, into: out.baseAddress! + column, ldy: n,
                    keepZ ? .identity : epilogue)
                column += w.outputs
            }
        }
    }
    guard recording else { return z }
    let y =
        keepZ
        ? Tensor(shape: shape) { out in
            guard out.count > 0 else { return }
            z.withUnsafeBufferPointer { out.baseAddress!.update(from: $0.baseAddress!, count: out.count) }
            FusedKernels.biasActivation(out.baseAddress!, rows: rows, n: n, ld: n, bias: nil, epilogue)
        } : z
    let xd = x.detached, ws = weights.map { DenseWeight(weight: $0.weight.detached, bias: nil, layout: $0.layout) }
    let hasBias = weights.map { $0.bias != nil }
    return y.recorded(from: inputs) { g, needs in
        let dz = keepZ ? activationBackward(z, g, epilogue) : g  // [R, N]
        var grads: [Tensor?] = [needs[0] ? Tensor.zeros(xd.shape) : nil]
        var slot = 1, column = 0
        dz.withUnsafeBufferPointer { pdz in
            xd.withUnsafeBufferPointer { px in
                for (i, w) in ws.enumerated() {
                    let (out, d) = (w.outputs, pdz.baseAddress! + column)
                    if rows > 0 && out > 0 && k > 0, grads[0] != nil {  // dx += dz_i·W_i (or ·W_iᵀ for [in, out])
                        grads[0]!.withUnsafeMutableBufferPointer { dx in
                            w.weight.withUnsafeBufferPointer { pw in
                                sgemm(
                                    transA: false, transB: w.layout == .inByOut, m: rows, n: k, k: out, a: d, lda: n,
                                    b: pw.baseAddress!, ldb: w.weight.shape[1], beta: 1, c: dx.baseAddress!, ldc: k)
                            }
                        }
                    }
                    var dw: Tensor? = needs[slot] ? Tensor.zeros(w.weight.shape) : nil
                    // dW = dz_iᵀ·x ([out, in]) or xᵀ·dz_i ([in, out]), added to the zeros (beta 1): for beta 0 OpenBLAS
                    // zeroes C in a pass of its own and then adds to it, so only an exact −0 could come out +0.
                    if rows > 0 && out > 0 && k > 0, dw != nil {
                        dw!.withUnsafeMutableBufferPointer { pw in
                            if w.layout == .outByIn {
                                sgemm(
                                    transA: true, transB: false, m: out, n: k, k: rows, a: d, lda: n,
                                    b: px.baseAddress!, ldb: k, beta: 1, c: pw.baseAddress!, ldc: k)
                            } else {
                                sgemm(
                                    transA: true, transB: false, m: k, n: out, k: rows, a: px.baseAddress!, lda: k,
                                    b: d, ldb: n, beta: 1, c: pw.baseAddress!, ldc: out)
                            }
                        }
                    }
                    grads.append(dw)
                    slot += 1
                    if hasBias[i] {
                        grads.append(needs[slot] ? columnSums(d, rows: rows, n: out, ld: n) : nil)
                        slot += 1
                    }
                    column += out
                }
            }
        }
        return grads
    }
}

/// y[R, out] (leading dimension ldy) = x[R, K]·op(W), then bias and epilogue on each block as soon as it is computed.
private func product(
    _ x: UnsafePointer<Float>, rows: Int, k: Int, _ w: DenseWeight, into y: UnsafeMutablePointer<Float>, ldy: Int,
    _ epilogue: Epilogue
) {
    w.weight.withUnsafeBufferPointer { pw in
        withOptionalPointer(w.bias) { b in
            sgemm(
                transA: false, transB: w.layout == .outByIn, m: rows, n: w.outputs, k: k, a: x, lda: k,
                b: pw.baseAddress!, ldb: w.weight.shape[1], c: y, ldc: ldy,
                epilogue: biasActivationPass(y, ldy, b, epilogue))
        }
    }
}

/// The bias + activation pass on one block of a product's output, or nil when there is nothing to do.
func biasActivationPass(
    _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ bias: UnsafePointer<Float>?, _ epilogue: Epilogue
) -> ((Range<Int>, Range<Int>) -> Void)? {
    if bias == nil && epilogue == .identity { return nil }
    return { rows, columns in
        FusedKernels.biasActivation(
            y + rows.lowerBound * ldy + columns.lowerBound, rows: rows.count, n: columns.count, ld: ldy,
            bias: bias.map { $0 + columns.lowerBound }, epilogue)
    }
}

/// g·act′(z) for the activation of a dense op's epilogue.
private func activationBackward(_ z: Tensor, _ g: Tensor, _ epilogue: Epilogue) -> Tensor {
    switch epilogue {
    case .identity: g
    case .gelu(.none): z.zipScalars(g, Kernel.GeluErfBackward())
    case .gelu(.tanh): z.zipScalars(g, Kernel.GeluTanhBackward())
    case .relu: g.zipScalars(z, Kernel.ReluBackward())  // z > 0 exactly where relu(z) > 0
    }
}

/// Σ over rows of a [R, n] block with leading dimension ld: [n].
func columnSums(_ d: UnsafePointer<Float>, rows: Int, n: Int, ld: Int) -> Tensor {
    Tensor(shape: [n]) { out in
        guard n > 0 else { return }
        out.baseAddress!.initialize(repeating: 0, count: n)
        for r in 0..<rows { FusedKernels.addRow(out.baseAddress!, out.baseAddress!, d + r * ld, nil, n) }
    }
}
