// `quantize`: a model saved with int8 block weights (weight file format version 2), ready for int8 inference.
import Foundation
import Tensor
import Transformer

/// What `Workbench.quantize` wrote.
public struct QuantizeReport: Codable, Sendable, Equatable {
    public var input: String
    public var output: String
    /// The stored precision of the output (int8): the default of every command that loads it.
    public var precision: Precision
    /// Tensors stored as int8 (every rank-2 weight of the transformer blocks) and their values.
    public var int8Tensors: Int
    public var int8Parameters: Int
    /// Tensors that stay float32 (embeddings, layer norms, biases, heads) and their values.
    public var floatTensors: Int
    public var floatParameters: Int
    /// File sizes in bytes (a directory input: the sum of its files).
    public var inputBytes: Int
    public var outputBytes: Int
    public var seconds: Double
}

extension Workbench {
    /// Writes the checkpoint at `input` (a weight file, a Hugging Face directory or a run directory) to `output` with
    /// its transformer-block weights in symmetric int8 per output channel, as ONNX Runtime's `quantize_dynamic`
    /// (QInt8) stores them, atomically. Loading the output gives float32 q·scale to gradient methods and training and
    /// runs inference products in int8 on exactly the stored integers, unless another precision is asked for.
    public static func quantize(_ input: String, to output: String) throws(WorkbenchError) -> QuantizeReport {
        let start = Date()
        let url = checkpointURL(input)
        let quantized = try modelling { () throws(ModelError) -> Checkpoint in
            do throws(WeightError) {
                return try Checkpoint.load(url).quantizedInt8()
            } catch {
                throw .weights(error)
            }
        }
        let target = URL(fileURLWithPath: output)
        try modelling { () throws(ModelError) in
            do throws(CheckpointWriteError) { try LoupeFileWriter.write(quantized, to: target) } catch { throw .write(error) }
        }
        let int8Keys = Set(quantized.int8Scales.keys)
        var (int8Parameters, floatParameters) = (0, 0)
        for (key, t) in quantized.tensors {
            if int8Keys.contains(key) { int8Parameters += t.count } else { floatParameters += t.count }
        }
        return QuantizeReport(
            input: url.path, output: target.path, precision: quantized.storedPrecision,
            int8Tensors: int8Keys.count, int8Parameters: int8Parameters,
            floatTensors: quantized.tensors.count - int8Keys.count, floatParameters: floatParameters,
            inputBytes: bytes(at: url), outputBytes: bytes(at: target), seconds: Date().timeIntervalSince(start))
    }

    /// A file's size, or the total of a directory's regular files (0 when unreadable).
    private static func bytes(at url: URL) -> Int {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: url.path, isDirectory: &isDirectory) else { return 0 }
        let files = isDirectory.boolValue
            ? (fm.enumerator(atPath: url.path)?.compactMap { $0 as? String }.map { url.appendingPathComponent($0).path } ?? [])
            : [url.path]
        return files.reduce(0) { sum, path in
            let attributes = try? fm.attributesOfItem(atPath: path)
            return sum + ((attributes?[.type] as? FileAttributeType) == .typeRegular ? (attributes?[.size] as? Int ?? 0) : 0)
        }
    }
}
