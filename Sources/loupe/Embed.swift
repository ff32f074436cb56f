// `loupe embed`: sentence embeddings (pooled as the checkpoint says, e.g. all-MiniLM-L6-v2's mean).
import ArgumentParser
import Foundation
import Tensor
import Transformer

struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print sentence embeddings of texts.")

    @OptionGroup var model: ModelOption
    @OptionGroup var input: TextInputOptions
    @Flag(help: "L2-normalise the embeddings (default: as the checkpoint's sentence-transformers config says).")
    var normalize = false
    @Flag(help: "Refuse texts longer than the model's maximum positions instead of truncating them.")
    var noTruncate = false
    @Option(help: "Output format: text or json ({\"embedding\": [...]} per line).") var format: Format = .text

    func run() throws {
        let m = try model.load(task: nil)
        let texts = try input.texts()
        guard case .bert = m.network else {
            throw CLIError("\(model.model): `embed` needs a BERT model, the file holds \(m.architecture.rawValue)")
        }
        for (i, t) in texts.enumerated() where m.tokenizer.encode(t, addSpecialTokens: true).count > m.maxLength {
            if noTruncate { throw CLIError("input \(i + 1) is longer than \(m.maxLength) tokens") }
            warn("input \(i + 1) is longer than \(m.maxLength) tokens and was truncated (--no-truncate refuses it)")
        }
        let e: Tensor
        do { e = try m.sentenceEmbeddings(texts, normalize: normalize ? true : nil) } catch { throw CLIError(error.description) }
        let h = e.shape[1]
        for (i, text) in texts.enumerated() {
            let row = e.scalars[(i * h)..<((i + 1) * h)].map(Double.init)
            if format == .json {
                printJSON(["text": text, "embedding": row])
            } else {
                print(row.map { String(format: "%.6f", $0) }.joined(separator: " "))
            }
        }
    }
}
