// The building blocks shared by BERT and GPT-2: Linear, GPT-2's Conv1D and LayerNorm over the Tensor core's fused ops.
//
// Each block is written once: `dense` (bias and activation in the product's epilogue), `layerNorm(_:residual:)` and
// `multiHeadAttention` run fused kernels whether or not a tape records, and carry their own VJPs.
import Tensor

/// `torch.nn.Linear`: y = x·Wᵀ + b with W stored [out, in] as in PyTorch checkpoints.
public struct Linear: Sendable {
    public var weight: Tensor  // [out, in]
    public var bias: Tensor?  // [out]
    /// The same weight in int8 or bf16 for untaped products (`LoadedModel.withPrecision`); taped passes ignore it.
    public var lowPrecision: LowPrecisionMatrix?

    public init(weight: Tensor, bias: Tensor?) {
        self.weight = weight
        self.bias = bias
    }

    /// act(x·Wᵀ + b): [..., out]; Wᵀ is read in place, not copied. `addBias: false` leaves b to the caller's next
    /// pass (a residual layer norm's `shift`).
    public func callAsFunction(_ x: Tensor, _ epilogue: Epilogue = .identity, addBias: Bool = true) -> Tensor {
        let b = addBias ? bias : nil
        return dense(
            x, [DenseWeight(weight: weight, bias: b, layout: .outByIn)], epilogue: epilogue,
            lowPrecision: lowPrecision.map { LowPrecisionDense(matrix: $0, bias: b) })
    }

    /// This layer as one weight of a `dense` op.
    var denseWeight: DenseWeight { DenseWeight(weight: weight, bias: bias, layout: .outByIn) }
}

/// GPT-2's `Conv1D`: a linear layer whose weight is stored transposed, [in, out]: y = x·W + b.
public struct Conv1D: Sendable {
    public var weight: Tensor  // [in, out]
    public var bias: Tensor  // [out]
    /// The same weight in int8 or bf16 for untaped products; taped passes ignore it.
    public var lowPrecision: LowPrecisionMatrix? = nil

    /// act(x·W + b): [..., out].
    public func callAsFunction(_ x: Tensor, _ epilogue: Epilogue = .identity) -> Tensor {
        dense(
            x, [DenseWeight(weight: weight, bias: bias, layout: .inByOut)], epilogue: epilogue,
            lowPrecision: lowPrecision.map { LowPrecisionDense(matrix: $0, bias: bias) })
    }
}

/// `torch.nn.LayerNorm` over the last axis.
public struct LayerNorm: Sendable {
    public var weight: Tensor  // [n]
    public var bias: Tensor  // [n]
    public var eps: Float

    /// LayerNorm(x), or LayerNorm((x + shift) + residual): a post-LN block's bias and residual add in the same pass.
    public func callAsFunction(_ x: Tensor, shift: Tensor? = nil, residual: Tensor? = nil) -> Tensor {
        layerNorm(x, shift: shift, residual: residual, weight: weight, bias: bias, eps: eps)
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

    /// The function, applied in a dense product's epilogue.
    var epilogue: Epilogue {
        switch self {
        case .gelu: return .gelu(.none)
        case .geluTanh: return .gelu(.tanh)
        case .relu: return .relu
        }
    }
}

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

    /// The factors this dropout would apply to a tensor of `shape` next (attention probabilities, dropped inside the
    /// attention op).
    func mask(_ shape: [Int]) -> Tensor {
        dropoutMask(shape, p: p, generator: &generator)
    }
}
