// `loupe explain`: token salience for a BERT prediction, or sequence salience over a GPT-2 continuation.
import ArgumentParser
import Foundation
import Interpret
import Transformer
import Workbench

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Explain a prediction: which tokens the score depends on.",
        discussion: """
            BERT classifiers explain a class (the predicted one unless --target LABEL); masked LMs the filler of \
            the first [MASK]; GPT-2 (--prompt or --text) each token of its greedy continuation (--max-tokens) or of \
            --target TEXT, over the prompt and the tokens before it.

            --precision int8 or bf16 applies to the methods that only run forwards (lime, kernel-shap, occlusion); \
            the gradient methods and attention always run in float32 on OpenBLAS.

            Methods and their options:
            \(methodHelp())
            """)

    @OptionGroup var model: ModelOption
    @OptionGroup var precision: PrecisionOption
    @Option(help: "The method: \(MethodID.allCases.map(\.rawValue).joined(separator: ", ")).") var method: String
    @Option(help: "A text to explain (repeat for several; ids 0, 1, …).") var text: [String] = []
    @Option(help: "A file of examples: JSON Lines, a TSV with a `sentence` column, or one text per line.")
    var input: String?
    @Option(help: "How to read --input: text, tsv or jsonl (default: .jsonl names are JSON Lines, else by the first line).")
    var inputFormat: DatasetFormat?
    @Option(help: "GPT-2: the prompt whose continuation is explained (as --text).") var prompt: String?
    @Option(help: ArgumentHelp(ExplainRequest.spec["max_tokens"]!.summary)) var maxTokens = 10
    @Option(help: "The label to explain (default: the predicted one); GPT-2: the continuation text.") var target:
        String?
    @Option(help: ArgumentHelp(ExplainRequest.spec["score"]!.summary)) var score = "prob"
    @Option(
        help: "GPT-2: explain the continuation's one token against this token: score(target) − score(contrast).")
    var contrast: String?
    @Option(help: ArgumentHelp(fieldHelp("steps"))) var steps: Int?
    @Option(help: ArgumentHelp(fieldHelp("rule"))) var rule: String?
    @Option(help: ArgumentHelp(fieldHelp("baseline"))) var baseline: String?
    @Option(help: ArgumentHelp(fieldHelp("tolerance"))) var tolerance: Double?
    @Option(help: ArgumentHelp(fieldHelp("batch_size"))) var batchSize: Int?
    @Option(help: ArgumentHelp(fieldHelp("samples"))) var samples: Int?
    @Option(help: ArgumentHelp(fieldHelp("seed"))) var seed: UInt64?
    @Option(help: ArgumentHelp(fieldHelp("perturbation"))) var perturbation: String?
    @Option(help: ArgumentHelp(fieldHelp("layer"))) var layer: Int?
    @Option(help: ArgumentHelp(fieldHelp("iterations"))) var iterations: Int?
    @Option(help: ArgumentHelp(fieldHelp("base"))) var base: String?
    @Option(help: ArgumentHelp(fieldHelp("nt_type"))) var ntType: String?
    @Option(help: ArgumentHelp(fieldHelp("noise"))) var noise: Double?
    @Option(help: ArgumentHelp(fieldHelp("neuron"))) var neuron: String?
    @Option(help: "info: texts (a file as --input) whose hidden states give the per-dimension std r.")
    var reference: String?
    @Flag(help: ArgumentHelp(ExplainRequest.spec["merge_words"]!.summary)) var mergeWords = false
    @Option(
        help: ArgumentHelp(
            "text (coloured), json (one object per input, with its id), jsonl (the streaming worker: --input - "
                + "for stdin, one line per record, errors as lines) or html (a standalone page)."))
    var format = "text"
    @Option(help: "html: the page to write (default loupe-explain.html).") var output: String?
    @Flag(help: "text: no colours.") var noColor = false
    @OptionGroup var worker: WorkerOptions

    /// The method options given on the command line, as spec values (those the method does not take are ignored).
    func config(for id: MethodID) -> ConfigValues {
        let given: [(String, ConfigValue?)] = [
            ("steps", steps.map(ConfigValue.int)), ("rule", rule.map(ConfigValue.string)),
            ("baseline", baseline.map(ConfigValue.string)), ("tolerance", tolerance.map(ConfigValue.double)),
            ("batch_size", batchSize.map(ConfigValue.int)), ("samples", samples.map(ConfigValue.int)),
            ("seed", seed.map { .int(Int(truncatingIfNeeded: $0)) }),
            ("perturbation", perturbation.map(ConfigValue.string)),
            ("layer", layer.map(ConfigValue.int)), ("iterations", iterations.map(ConfigValue.int)),
            ("base", base.map(ConfigValue.string)), ("nt_type", ntType.map(ConfigValue.string)),
            ("noise", noise.map(ConfigValue.double)), ("neuron", neuron.map(ConfigValue.string)),
        ]
        var values = ConfigValues()
        for (name, value) in given where id.spec[name] != nil { values[name] = value }
        return values
    }

    func run() throws {
        let sources = [text.isEmpty ? nil : "--text", input == nil ? nil : "--input", prompt == nil ? nil : "--prompt"]
        guard sources.compactMap({ $0 }).count == 1 else { throw CLIError("give one of --text, --input or --prompt") }
        guard ["text", "json", "jsonl", "html"].contains(format) else {
            throw CLIError("unknown --format \"\(format)\"; use text, json, jsonl or html")
        }
        let id = try methodID(method)
        let source = try ExampleOptions.parse(
            input.map { ["--input", $0] + (inputFormat.map { ["--input-format", $0.rawValue] } ?? []) }
                ?? (prompt.map { [$0] } ?? text).flatMap { ["--text", $0] })
        // The worker streams; the other formats explain every example together (the information method's r
        // then comes from all of them).
        let examples = format == "jsonl" ? [] : try source.all()
        var request = ExplainRequest(examples: examples, method: id, config: config(for: id))
        request.target = target
        request.contrast = contrast
        request.maxTokens = maxTokens
        request.mergeWords = mergeWords
        if let reference { request.reference = try ExampleOptions.parse(["--input", reference]).all() }
        guard let s = ScoreKind(rawValue: score) else {
            throw CLIError(
                OptionError(field: "score", value: score, problem: .notAChoice(ScoreKind.allCases.map(\.rawValue)))
                    .message(naming: flag))
        }
        request.score = s
        let m = try model.load(precision.precision)
        if format == "jsonl" {
            let r = request
            // Methods explained in shared passes read 256 records at a time, so that length-sorted batches pad
            // little; the others 16, so that slow methods stream their lines.
            let options = ExplainOptions(method: id, config: request.config)
            let window = Interpret.explainsInBatches(m, options: options) ? 256 : 16
            return try runWorker(source, worker, window: window) { batch throws(WorkbenchError) in
                var one = r
                one.examples = batch
                return try Workbench.explain(one, model: m)
            }
        }
        let explanations = try library { () throws(WorkbenchError) in try Workbench.explain(request, model: m) }
        let colour = !noColor && isatty(1) == 1
        switch format {
        case "json": for e in explanations { try printJSON(e) }
        case "html":
            let sequences = explanations.compactMap { $0.sequence }
            try writeAtomically(
                sequences.isEmpty ? htmlPage(explanations.compactMap { $0.salience }) : htmlPage(sequences))
        default:
            for e in explanations {
                if let s = e.salience { print(s.terminalText(colour: colour) + "\n") }
                if let q = e.sequence { print(q.terminalText(colour: colour)) }
            }
        }
    }

    func writeAtomically(_ page: String) throws {
        let path = output ?? "loupe-explain.html"
        do {
            try Data(page.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw CLIError("\(path): cannot write the page: \(error.localizedDescription)")
        }
        FileHandle.standardError.write(Data("wrote \(path)\n".utf8))
    }
}

/// A method option's help, from the specs of the methods that take it.
func fieldHelp(_ name: String) -> String {
    let users = MethodID.allCases.filter { $0.spec[name] != nil }
    var seen: [String] = []
    for id in users where !seen.contains(id.spec[name]!.summary) { seen.append(id.spec[name]!.summary) }
    return seen.joined(separator: " ")
}

/// Every method with its one-line summary and its options (from the specs).
func methodHelp() -> String {
    MethodID.allCases.map { id in
        let options = id.spec.fields.map { f -> String in
            let range = f.choices.map { $0.joined(separator: "|") } ?? f.kind.rawValue
            let value = f.defaultValue.map { "\($0)" } ?? f.defaultNote ?? "unset"
            return "\(flag(f.name)) \(range) (default \(value))"
        }
        return "  \(id.rawValue): \(id.summary)" + (options.isEmpty ? "" : "\n      " + options.joined(separator: ", "))
    }.joined(separator: "\n")
}
