// `loupe eval-saliency`: ERASER comprehensiveness and sufficiency of each method on a data set, against random.
import ArgumentParser
import Foundation
import Interpret
import Transformer

struct EvalSaliency: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval-saliency",
        abstract: "Measure how faithful each salience method is (ERASER comprehensiveness and sufficiency).",
        discussion: """
            For each text, each method explains the predicted class; its top 1, 5, 10, 20 and 50 % of tokens \
            are deleted (comprehensiveness: the drop in the predicted class's probability, higher is better) \
            or kept alone (sufficiency: the drop, lower is better), averaged over the bins (AOPC). A row of \
            random attributions is the floor. IG rows also report the mean |delta|.
            """)

    @OptionGroup var model: ModelOption
    @Option(help: "A file with one text per line, or a TSV with a `sentence` column (GLUE).") var data: String
    @Option(help: "Comma-separated methods.") var methods = "grad-norm,grad-input,ig,lime"
    @Option(help: "Use the first N texts only.") var limit: Int?
    @Option(help: "The explained score: prob (default) or logit; the erasure always measures the probability.")
    var score = "prob"
    @Option(help: "IG: quadrature points (default 32; with --tolerance the first rule's, default 4).") var steps: Int?
    @Option(help: "IG: quadrature rule.") var rule = "gauss-legendre"
    @Option(help: "IG: stop refining when |delta| ≤ tolerance·|F(x) − F(baseline)|.") var tolerance: Double?
    @Option(help: "LIME / KernelSHAP: samples.") var samples = 256
    @Option(help: "Seed of the sampling methods and of the random row.") var seed: UInt64 = 0
    @Option(help: "info: Adam steps.") var iterations = 1000
    @Option(help: "text (a table) or json.") var format = "text"

    func run() throws {
        let names = methods.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        guard !names.isEmpty else { throw CLIError("--methods is empty") }
        for n in names where !Methods.names.contains(n) {
            throw CLIError(InterpretError.unknownMethod(n, known: Methods.names).description)
        }
        guard let s = ScoreKind(rawValue: score), s != .logprob else { throw CLIError("unknown --score \"\(score)\"; use prob or logit") }
        guard let r = QuadratureRule(rawValue: rule) else { throw CLIError("unknown --rule \"\(rule)\"") }
        if let steps, steps < 1 { throw CLIError("--steps must be at least 1, got \(steps)") }
        guard samples >= 1 else { throw CLIError("--samples must be at least 1, got \(samples)") }
        if let limit, limit < 1 { throw CLIError("--limit must be positive, got \(limit)") }
        guard ["text", "json"].contains(format) else { throw CLIError("unknown --format \"\(format)\"; use text or json") }
        var o = ExplainOptions(method: names[0])
        o.score = s
        o.rule = r
        o.steps = steps
        o.tolerance = tolerance
        o.samples = samples
        o.seed = seed
        o.iterations = iterations
        let m = try model.load()
        guard m.task == .sequenceClassification else {
            throw CLIError("\(model.model): eval-saliency needs a sequence-classification model, the file holds \(m.task.rawValue)")
        }
        var texts = try TextInputOptions.parse(["--input", data]).texts()
        if let limit { texts = Array(texts.prefix(limit)) }
        let total = texts.count
        let rows = try interpret { () throws(InterpretError) in
            try Faithfulness.evaluate(model: m, texts: texts, methods: names, options: o, seed: seed) { done in
                if done % 10 == 0 || done == total {
                    FileHandle.standardError.write(Data("\r\(done)/\(total) texts".utf8))
                    if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
                }
            }
        }
        if format == "json" {
            printJSON([
                "model": model.model, "data": data, "examples": texts.count,
                "bins": Faithfulness.bins,
                "methods": rows.map { row -> [String: Any] in
                    var obj: [String: Any] = [
                        "method": row.method, "comprehensiveness": row.comprehensiveness,
                        "sufficiency": row.sufficiency, "comprehensiveness_by_bin": row.comprehensivenessByBin,
                        "sufficiency_by_bin": row.sufficiencyByBin, "seconds": row.seconds,
                    ]
                    if let d = row.meanAbsDelta { obj["mean_abs_delta"] = d }
                    if let d = row.meanRelativeDelta { obj["mean_relative_delta"] = d }
                    return obj
                },
            ])
            return
        }
        print("\(texts.count) texts, \(model.model)")
        print("method        comprehensiveness ↑  sufficiency ↓  mean |delta|  time (s)")
        for row in rows {
            let delta = row.meanAbsDelta.map { String(format: "%.3g", $0) } ?? "-"
            print(
                row.method.padding(toLength: 14, withPad: " ", startingAt: 0)
                    + String(format: "%17.4f  %13.4f  ", row.comprehensiveness, row.sufficiency)
                    + delta.padding(toLength: 12, withPad: " ", startingAt: 0)
                    + String(format: "  %8.2f", row.seconds))
        }
    }
}
