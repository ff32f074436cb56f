// `loupe explain`: token salience for a BERT prediction, or sequence salience over a GPT-2 continuation.
import ArgumentParser
import Foundation
import Interpret
import Tensor
import Transformer

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Explain a prediction: which tokens the score depends on.",
        discussion: """
            Methods: \(Methods.names.joined(separator: ", ")).
            BERT classifiers explain a class (the predicted one unless --target LABEL); masked LMs the filler of \
            the first [MASK]; GPT-2 (--prompt) each token of its greedy continuation (--max-tokens) or of \
            --target TEXT, over the prompt and the tokens before it.
            """)

    @OptionGroup var model: ModelOption
    @Option(help: "The method: \(Methods.names.joined(separator: ", ")).") var method: String
    @Option(help: "A text to explain (repeat for several).") var text: [String] = []
    @Option(help: "A file with one text per line, or a TSV with a `sentence` column.") var input: String?
    @Option(help: "GPT-2: the prompt whose continuation is explained.") var prompt: String?
    @Option(help: "GPT-2: how many tokens to generate and explain.") var maxTokens = 10
    @Option(help: "The label to explain (default: the predicted one); GPT-2: the continuation text.") var target: String?
    @Option(help: "The explained score: prob (default, as LIT), logit, or logprob.") var score = "prob"
    @Option(help: "IG: quadrature points (default 32; with --tolerance the first rule's, default 4).") var steps: Int?
    @Option(help: "IG: \(QuadratureRule.allCases.map(\.rawValue).joined(separator: ", ")).") var rule = "gauss-legendre"
    @Option(help: "IG baseline: zeros, pad or mask.") var baseline = "zeros"
    @Option(help: "IG: refine the rule until |delta| ≤ tolerance·|F(x) − F(baseline)|.") var tolerance: Double?
    @Option(help: "IG: interpolation points per forward pass (default: about 2,048 tokens per batch).") var batchSize: Int?
    @Option(help: "LIME / KernelSHAP: perturbed samples.") var samples = 256
    @Option(help: "Seed of LIME, KernelSHAP and the information method.") var seed: UInt64 = 0
    @Option(help: "LIME / KernelSHAP / occlusion: hide tokens with [MASK] (mask) or delete them (remove).")
    var perturbation = "mask"
    @Option(help: "info: hidden state (0 = embeddings … L, default L); attention: show layer l's raw attention.")
    var layer: Int?
    @Option(help: "info: Adam steps.") var iterations = 1000
    @Option(help: "info: texts (a file as --input) whose hidden states give the per-dimension std r.")
    var reference: String?
    @Flag(help: "Merge word pieces into words.") var mergeWords = false
    @Option(help: "text (coloured), json (one object per input) or html (a standalone page).") var format = "text"
    @Option(help: "html: the page to write (default loupe-explain.html).") var output: String?
    @Flag(help: "text: no colours.") var noColor = false

    func options() throws -> ExplainOptions {
        var o = ExplainOptions(method: method)
        guard Methods.names.contains(method) else {
            throw CLIError(InterpretError.unknownMethod(method, known: Methods.names).description)
        }
        guard let s = ScoreKind(rawValue: score) else {
            throw CLIError("unknown --score \"\(score)\"; use prob, logit or logprob")
        }
        guard let r = QuadratureRule(rawValue: rule) else {
            throw CLIError("unknown --rule \"\(rule)\"; use \(QuadratureRule.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let b = Baseline(rawValue: baseline) else { throw CLIError("unknown --baseline \"\(baseline)\"; use zeros, pad or mask") }
        guard let p = Perturbation(rawValue: perturbation) else {
            throw CLIError("unknown --perturbation \"\(perturbation)\"; use mask or remove")
        }
        if let steps, steps < 1 { throw CLIError("--steps must be at least 1, got \(steps)") }
        guard samples >= 1 else { throw CLIError("--samples must be at least 1, got \(samples)") }
        guard maxTokens >= 1 else { throw CLIError("--max-tokens must be at least 1, got \(maxTokens)") }
        guard ["text", "json", "html"].contains(format) else { throw CLIError("unknown --format \"\(format)\"; use text, json or html") }
        o.score = s
        o.rule = r
        o.baseline = b
        o.perturbation = p
        o.steps = steps
        o.samples = samples
        o.seed = seed
        o.tolerance = tolerance
        o.batchSize = batchSize
        o.layer = layer
        o.iterations = iterations
        o.mergeWords = mergeWords
        if prompt == nil, let target { o.target = .label(target) }
        _ = try interpret { () throws(InterpretError) in try Methods.make(o) }
        return o
    }

    func run() throws {
        var o = try options()
        let sources = [text.isEmpty ? nil : "--text", input == nil ? nil : "--input", prompt == nil ? nil : "--prompt"]
        guard sources.compactMap({ $0 }).count == 1 else { throw CLIError("give one of --text, --input or --prompt") }
        let m = try model.load()
        let colour = !noColor && isatty(1) == 1
        if let prompt {
            let method = try interpret { () throws(InterpretError) in try Methods.make(o) }
            let seq = try interpret { () throws(InterpretError) in
                try SequenceSalience.explain(
                    model: m, prompt: prompt, continuation: target, maxTokens: maxTokens, method: method, score: o.score)
            }
            switch format {
            case "json": printJSON(seq.jsonObject)
            case "html": try writeAtomically(htmlPage(seq))
            default: print(seq.terminalText(colour: colour))
            }
            return
        }
        let texts = try TextInputOptions.parse(input.map { ["--input", $0] } ?? text.flatMap { ["--text", $0] }).texts()
        if method == InformationSalience.name {
            o.regularization = try regularization(m, texts: texts, options: o)
        }
        var pages: [Salience] = []
        for t in texts {
            let s = try interpret { () throws(InterpretError) in try Interpret.explain(m, text: t, options: o) }
            switch format {
            case "json": printJSON(s.jsonObject)
            case "html": pages.append(s)
            default: print(s.terminalText(colour: colour) + "\n")
            }
        }
        if format == "html" { try writeAtomically(htmlPage(pages)) }
    }

    /// r for the information method: the std of the hidden state over the --reference texts, or over
    /// the inputs when there are several; nil (self-normalised loss, as the reference code) otherwise.
    func regularization(_ m: LoadedModel, texts: [String], options o: ExplainOptions) throws -> Tensor? {
        let samples: [String]
        if let reference {
            samples = try TextInputOptions.parse(["--input", reference]).texts()
        } else if texts.count > 1 {
            samples = texts
        } else {
            return nil
        }
        return try interpret { () throws(InterpretError) -> Tensor in
            var adapters: [any SalienceModel] = []
            for s in samples { adapters.append(try salienceModel(m, text: s, options: o)) }
            let layer = o.layer ?? (adapters.first?.hiddenStateCount ?? 1) - 1
            return try InformationSalience.regularization(layer: layer, samples: adapters)
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

/// Runs library code, turning its typed errors into one-line CLI errors.
func interpret<R>(_ body: () throws(InterpretError) -> R) throws -> R {
    do { return try body() } catch { throw CLIError(error.description) }
}
