// The building blocks shared by BERT and GPT-2: Linear, GPT-2's Conv1D, LayerNorm and attention.
//
// Each block has two implementations. The differentiable one composes Tensor ops (so a tape records
// it); the inference one (`…Rows` methods, used when nothing records) runs the same arithmetic on raw
// rows: one `sgemm` per dense layer with the bias and activation folded into one pass afterwards
// (`FusedKernels`), and attention read and written in place (`AttentionKernel`).
import Tensor

/// `torch.nn.Linear`: y = x·Wᵀ + b with W stored [out, in] as in PyTorch checkpoints.
public struct Linear: Sendable {
    public var weight: Tensor  // [out, in]
    public var bias: Tensor?  // [out]
    /// The same weight in int8 or bf16 for inference products (`LoadedModel.withPrecision`); taped passes ignore it.
    public var lowPrecision: LowPrecisionMatrix?

    public init(weight: Tensor, bias: Tensor?) {
        self.weight = weight
        self.bias = bias
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let y = matmul(x, weight, transposeB: true)  // [..., out]; Wᵀ is read in place, not copied
        guard let bias else { return y }
        return y + bias
    }
}

extension Linear {
    /// Whether a tape records ops on these parameters now.
    var isRecording: Bool { weight.isRecording || bias?.isRecording == true }

    /// Inference on raw rows: y[rows, out] (leading dimension ldy) = x[rows, in]·Wᵀ, then the bias and the
    /// epilogue on each block of y as soon as it is computed (`bias: false` leaves the bias to the caller's
    /// own fused pass).
    func rows(
        _ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, ldy: Int, bias addBias: Bool = true,
        _ epilogue: Epilogue = .identity
    ) {
        denseRows(
            x, rows: rows, weight: weight, lowPrecision, storedOutByIn: true, bias: addBias ? bias : nil, into: y,
            ldy: ldy, epilogue)
    }
}

/// y[rows, out] (leading dimension ldy) = x[rows, in]·op(W) as one `sgemm` (or the int8 / bf16 product of
/// `lowPrecision`), then the bias and the epilogue on each block of y as soon as it is computed.
/// `storedOutByIn`: W is [out, in] (`Linear`, read transposed in place), else [in, out] (`Conv1D`).
private func denseRows(
    _ x: UnsafePointer<Float>, rows: Int, weight: Tensor, _ lowPrecision: LowPrecisionMatrix?, storedOutByIn: Bool,
    bias: Tensor?, into y: UnsafeMutablePointer<Float>, ldy: Int, _ epilogue: Epilogue
) {
    let (out, inner) = storedOutByIn ? (weight.shape[0], weight.shape[1]) : (weight.shape[1], weight.shape[0])
    if let lowPrecision {
        withOptionalPointer(bias) { b in
            lowPrecision.multiply(
                x, m: rows, lda: inner, into: y, ldy: ldy, bias: b, epilogue: fusedEpilogue(y, ldy, nil, epilogue))
        }
        return
    }
    weight.withUnsafeBufferPointer { w in
        withOptionalPointer(bias) { b in
            sgemm(
                transA: false, transB: storedOutByIn, m: rows, n: out, k: inner, a: x, lda: inner, b: w.baseAddress!,
                ldb: weight.shape[1], c: y, ldc: ldy, epilogue: fusedEpilogue(y, ldy, b, epilogue))
        }
    }
}

/// The bias + activation pass on one block of a product's output, or nil when there is nothing to do.
func fusedEpilogue(
    _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ bias: UnsafePointer<Float>?, _ epilogue: Epilogue
) -> ((Range<Int>, Range<Int>) -> Void)? {
    if bias == nil && epilogue == .identity { return nil }
    return { rows, columns in
        FusedKernels.biasActivation(
            y + rows.lowerBound * ldy + columns.lowerBound, rows: rows.count, n: columns.count, ld: ldy,
            bias: bias.map { $0 + columns.lowerBound }, epilogue)
    }
}

/// GPT-2's `Conv1D`: a linear layer whose weight is stored transposed, [in, out]: y = x·W + b.
public struct Conv1D: Sendable {
    public var weight: Tensor  // [in, out]
    public var bias: Tensor  // [out]
    /// The same weight in int8 or bf16 for inference products; taped passes ignore it.
    public var lowPrecision: LowPrecisionMatrix? = nil

    public func callAsFunction(_ x: Tensor) -> Tensor {
        matmul(x, weight) + bias  // [..., out]
    }
}

extension Conv1D {
    var isRecording: Bool { weight.isRecording || bias.isRecording }

    /// Inference on raw rows: y[rows, out] (leading dimension ldy) = x[rows, in]·W, then bias and epilogue
    /// per block, as `Linear.rows`.
    func rows(
        _ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, ldy: Int, bias addBias: Bool = true,
        _ epilogue: Epilogue = .identity
    ) {
        denseRows(
            x, rows: rows, weight: weight, lowPrecision, storedOutByIn: false, bias: addBias ? bias : nil, into: y,
            ldy: ldy, epilogue)
    }
}

/// `torch.nn.LayerNorm` over the last axis.
public struct LayerNorm: Sendable {
    public var weight: Tensor  // [n]
    public var bias: Tensor  // [n]
    public var eps: Float

    public func callAsFunction(_ x: Tensor) -> Tensor {
        layerNorm(x, weight: weight, bias: bias, eps: eps)
    }
}

extension LayerNorm {
    var isRecording: Bool { weight.isRecording || bias.isRecording }

    /// Inference: y[r] = LayerNorm(x[r]) over rows of n; y may be x.
    func normalize(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        weight.withUnsafeBufferPointer { w in
            bias.withUnsafeBufferPointer { b in
                FusedKernels.layerNorm(
                    y, x, weight: w.baseAddress, bias: b.baseAddress, eps: eps, rows: rows, n: w.count)
            }
        }
    }

    /// Inference: y[r] = LayerNorm((a[r] + addBias) + residual[r]) over rows of n, `a` overwritten with the sum
    /// (the residual add of a post-LN block fused into the norm); y may be a.
    func rows(
        _ a: UnsafeMutablePointer<Float>, addBias: Tensor? = nil, residual: UnsafePointer<Float>? = nil, rows: Int,
        into y: UnsafeMutablePointer<Float>
    ) {
        weight.withUnsafeBufferPointer { w in
            bias.withUnsafeBufferPointer { b in
                withOptionalPointer(addBias) { ab in
                    FusedKernels.biasResidualLayerNorm(
                        y, a, bias: ab, residual: residual, weight: w.baseAddress, lnBias: b.baseAddress, eps: eps,
                        rows: rows, n: w.count)
                }
            }
        }
    }
}

/// A feed-forward activation, named as in Hugging Face configs (`hidden_act`, `activation_function`).
public enum Activation: String, Sendable {
    case gelu  // the exact erf form
    case geluTanh  // "gelu_new" / "gelu_pytorch_tanh"
    case relu

    public init?(huggingFace name: String) {
        switch name {
        case "gelu": self = .gelu
        case "gelu_new", "gelu_pytorch_tanh": self = .geluTanh
        case "relu": self = .relu
        default: return nil
        }
    }

    /// The same function as a fused epilogue.
    var epilogue: Epilogue {
        switch self {
        case .gelu: return .gelu(.none)
        case .geluTanh: return .gelu(.tanh)
        case .relu: return .relu
        }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        switch self {
        case .gelu: return Tensor_gelu(x, approximate: .none)
        case .geluTanh: return Tensor_gelu(x, approximate: .tanh)
        case .relu: return Tensor_relu(x)
        }
    }
}

// The module-level functions under names that the `Activation` cases do not shadow.
@inline(__always) private func Tensor_gelu(_ x: Tensor, approximate: GELUApproximation) -> Tensor {
    gelu(x, approximate: approximate)
}
@inline(__always) private func Tensor_relu(_ x: Tensor) -> Tensor { relu(x) }

/// Reads parameters by checkpoint name for a model's `parameterTable`. The checkpoint has already been
/// validated against the same table, so a miss is a programming error; it is still reported as a typed
/// error naming the key.
struct ParameterReader {
    let tensors: [String: Tensor]
    let file: String

    func callAsFunction(_ key: String) throws(WeightError) -> Tensor {
        guard let t = tensors[key] else { throw WeightError.missingTensor(file: file, key: key) }
        return t
    }
}

/// Training-mode dropout with its own seeded generator, threaded through a forward pass; `nil`
/// everywhere means inference (dropout is the identity), as `model.eval()` in PyTorch.
public final class Dropout {
    public let p: Float
    public var generator: RandomGenerator

    public init(p: Float, seed: UInt64) {
        self.p = p
        self.generator = RandomGenerator(seed: seed)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        dropout(x, p: p, training: true, generator: &generator)
    }
}

/// Scaled dot-product attention over heads already split out:
/// softmax(q·kᵀ/√D + mask)·v, returning the context and the attention probabilities.
/// q: [B, NH, Tq, D], k and v: [B, NH, Tk, D], additiveMask broadcastable to [B, NH, Tq, Tk].
func scaledDotProductAttention(
    _ q: Tensor, _ k: Tensor, _ v: Tensor, additiveMask: Tensor?, dropout: Dropout?
) -> (context: Tensor, probabilities: Tensor) {
    let d = q.shape[3]
    var scores = matmul(q, k, transposeB: true) * (1 / Float(d).squareRoot())  // [B, NH, Tq, Tk]
    if let additiveMask { scores = scores + additiveMask }  // [B, NH, Tq, Tk]
    let probs = softmax(scores, axis: -1)  // [B, NH, Tq, Tk]
    let used = dropout.map { $0(probs) } ?? probs  // [B, NH, Tq, Tk]
    return (matmul(used, v), probs)  // [B, NH, Tq, D]
}

/// Calls `body` with the tensor's elements, or nil for no tensor (or an empty one).
func withOptionalPointer<R>(_ t: Tensor?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let t, t.count > 0 else { return body(nil) }
    return t.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// Calls `body` with the array's elements, or nil for no array.
func withOptionalBuffer<R>(_ a: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let a, !a.isEmpty else { return body(nil) }
    return a.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// Calls `body` with the tensor's mutable elements, or nil for no tensor.
func withOptionalMutablePointer<R>(_ t: inout Tensor?, _ body: (UnsafeMutablePointer<Float>?) -> R) -> R {
    guard t != nil, t!.count > 0 else { return body(nil) }
    return t!.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
}

/// A new [shape] tensor whose rows `fill` writes (every element).
func tensorRows(_ shape: [Int], _ fill: (UnsafeMutablePointer<Float>) -> Void) -> Tensor {
    Tensor(shape: shape) { out in
        if out.count > 0 { fill(out.baseAddress!) }
    }
}

extension Tensor {
    /// [B, T, NH·D] → [B, NH, T, D].
    func splitHeads(_ heads: Int) -> Tensor {
        let (b, t, h) = (shape[0], shape[1], shape[2])
        return reshaped([b, t, heads, h / heads]).permuted([0, 2, 1, 3])  // [B, NH, T, D]
    }

    /// [B, NH, T, D] → [B, T, NH·D].
    func mergeHeads() -> Tensor {
        let (b, nh, t, d) = (shape[0], shape[1], shape[2], shape[3])
        return permuted([0, 2, 1, 3]).reshaped([b, t, nh * d])  // [B, T, H]
    }
}
