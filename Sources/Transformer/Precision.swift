// Converting a loaded model's inference products to int8 or bf16 (`LoadedModel.withPrecision`).
//
// Every dense layer of the untaped inference path (BERT's Q, K, V, attention output, intermediate and output; GPT-2's
// c_attn, c_proj, c_fc, mlp.c_proj, and its LM head) gets a `LowPrecisionMatrix` beside its float32 weight, as ONNX
// Runtime's `quantize_dynamic` quantises every MatMul with a constant weight. The float32 weights stay: taped passes
// (gradients, training) and the small heads (pooler, classifier, BERT's MLM head) run on them.
import Tensor

/// The dense layers of a BERT block and a GPT-2 block that run in reduced precision, named once.
private var bertDense: [WritableKeyPath<BertLayer, Linear>] { [\.query, \.key, \.value, \.attentionOutput, \.intermediate, \.output] }
private var gpt2Dense: [WritableKeyPath<GPT2Block, Conv1D>] { [\.attention, \.attentionProjection, \.fc, \.projection] }

extension LoadedModel {
    /// The arithmetic of this model's inference products.
    public var precision: Precision {
        switch network {
        case .bert(let m): m.layers.first?.attentionOutput.lowPrecision?.precision ?? .fp32
        case .gpt2(let m): m.blocks.first?.attention.lowPrecision?.precision ?? .fp32
        }
    }

    /// This model with float32 products everywhere (what gradient methods run, so that an explanation's forward and
    /// its gradients are of one model).
    public var float32: LoadedModel {
        var copy = self
        switch network {
        case .bert(var m):
            for i in m.layers.indices {
                for path in bertDense { m.layers[i][keyPath: path].lowPrecision = nil }
                m.layers[i].fusedQKV = nil
            }
            copy.network = .bert(m)
        case .gpt2(var m):
            for i in m.blocks.indices {
                for path in gpt2Dense { m.blocks[i][keyPath: path].lowPrecision = nil }
            }
            m.lmHeadLowPrecision = nil
            copy.network = .gpt2(m)
        }
        return copy
    }

    /// This model with its inference products in `precision`: weights quantised per output channel (int8, symmetric)
    /// or rounded to bf16 now, activations per product. `.fp32` gives the float32 model back. Cheap to call again
    /// with the model's own precision. Throws when this CPU cannot run `precision`.
    /// `lmHead`: GPT-2's LM head in another precision than the blocks. Default: the blocks' precision, except int8,
    /// whose head is bf16 (fp32 without bf16 instructions): an int8 head changed the greedy continuation of 4 more of
    /// the fixture's 60 prompts than int8 blocks alone did (issue 15: keep the head bf16/fp32 if top-1 agreement drops).
    public func withPrecision(_ precision: Precision, lmHead: Precision? = nil) throws(ModelError) -> LoadedModel {
        if precision == self.precision && lmHead == nil { return self }
        var copy = float32
        if precision == .fp32 { return copy }
        do throws(LowPrecisionError) {
            switch network {
            case .bert(var m):
                for i in m.layers.indices {
                    // Q, K and V run as one product (`fusedQKV`) except in a classifier's last layer, which projects
                    // queries for the [CLS] row only: only that layer keeps them apart too.
                    let last = i == m.layers.count - 1
                    for path in bertDense where last || ![\BertLayer.query, \.key, \.value].contains(path) {
                        m.layers[i][keyPath: path].lowPrecision = try lowered(m.layers[i][keyPath: path].weight, precision)
                    }
                    m.layers[i].fusedQKV = try fusedProjection(
                        [m.layers[i].query, m.layers[i].key, m.layers[i].value], precision)
                }
                copy.network = .bert(m)
            case .gpt2(var m):
                for i in m.blocks.indices {
                    for path in gpt2Dense {
                        let w = m.blocks[i][keyPath: path].weight  // [in, out]
                        m.blocks[i][keyPath: path].lowPrecision = try lowered(w, precision, storedOutByIn: false)
                    }
                }
                if m.task == .causalLM {  // a sequence classifier has no LM head to lower
                    let head = lmHead ?? (precision == .int8 ? (LowPrecisionSupport.hasBF16 ? .bf16 : .fp32) : precision)
                    m.lmHeadLowPrecision = try lowered(m.lmHead ?? m.wte, head)  // [V, H]
                }
                copy.network = .gpt2(m)
            }
        } catch {
            throw .precision(file: url.path, error)
        }
        return copy
    }
}

/// W [out, in] (or [in, out]) in `precision`, or nil for fp32.
private func lowered(_ w: Tensor, _ precision: Precision, storedOutByIn: Bool = true) throws(LowPrecisionError)
    -> LowPrecisionMatrix?
{
    guard precision != .fp32 else { return nil }
    let (rows, cols) = (w.shape[0], w.shape[1])
    let made = w.withUnsafeBufferPointer { p in
        let base = p.baseAddress!
        return Result { () throws(LowPrecisionError) in
            storedOutByIn
                ? try LowPrecisionMatrix(precision: precision, k: cols, n: rows) { i, j in base[j * cols + i] }
                : try LowPrecisionMatrix(precision: precision, k: rows, n: cols) { i, j in base[i * cols + j] }
        }
    }
    return try made.get()
}

/// Linear layers that read the same input, as one low-precision product whose outputs sit side by side ([Q | K | V]):
/// the input is quantised once and the GEMM is wider. BERT's per-layer Q, K and V (GPT-2's c_attn is one already).
/// nil for fp32; the layers must share their input size.
func fusedProjection(_ parts: [Linear], _ precision: Precision) throws(LowPrecisionError) -> LowPrecisionDense? {
    guard precision != .fp32, let k = parts.first?.weight.shape[1] else { return nil }
    let weights = parts.map { $0.weight.scalars }  // each [out, in]
    let outs = parts.map { $0.weight.shape[0] }
    var owner: [(part: Int, row: Int)] = []
    for (p, n) in outs.enumerated() { owner += (0..<n).map { (p, $0) } }
    let matrix = try LowPrecisionMatrix(precision: precision, k: k, n: owner.count) { i, j in
        weights[owner[j].part][owner[j].row * k + i]
    }
    let bias = Tensor(parts.flatMap { $0.bias?.scalars ?? [Float](repeating: 0, count: $0.weight.shape[0]) })
    return LowPrecisionDense(matrix: matrix, bias: bias)
}
