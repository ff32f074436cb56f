// `loupe bench tensor`: Tensor-core throughput against raw sgemm and memcpy measured in the same run.
import ArgumentParser
import CBLAS
import Foundation
import Tensor

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// Wall time of one call of `body`, in seconds.
func seconds(_ body: () -> Void) -> Double {
    let t0 = DispatchTime.now().uptimeNanoseconds
    body()
    return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
}

func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

/// Median wall time in seconds of `body` over `runs` runs, after `warmup` unmeasured runs.
func medianSeconds(warmup: Int = 2, runs: Int, _ body: () -> Void) -> Double {
    for _ in 0..<warmup { body() }
    return median((0..<runs).map { _ in seconds(body) })
}

/// Median wall times in seconds of `a` and `b` run alternately `runs` times each, after `warmup` runs of each.
func pairedMedianSeconds(warmup: Int = 2, runs: Int, _ a: () -> Void, _ b: () -> Void) -> (Double, Double) {
    for _ in 0..<warmup {
        a()
        b()
    }
    var ta: [Double] = [], tb: [Double] = []
    for _ in 0..<runs {
        ta.append(seconds(a))
        tb.append(seconds(b))
    }
    return (median(ta), median(tb))
}

/// Median wall times in seconds of `a` (Loupe) and `b` (a raw OpenBLAS call), timed in alternating blocks, each
/// block of `a` after `settle` seconds of sleep. Why the sleep: after a threaded `cblas_sgemm`, OpenBLAS's own
/// worker threads spin in sched_yield before they park (its THREAD_TIMEOUT) and take the second core from
/// Loupe's pool, so run right after `b`, `a` ran on one core (128×768×768 at 0.47× raw sgemm in 5 of 9
/// processes, ~1.0× with OPENBLAS_THREAD_TIMEOUT=4; a 0.25 s pause was not enough here, 1 s was: measured
/// 2026-11-22). Loupe itself never wakes those threads
/// (each product runs on its pool with OpenBLAS single-threaded), so `a` is timed as it runs in use, and `b`
/// right after it with its threads as warm as a caller of OpenBLAS gets them. The first call of every block is
/// not timed: it wakes the parked threads (Loupe's pool or OpenBLAS's), which made the raw reference of the
/// first shape read 97-118 GFLOP/s instead of ~200.
func blockedMedianSeconds(
    warmup: Int = 2, runs: Int, blocks: Int = 4, settle: Double = 1, _ a: () -> Void, _ b: () -> Void
) -> (a: Double, b: Double, minA: Double) {
    // Warm-up: at least `warmup` runs of each and 0.2 s of `a` (a fresh process's pool thread and clock ramp).
    let start = DispatchTime.now().uptimeNanoseconds
    var warmed = 0
    while warmed < warmup || DispatchTime.now().uptimeNanoseconds - start < 200_000_000 {
        a()
        warmed += 1
    }
    for _ in 0..<warmup { b() }
    var ta: [Double] = [], tb: [Double] = []
    let perBlock = Swift.max(1, (runs + blocks - 1) / blocks)
    while ta.count < runs {
        Thread.sleep(forTimeInterval: settle)
        a()  // untimed: wakes Loupe's parked pool thread
        for _ in 0..<Swift.min(perBlock, runs - ta.count) { ta.append(seconds(a)) }
        b()  // untimed: wakes OpenBLAS's parked worker threads
        for _ in 0..<perBlock { tb.append(seconds(b)) }
    }
    return (median(ta), median(tb), ta.min()!)
}

/// The 1-minute load average (Linux), or nil.
func loadAverage() -> Double? {
    (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").first.flatMap { Double($0) }
}

struct BenchTensor: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tensor",
        abstract: "Benchmark the Tensor core: matmul vs raw sgemm, element-wise ops vs memcpy, an MLP step.")

    @Option(help: "Output format: text or json.") var format: OutputFormat = .text
    @Option(help: "Timed runs per measurement (median is reported).") var runs: Int = 20

    struct MatmulRow: Codable {
        let m, n, k: Int
        let tensorGflops, sgemmGflops, ratio: Double
    }
    struct ElementwiseRow: Codable {
        let op: String
        let shape: [Int]
        let tensorGBps, memcpyGBps, ratio: Double
    }
    struct Report: Codable {
        let threads: Int
        let loadAverage: Double?
        let matmul: [MatmulRow]
        let elementwise: [ElementwiseRow]
        let mlpStepMs: Double
        let mlp: String
    }

    func validate() throws {
        guard runs > 0 else { throw ValidationError("--runs must be positive, got \(runs)") }
    }

    func run() throws {
        let report = Report(
            threads: Threads.count, loadAverage: loadAverage(), matmul: benchMatmul(), elementwise: benchElementwise(),
            mlpStepMs: benchMLP() * 1000, mlp: "4 layers 512→512, batch 64, GELU, MSE; forward+backward+AdamW")
        switch format {
        case .json:
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(report), as: UTF8.self))
        case .text:
            let load = report.loadAverage.map { ", load average \(fmt($0, 2)) at start" } ?? ""
            print("Loupe Tensor benchmark (\(report.threads) BLAS threads; medians of \(runs) runs\(load))\n")
            print("matmul M×N×K        Tensor GFLOP/s   raw sgemm GFLOP/s   ratio")
            for r in report.matmul {
                print(pad("\(r.m)×\(r.n)×\(r.k)", 20) + pad(fmt(r.tensorGflops), 17) + pad(fmt(r.sgemmGflops), 20) + fmt(r.ratio, 3))
            }
            print("\nelement-wise 128×3072   Tensor GB/s   memcpy GB/s   ratio   (memcpy timed alternately with each op)")
            for r in report.elementwise {
                print(pad(r.op, 24) + pad(fmt(r.tensorGBps), 14) + pad(fmt(r.memcpyGBps), 14) + fmt(r.ratio, 3))
            }
            print("\nMLP step (\(report.mlp)): \(fmt(report.mlpStepMs, 3)) ms")
        }
    }

    func benchMatmul() -> [MatmulRow] {
        [(128, 768, 768), (128, 3072, 768), (1024, 1024, 1024)].map { (m, n, k) in
            let a = Tensor.randomUniform([m, k], low: -1, high: 1, seed: 1)
            let b = Tensor.randomUniform([k, n], low: -1, high: 1, seed: 2)
            let r = max(3, runs / (m >= 1024 ? 4 : 1))
            var c = [Float](repeating: 0, count: m * n)
            let (tTensor, tRaw, _) = blockedMedianSeconds(runs: r) {
                _ = matmul(a, b)
            } _: {
                a.withUnsafeBufferPointer { pa in
                    b.withUnsafeBufferPointer { pb in
                        c.withUnsafeMutableBufferPointer { pc in
                            cblas_sgemm(
                                CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1,
                                pa.baseAddress, Int32(k), pb.baseAddress, Int32(n), 0, pc.baseAddress, Int32(n))
                        }
                    }
                }
            }
            let flops = 2.0 * Double(m * n * k)
            return MatmulRow(
                m: m, n: n, k: k, tensorGflops: flops / tTensor / 1e9, sgemmGflops: flops / tRaw / 1e9,
                ratio: tRaw / tTensor)
        }
    }

    /// Each op against memcpy of the same bytes (one read and one write per element on both sides), timed in
    /// alternating runs so that both see the same machine load; medians of `runs · 5` runs after warm-up.
    func benchElementwise() -> [ElementwiseRow] {
        let shape = [128, 3072]
        let x = Tensor.randomNormal(shape, seed: 3)
        let w = Tensor.ones([3072]), b = Tensor.zeros([3072])
        let bytes = Double(2 * x.count * MemoryLayout<Float>.size)  // one read + one write per element
        var dst = [Float](repeating: 0, count: x.count)
        let copy = {
            x.withUnsafeBufferPointer { src in
                dst.withUnsafeMutableBufferPointer { d in
                    _ = memcpy(d.baseAddress!, src.baseAddress!, src.count * MemoryLayout<Float>.size)
                }
            }
        }
        let ops: [(String, () -> Tensor)] = [
            ("gelu (erf)", { gelu(x) }),
            ("gelu (tanh)", { gelu(x, approximate: .tanh) }),
            ("softmax", { softmax(x) }),
            ("layer norm", { layerNorm(x, weight: w, bias: b, eps: 1e-12) }),
        ]
        return ops.map { name, f in
            let (tCopy, t) = pairedMedianSeconds(runs: runs * 5, copy, { _ = f() })
            let gbps = bytes / t / 1e9, memcpyGBps = bytes / tCopy / 1e9
            return ElementwiseRow(op: name, shape: shape, tensorGBps: gbps, memcpyGBps: memcpyGBps, ratio: gbps / memcpyGBps)
        }
    }

    /// Seconds per training step of a 4-layer MLP (forward, backward, AdamW update).
    func benchMLP() -> Double {
        var g = RandomGenerator(seed: 7)
        let width = 512, batch = 64
        var params: [Tensor] = []
        for _ in 0..<4 {
            params.append(Tensor.randomNormal([width, width], std: 0.04, generator: &g))
            params.append(Tensor.zeros([width]))
        }
        let x = Tensor.randomNormal([batch, width], generator: &g)
        let target = Tensor.randomNormal([batch, width], generator: &g)
        var opt = AdamW(learningRate: 1e-3)
        return medianSeconds(runs: runs) {
            let tape = GradientTape()
            let (watched, loss) = tape.record { () -> ([Tensor], Tensor) in
                let p = params.map { tape.watch($0) }
                var h = x
                for l in 0..<4 {
                    h = matmul(h, p[2 * l]) + p[2 * l + 1]
                    if l < 3 { h = gelu(h) }
                }
                let d = h - target
                return (p, (d * d).mean())
            }
            let grads = tape.gradients(of: loss, wrt: watched)
            opt.update(&params, gradients: grads)
        }
    }
}

func fmt(_ x: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", x) }
func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
