// `loupe bench model` (also `loupe bench --model`): forward ms and GFLOP/s against raw sgemm, GPT-2 decode, peak
// RSS (`ModelBenchmark` in LoupeBenchmarks does the measuring). Benchmarks/bench_models.py reads its JSON.
import ArgumentParser
import LoupeBenchmarks

struct BenchModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Benchmark a BERT or GPT-2 forward (and GPT-2 decoding) against raw BLAS in the same run.")

    @Option(name: .long, help: "A Loupe .h5 weight file or a Hugging Face model directory.")
    var model: String
    @Option(help: "Sequences per forward.") var batch = 1
    @Option(help: "Tokens per sequence (random ids, no padding); for GPT-2 also the decode prompt length.")
    var seq = 128
    @Option(help: "Timed forwards (the median is reported).") var runs = 10
    @Option(help: "Untimed forwards first.") var warmup = 2
    @Option(help: "GPT-2: tokens to decode greedily with the KV cache after the prompt (0: skip).")
    var decodeTokens = 32
    @Flag(
        help: ArgumentHelp(
            "BERT classifiers: compute every row of every layer, as transformers does (default: what `loupe predict` "
                + "runs, the last layer's [CLS] row only past its keys and values, since the pooler reads only that row)."
        ))
    var allRows = false
    @OptionGroup var precision: PrecisionOption
    @Option(help: "Output format: text or json.") var format: OutputFormat = .text

    func validate() throws {
        guard batch > 0, seq > 0 else { throw ValidationError("--batch and --seq must be positive") }
        guard runs > 0, warmup >= 0, decodeTokens >= 0 else {
            throw ValidationError("--runs must be positive, --warmup and --decode-tokens not negative")
        }
    }

    func run() throws {
        let request = ModelBenchmark.Request(
            model: model, batch: batch, seq: seq, runs: runs, warmup: warmup, decodeTokens: decodeTokens,
            allRows: allRows, precision: precision.precision)
        let report = try runBenchmark { () throws(BenchmarkError) in try ModelBenchmark.run(request) }
        switch format {
        case .json: try printPrettyJSON(report)
        case .text: printText(report)
        }
    }

    func printText(_ r: ModelBenchmark.Report) {
        print(
            "Loupe model benchmark: \(r.architecture) \(r.task), \(r.layers) layers, H \(r.hidden), \(r.heads) heads, "
                + "V \(r.vocabulary), \(fmt(Double(r.parameters) / 1e6)) M parameters; \(r.threads) threads, OpenBLAS "
                + "\(r.blasCore) kernels; \(r.precision.rawValue)"
                + (r.kernel.map { " (oneDNN \(r.onednnVersion ?? "") \($0))" } ?? "") + "; "
                + "load \(fmt(r.loadSeconds, 2)) s")
        print(
            "forward \(r.batch)×\(r.seq)\(r.allRows ? "" : " (last layer: [CLS] row only)"): "
                + "\(fmt(r.forwardMs, 2)) ms (median of \(r.runs), min \(fmt(r.forwardMinMs, 2))), "
                + "\(fmt(r.forwardGflop, 2)) GFLOP, \(fmt(r.forwardGflops)) GFLOP/s")
        print(
            "raw sgemm, the same dense GEMMs: \(fmt(r.sgemmMs, 2)) ms, \(fmt(r.sgemmGflops)) GFLOP/s; "
                + "forward/sgemm GFLOP/s \(fmt(r.ratioToSgemm, 3))")
        if let d = r.decode {
            print(
                "decode \(d.batch)×\(d.tokens) after a \(d.prompt)-token prompt (KV cache, greedy): "
                    + "\(fmt(d.tokensPerSecond)) tokens/s, \(fmt(d.msPerToken, 2)) ms/token; "
                    + "raw BLAS of one step \(fmt(d.blasMsPerStep, 2)) ms (ratio \(fmt(d.ratioToBlas, 3)))")
        }
        print("peak RSS \(fmt(r.peakRssMB)) MB (after loading \(fmt(r.rssAfterLoadMB)) MB)")
    }
}
