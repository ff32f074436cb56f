// Int8 weight files (format version 2, `loupe quantize`): which tensors are stored as int8, and how they round.
//
// A v2 file is a v1 file whose transformer-block weights may be stored as symmetric int8 per output channel with their
// scales beside them (docs/weights-format.md, "Version 2"), the weights ONNX Runtime's `quantize_dynamic` makes.
// Loading gives float32 q·scale for every consumer (gradients, training, fp32 inference), and the int8 products
// re-quantise exactly those values to the stored integers (`SymmetricInt8`), so int8 inference from the file uses
// the file's integers.
import Tensor

extension Checkpoint {
    /// The output-channel axis of a tensor that a v2 file may store as int8, or nil for tensors that stay float: the
    /// rank-2 weights inside the transformer blocks, which are the products `LoadedModel.withPrecision` runs in int8
    /// (BERT's `Linear` weights are [out, in]: axis 0; GPT-2's `Conv1D` weights are [in, out]: axis 1).
    static func int8OutputAxis(of key: String, rank: Int, architecture: Architecture) -> Int? {
        guard rank == 2 else { return nil }
        switch architecture {
        case .bert: return key.hasPrefix("encoder.layer.") ? 0 : nil
        case .gpt2: return key.hasPrefix("h.") ? 1 : nil
        }
    }

    /// This checkpoint with every block weight rounded to symmetric int8 per output channel (127 levels, scale =
    /// max|w| / 127): `tensors` then hold q·scale and `int8Scales` the scales, which `LoupeFileWriter` stores as
    /// int8 datasets (format version 2). Embeddings, layer norms, biases and heads stay float32, as in ONNX
    /// Runtime's dynamically quantised models. Throws for a NaN or infinite weight, which int8 cannot hold, naming it.
    public func quantizedInt8() throws(WeightError) -> Checkpoint {
        var copy = self
        for key in tensors.keys.sorted() where int8Scales[key] == nil {
            let w = tensors[key]!
            guard let axis = Self.int8OutputAxis(of: key, rank: w.shape.count, architecture: architecture) else {
                continue
            }
            let (rows, cols) = (w.shape[0], w.shape[1])
            let outputs = axis == 0 ? rows : cols
            let values = w.scalars
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw .badInt8Tensor(
                    file: url.path, key: storedName(of: key),
                    detail: "output channel \(axis == 0 ? bad / cols : bad % cols) holds a NaN or an infinity, which int8 "
                        + "cannot represent")
            }
            var amax = [Float](repeating: 0, count: outputs)
            for i in 0..<rows {
                for j in 0..<cols { amax[axis == 0 ? i : j] = max(amax[axis == 0 ? i : j], abs(values[i * cols + j])) }
            }
            let scales = amax.map { SymmetricInt8.scale(amax: $0, levels: 127) }
            var rounded = values
            for i in 0..<rows {
                for j in 0..<cols {
                    let s = scales[axis == 0 ? i : j]
                    rounded[i * cols + j] = Float(SymmetricInt8.quantize(values[i * cols + j], scale: s, levels: 127)) * s
                }
            }
            copy.tensors[key] = Tensor(shape: w.shape, scalars: rounded)
            copy.int8Scales[key] = Tensor(scales)
        }
        return copy
    }

    /// The stored integers of an int8 tensor: round(w / scale) of its dequantised values, which gives the integers
    /// back exactly (|q·s/s − q| ≤ 127·2⁻²³).
    func int8Values(_ key: String) -> [Int8] {
        let (w, scales) = (tensors[key]!, int8Scales[key]!.scalars)
        let axis = Self.int8OutputAxis(of: key, rank: 2, architecture: architecture)!
        let cols = w.shape[1]
        return w.scalars.enumerated().map { n, v in
            SymmetricInt8.quantize(v, scale: scales[axis == 0 ? n / cols : n % cols], levels: 127)
        }
    }
}

/// float32 q·scale of an int8 tensor [rows, cols] whose scales run along `axis`.
func dequantizedInt8(_ q: [Int8], shape: [Int], scales: [Float], axis: Int) -> Tensor {
    let (rows, cols) = (shape[0], shape[1])
    return Tensor(shape: shape) { out in
        for i in 0..<rows {
            for j in 0..<cols { out[i * cols + j] = Float(q[i * cols + j]) * scales[axis == 0 ? i : j] }
        }
    }
}
