// `loupe quantize`: save a model with int8 block weights (weight file format version 2).
import ArgumentParser
import Foundation
import Workbench

struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Save a model with int8 transformer-block weights: a smaller file that loads into int8 inference.",
        discussion: """
            Weights are symmetric int8 per output channel, as ONNX Runtime's dynamic quantization (QInt8) stores \
            them; embeddings, layer norms, biases and heads stay float32 (docs/weights-format.md, version 2). \
            Commands run a quantized file in int8 unless --precision says otherwise; gradient methods and training \
            use its dequantized float32 weights.
            """)

    @Argument(help: "A Loupe .h5 weight file, a Hugging Face model directory or a fine-tuning run directory.")
    var input: String
    @Argument(help: "The weight file to write (replaced atomically).") var output: String
    @Option(help: "Output format: text or json.") var format: Format = .text

    func run() throws {
        let r = try library { () throws(WorkbenchError) in try Workbench.quantize(input, to: output) }
        switch format {
        case .json: try printJSON(r, pretty: true)
        case .jsonl: try printJSON(r)
        case .text:
            let mb = { (bytes: Int) in String(format: "%.1f MB", Double(bytes) / 1e6) }
            print(
                "\(r.output): \(r.int8Tensors) tensors (\(r.int8Parameters) values) in int8, \(r.floatTensors) "
                    + "(\(r.floatParameters)) in float32; \(mb(r.inputBytes)) → \(mb(r.outputBytes)) in "
                    + String(format: "%.1f s", r.seconds))
        }
    }
}
