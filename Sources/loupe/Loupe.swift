// The `loupe` command-line tool: the root command and its subcommands.
import ArgumentParser

@main
struct Loupe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loupe",
        abstract: "Native transformer inference and interpretability.",
        version: "0.1.0",
        subcommands: [
            Tokenize.self, Predict.self, Generate.self, Embed.self, Explain.self, EvalSaliency.self, Finetune.self,
            Eval.self, Quantize.self, Serve.self, Bench.self,
        ])

    static func main() {
        BLASKernelChoice.reexecIfMisdetected()
        Allocator.keepFreedMemory()
        PeakMemoryReport.installIfRequested()
        main(nil)
    }
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure Loupe's speed against raw BLAS and memory bandwidth in the same run.",
        subcommands: [BenchModel.self, BenchTensor.self, BenchTokenizer.self], defaultSubcommand: BenchModel.self)
}
