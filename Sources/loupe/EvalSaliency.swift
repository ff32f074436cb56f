// `loupe eval-saliency`: ERASER comprehensiveness and sufficiency of each method on a data set, against random.
import ArgumentParser
import Foundation
import Interpret
import Workbench

struct EvalSaliency: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval-saliency",
        abstract: "Measure how faithful each salience method is (ERASER comprehensiveness and sufficiency).",
        discussion: """
            For each text, each method explains the predicted class; its top 1, 5, 10, 20 and 50 % of tokens \
            are deleted (comprehensiveness: the drop in the predicted class's probability, higher is better) \
            or kept alone (sufficiency: the drop, lower is better), averaged over the bins (AOPC). A row of \
            random attributions is the floor. IG rows also report the mean |delta|. --precision int8 or bf16 runs \
            the deletions' forwards and the perturbation methods at that precision; gradients stay float32.
            """)

    @OptionGroup var model: ModelOption
    @OptionGroup var precision: PrecisionOption
    @Option(
        name: [.customLong("data"), .customLong("input")],
        help: "A file with one text per line, a TSV with a `sentence` column (GLUE), or JSON Lines.") var data: String
    @Option(help: "Comma-separated methods.") var methods = "grad-norm,grad-input,ig,lime"
    @Option(help: "Use the first N texts only.") var limit: Int?
    @Option(help: ArgumentHelp(EvalSaliencyRequest.spec["score"]!.summary)) var score = "prob"
    @Option(help: ArgumentHelp(fieldHelp("steps"))) var steps: Int?
    @Option(help: ArgumentHelp(fieldHelp("rule"))) var rule: String?
    @Option(help: ArgumentHelp(fieldHelp("tolerance"))) var tolerance: Double?
    @Option(help: ArgumentHelp(fieldHelp("samples"))) var samples: Int?
    @Option(help: "Seed of the sampling methods and of the random row.") var seed: UInt64 = 0
    @Option(help: ArgumentHelp(fieldHelp("iterations"))) var iterations: Int?
    @Option(help: ArgumentHelp(fieldHelp("base"))) var base: String?
    @Option(help: ArgumentHelp(fieldHelp("nt_type"))) var ntType: String?
    @Option(help: ArgumentHelp(fieldHelp("noise"))) var noise: Double?
    @Option(help: ArgumentHelp(fieldHelp("layer"))) var layer: Int?
    @Option(help: "text (a table) or json.") var format = "text"

    struct Report: Encodable {
        let model, data: String
        let result: SaliencyEvaluation
        enum Key: String, CodingKey { case model, data }
        func encode(to encoder: any Encoder) throws {
            try result.encode(to: encoder)
            var c = encoder.container(keyedBy: Key.self)
            try c.encode(model, forKey: .model)
            try c.encode(data, forKey: .data)
        }
    }

    func run() throws {
        let names = methods.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        guard !names.isEmpty else { throw CLIError("--methods is empty") }
        let ids = try names.map(methodID)
        if let limit, limit < 1 { throw CLIError("--limit must be positive, got \(limit)") }
        guard ["text", "json"].contains(format) else {
            throw CLIError("unknown --format \"\(format)\"; use text or json")
        }
        var request = EvalSaliencyRequest(examples: [], methods: ids)
        let given: [(String, ConfigValue?)] = [
            ("steps", steps.map(ConfigValue.int)), ("rule", rule.map(ConfigValue.string)),
            ("tolerance", tolerance.map(ConfigValue.double)), ("samples", samples.map(ConfigValue.int)),
            ("seed", .int(Int(truncatingIfNeeded: seed))), ("iterations", iterations.map(ConfigValue.int)),
            ("base", base.map(ConfigValue.string)), ("nt_type", ntType.map(ConfigValue.string)),
            ("noise", noise.map(ConfigValue.double)), ("layer", layer.map(ConfigValue.int)),
        ]
        for (name, value) in given where ids.contains(where: { $0.spec[name] != nil }) { request.config[name] = value }
        request.seed = seed
        guard let s = ScoreKind(rawValue: score), s != .logprob else {
            throw CLIError("unknown --score \"\(score)\"; use prob or logit")
        }
        request.score = s
        let m = try model.load(precision.precision)
        request.examples = try ExampleOptions.parse(["--input", data]).all(limit: limit)
        let total = request.examples.count
        let result = try library { () throws(WorkbenchError) in
            try Workbench.evalSaliency(request, model: m) { done in
                if done % 10 == 0 || done == total {
                    FileHandle.standardError.write(Data("\r\(done)/\(total) texts".utf8))
                    if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
                }
            }
        }
        if format == "json" { return try printJSON(Report(model: model.model, data: data, result: result)) }
        print("\(result.examples) texts, \(model.model)")
        print("method          comprehensiveness ↑  sufficiency ↓  mean |delta|  time (s)")
        for row in result.methods {
            let delta = row.meanAbsDelta.map { String(format: "%.3g", $0) } ?? "-"
            print(
                row.method.padding(toLength: 16, withPad: " ", startingAt: 0)
                    + String(format: "%17.4f  %13.4f  ", row.comprehensiveness, row.sufficiency)
                    + delta.padding(toLength: 12, withPad: " ", startingAt: 0)
                    + String(format: "  %8.2f", row.seconds))
        }
    }
}
