// `loupe bench tensor`: Tensor-core throughput against raw sgemm and memcpy measured in the same run
// (`TensorBenchmark` in LoupeBenchmarks does the measuring).
import ArgumentParser
import LoupeBenchmarks

struct BenchTensor: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tensor",
        abstract: "Benchmark the Tensor core: matmul vs raw sgemm, element-wise ops vs memcpy, an MLP step.")

    @Option(help: "Output format: text or json.") var format: OutputFormat = .text
    @Option(help: "Timed runs per measurement (median is reported).") var runs: Int = 20

    func validate() throws {
        guard runs > 0 else { throw ValidationError("--runs must be positive, got \(runs)") }
    }

    func run() throws {
        let report = try runBenchmark { () throws(BenchmarkError) in try TensorBenchmark.run(.init(runs: runs)) }
        switch format {
        case .json: try printPrettyJSON(report)
        case .text: printText(report)
        }
    }

    func printText(_ report: TensorBenchmark.Report) {
        let load = report.loadAverage.map { ", load average \(fmt($0, 2)) at start" } ?? ""
        print("Loupe Tensor benchmark (\(report.threads) BLAS threads; medians of \(runs) runs\(load))\n")
        print("matmul M×N×K        Tensor GFLOP/s   raw sgemm GFLOP/s   ratio")
        for r in report.matmul {
            print(
                pad("\(r.m)×\(r.n)×\(r.k)", 20) + pad(fmt(r.tensorGflops), 17) + pad(fmt(r.sgemmGflops), 20)
                    + fmt(r.ratio, 3))
        }
        print("\nelement-wise 128×3072   Tensor GB/s   memcpy GB/s   ratio   (memcpy timed alternately with each op)")
        for r in report.elementwise {
            print(pad(r.op, 24) + pad(fmt(r.tensorGBps), 14) + pad(fmt(r.memcpyGBps), 14) + fmt(r.ratio, 3))
        }
        print("\nMLP step (\(report.mlp)): \(fmt(report.mlpStepMs, 3)) ms")
    }
}
