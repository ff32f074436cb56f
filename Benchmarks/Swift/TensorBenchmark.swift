// The Tensor-core benchmark: matmul against raw sgemm, element-wise ops against memcpy (both measured in the
// same run), and one training step of a small MLP.
import CBLAS
import Foundation
import Tensor

/// Tensor-core throughput against raw sgemm and memcpy measured in the same run.
public enum TensorBenchmark {
    public struct Request: Codable, Sendable {
        /// Timed runs per measurement (the median is reported).
        public var runs: Int

        public init(runs: Int = 20) { self.runs = runs }

        /// `runs` may be left out and takes the default of `init`.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(runs: try c.decodeIfPresent(Int.self, forKey: .runs) ?? Request().runs)
        }
    }

    public struct MatmulRow: Codable, Sendable {
        public let m, n, k: Int
        public let tensorGflops, sgemmGflops, ratio: Double
    }

    public struct ElementwiseRow: Codable, Sendable {
        public let op: String
        public let shape: [Int]
        public let tensorGBps, memcpyGBps, ratio: Double
    }

    public struct Report: Codable, Sendable {
        public let threads: Int
        /// The 1-minute load average when the benchmark started (Linux), or nil.
        public let loadAverage: Double?
        public let matmul: [MatmulRow]
        public let elementwise: [ElementwiseRow]
        public let mlpStepMs: Double
        /// What the MLP step is.
        public let mlp: String
    }

    public static func run(_ request: Request) throws(BenchmarkError) -> Report {
        try requirePositive(request.runs, .runs)
        let load = loadAverage()
        return Report(
            threads: Threads.count, loadAverage: load, matmul: matmulRows(runs: request.runs),
            elementwise: elementwiseRows(runs: request.runs), mlpStepMs: mlpStepSeconds(runs: request.runs) * 1000,
            mlp: "4 layers 512→512, batch 64, GELU, MSE; forward+backward+AdamW")
    }

    static func matmulRows(runs: Int) -> [MatmulRow] {
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
    static func elementwiseRows(runs: Int) -> [ElementwiseRow] {
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
            return ElementwiseRow(
                op: name, shape: shape, tensorGBps: gbps, memcpyGBps: memcpyGBps, ratio: gbps / memcpyGBps)
        }
    }

    /// Seconds per training step of a 4-layer MLP (forward, backward, AdamW update).
    static func mlpStepSeconds(runs: Int) -> Double {
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
