// The model benchmark: forward ms and GFLOP/s against raw sgemm, GPT-2 decode, peak RSS.
//
// Every ratio is measured in the same run: forward passes and raw BLAS passes over the same GEMMs (the model's
// own weight buffers, the shapes and transposes the model uses) alternate, and medians are reported, because
// the machine is shared. Benchmarks/bench_models.py runs the same workloads in PyTorch and ONNX Runtime.
//
// Dimension legend: B batch, T tokens, H hidden, I intermediate (feed-forward), V vocabulary, L layers.
import CBLAS
import Foundation
import Tensor
import Transformer

/// A BERT or GPT-2 forward (and GPT-2 greedy decoding) against raw BLAS over the same products, in one run.
public enum ModelBenchmark {
    public struct Request: Codable, Sendable {
        /// A Loupe .h5 weight file or a Hugging Face model directory.
        public var model: String
        /// Sequences per forward.
        public var batch: Int
        /// Tokens per sequence (random ids, no padding); for GPT-2 also the decode prompt length.
        public var seq: Int
        /// Timed forwards (the median is reported).
        public var runs: Int
        /// Untimed forwards first.
        public var warmup: Int
        /// GPT-2: tokens to decode greedily with the KV cache after the prompt (0: skip).
        public var decodeTokens: Int
        /// BERT classifiers: compute every row of every layer, as transformers does, instead of what
        /// prediction runs (the last layer's [CLS] row only past its keys and values, since the pooler reads
        /// only that row).
        public var allRows: Bool
        /// The arithmetic of the dense layers' products (`LoadedModel.withPrecision`); nil: the file's own (int8 for a
        /// file written by `loupe quantize`, else fp32).
        public var precision: Precision?

        public init(
            model: String, batch: Int = 1, seq: Int = 128, runs: Int = 10, warmup: Int = 2, decodeTokens: Int = 32,
            allRows: Bool = false, precision: Precision? = nil
        ) {
            (self.model, self.batch, self.seq, self.runs) = (model, batch, seq, runs)
            (self.warmup, self.decodeTokens, self.allRows, self.precision) = (warmup, decodeTokens, allRows, precision)
        }

        /// Every field but `model` may be left out and takes the default of `init`.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = Request(model: try c.decode(String.self, forKey: .model))
            self.init(
                model: d.model, batch: try c.decodeIfPresent(Int.self, forKey: .batch) ?? d.batch,
                seq: try c.decodeIfPresent(Int.self, forKey: .seq) ?? d.seq,
                runs: try c.decodeIfPresent(Int.self, forKey: .runs) ?? d.runs,
                warmup: try c.decodeIfPresent(Int.self, forKey: .warmup) ?? d.warmup,
                decodeTokens: try c.decodeIfPresent(Int.self, forKey: .decodeTokens) ?? d.decodeTokens,
                allRows: try c.decodeIfPresent(Bool.self, forKey: .allRows) ?? d.allRows,
                precision: try c.decodeIfPresent(Precision.self, forKey: .precision))
        }
    }

    public struct Decode: Codable, Sendable {
        public let prompt, tokens, batch: Int
        public let msPerToken, tokensPerSecond: Double
        /// The 2·L·(matrix-vector products) + LM head of one step as raw cblas_sgemv calls (B = 1) or sgemm.
        public let blasMsPerStep: Double
        public let ratioToBlas: Double  // blas time / step time: 1 = the step costs only its weight reads
    }

    public struct Report: Codable, Sendable {
        public let model, architecture, task: String
        public let layers, hidden, heads, vocabulary, parameters, threads: Int
        /// OpenBLAS's kernel set (`openblas_get_corename`; OPENBLAS_CORETYPE overrides its detection).
        public let blasCore: String
        public let batch, seq, runs: Int
        /// false: a BERT classifier's last layer ran for the [CLS] row only (`Bert.callAsFunction`'s pooledOnly).
        public let allRows: Bool
        /// fp32, bf16 or int8; for the last two, oneDNN's implementation of the first dense layer's product of B·T
        /// rows (e.g. "brg:avx512_core_vnni"), oneDNN's ISA and version.
        public let precision: Precision
        public let kernel: String?, onednnISA: String?, onednnVersion: String?
        public let loadSeconds: Double
        public let forwardMs, forwardMinMs, forwardGflop, forwardGflops: Double
        /// The forward's dense-layer GEMMs (same shapes, same weights) as raw cblas_sgemm calls.
        public let sgemmMs, sgemmGflops: Double
        /// forward GFLOP/s (all matrix products, attention included) ÷ raw sgemm GFLOP/s.
        public let ratioToSgemm: Double
        public let decode: Decode?
        public let peakRssMB, rssAfterLoadMB: Double
    }

    /// Loads the model, then times `runs` forwards against the same GEMMs as raw BLAS calls (and, for GPT-2 with
    /// `decodeTokens` > 0, greedy decoding against one step's raw BLAS calls).
    public static func run(_ request: Request) throws(BenchmarkError) -> Report {
        let r = request
        try requirePositive(r.batch, .batch)
        try requirePositive(r.seq, .seq)
        try requirePositive(r.runs, .runs)
        try requireNotNegative(r.warmup, .warmup)
        try requireNotNegative(r.decodeTokens, .decodeTokens)
        let t0 = DispatchTime.now().uptimeNanoseconds
        let m: LoadedModel
        do {
            let loaded = try LoadedModel.load(URL(fileURLWithPath: r.model))
            m = try loaded.withPrecision(r.precision ?? loaded.storedPrecision)
        } catch {
            throw .model(error)
        }
        let loadSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        let rssAfterLoad = peakRSSMegabytes()
        _ = Threads.count
        let w = Workload(m, batch: r.batch, seq: r.seq, allRows: r.allRows)
        guard r.seq <= w.maxPositions else { throw .sequenceTooLong(seq: r.seq, positions: w.maxPositions) }
        for _ in 0..<r.warmup { w.forward() }
        let raw = RawGEMMs(w.gemms)
        raw.run()
        // Forward and raw passes in alternating blocks (both see the same machine load), each forward block after
        // OpenBLAS's worker threads stopped spinning (see `blockedMedianSeconds`).
        let (forward, rawTime, forwardMin) = blockedMedianSeconds(
            warmup: 0, runs: r.runs, blocks: Swift.min(r.runs, 5)
        ) {
            w.forward()
        } _: {
            raw.run()
        }
        var decode: Decode?
        if case .gpt2(let gpt2) = m.network, r.decodeTokens > 0 {
            guard r.seq + r.decodeTokens <= w.maxPositions else {
                throw .decodeTooLong(seq: r.seq, decodeTokens: r.decodeTokens, positions: w.maxPositions)
            }
            decode = benchDecode(gpt2, w, r)
        }
        let forwardFlop = w.gemmFlop + w.attentionFlop
        return Report(
            model: r.model, architecture: m.architecture.rawValue, task: m.task.rawValue, layers: w.layers,
            hidden: w.hidden, heads: w.heads, vocabulary: w.vocabulary, parameters: w.parameters,
            threads: Threads.count, blasCore: String(cString: openblas_get_corename()), batch: r.batch, seq: r.seq,
            runs: r.runs, allRows: !w.pooledOnly, precision: m.precision, kernel: try kernel(m, rows: r.batch * r.seq),
            onednnISA: m.precision == .fp32 ? nil : LowPrecisionSupport.isa,
            onednnVersion: m.precision == .fp32 ? nil : LowPrecisionSupport.version, loadSeconds: loadSeconds,
            forwardMs: forward * 1e3, forwardMinMs: forwardMin * 1e3, forwardGflop: forwardFlop / 1e9,
            forwardGflops: forwardFlop / forward / 1e9, sgemmMs: rawTime * 1e3, sgemmGflops: w.gemmFlop / rawTime / 1e9,
            ratioToSgemm: (forwardFlop / forward) / (w.gemmFlop / rawTime), decode: decode,
            peakRssMB: peakRSSMegabytes(), rssAfterLoadMB: rssAfterLoad)
    }

    /// oneDNN's implementation of the first dense layer's product of `rows` rows, nil for fp32.
    static func kernel(_ m: LoadedModel, rows: Int) throws(BenchmarkError) -> String? {
        let lp: LowPrecisionMatrix?
        switch m.network {
        case .bert(let b): lp = b.layers.first?.fusedQKV?.matrix ?? b.layers.first?.attentionOutput.lowPrecision
        case .gpt2(let g): lp = g.blocks.first?.attention.lowPrecision
        }
        do { return try lp?.kernel(rows: rows) } catch { throw .model(.precision(file: m.url.path, error)) }
    }

    /// Greedy decoding through `GPT2.generate` (the user path: KV cache, argmax); a step is the time between
    /// two consecutive tokens. Median over `runs / 2` (at least 3) generations of the mean step time.
    static func benchDecode(_ gpt2: GPT2, _ w: Workload, _ r: Request) -> Decode {
        let (batch, seq) = (r.batch, r.seq)
        let prompts = (0..<batch).map { b in Array(w.batch.ids[(b * seq)..<((b + 1) * seq)]) }
        let config = GenerationConfig(maxNewTokens: r.decodeTokens + 1)
        func once() -> Double {
            var stamps: [UInt64] = []
            _ = gpt2.generate(prompts: prompts, config: config, padID: 0) { _ in
                stamps.append(DispatchTime.now().uptimeNanoseconds)
            }
            return Double(stamps.last! - stamps.first!) / 1e9 / Double(stamps.count - 1)
        }
        _ = once()
        let steps = RawGEMMs(w.decodeGemms)
        var stepTimes: [Double] = [], rawTimes: [Double] = []
        for _ in 0..<max(3, r.runs / 2) {
            stepTimes.append(once())
            rawTimes.append(seconds { steps.run() })
        }
        let step = median(stepTimes), raw = median(rawTimes)
        return Decode(
            prompt: seq, tokens: r.decodeTokens, batch: batch, msPerToken: step * 1e3 / Double(batch),
            tokensPerSecond: Double(batch) / step, blasMsPerStep: raw * 1e3, ratioToBlas: raw / step)
    }
}

/// One forward's inputs and its matrix products, from the model's config and weights.
struct Workload {
    let network: Network
    let batch: TokenBatch
    /// A BERT classifier run as prediction runs it: the last layer for the [CLS] row only.
    let pooledOnly: Bool
    let layers, hidden, heads, vocabulary, parameters, maxPositions: Int
    /// The dense layers' GEMMs of a B×T forward and of one B×1 decode step (GPT-2).
    var gemms: [RawGEMMs.Product] = [], decodeGemms: [RawGEMMs.Product] = []
    /// 2·m·n·k over `gemms`, and the attention products (2 × 2·B·T²·H, causal or not: computed in full).
    var gemmFlop: Double { gemms.reduce(0) { $0 + 2 * Double($1.m * $1.n * $1.k) } }
    let attentionFlop: Double

    init(_ m: LoadedModel, batch b: Int, seq t: Int, allRows: Bool) {
        network = m.network
        var params = 0
        for (_, p) in m.network.namedParameters { params += p.count }
        parameters = params
        var g = RandomGenerator(seed: 1)
        func dense(_ rows: Int, _ w: Tensor, transposed: Bool) -> RawGEMMs.Product {
            // transposed: y = x·Wᵀ with W [out, in] (nn.Linear); else y = x·W with W [in, out] (Conv1D).
            RawGEMMs.Product(
                m: rows, n: transposed ? w.shape[0] : w.shape[1], k: transposed ? w.shape[1] : w.shape[0],
                transB: transposed, weight: w)
        }
        switch m.network {
        case .bert(let bert):
            let c = bert.config
            (layers, hidden, heads, vocabulary) = (c.numHiddenLayers, c.hiddenSize, c.numAttentionHeads, c.vocabSize)
            maxPositions = c.maxPositionEmbeddings
            pooledOnly = !allRows && bert.pooler != nil && bert.mlmHead == nil && !bert.layers.isEmpty
            for (i, l) in bert.layers.enumerated() {
                let queryRows = pooledOnly && i == bert.layers.count - 1 ? b : b * t  // rows past K and V
                for (lin, rows) in [
                    (l.query, queryRows), (l.key, b * t), (l.value, b * t), (l.attentionOutput, queryRows),
                    (l.intermediate, queryRows), (l.output, queryRows),
                ] {
                    gemms.append(dense(rows, lin.weight, transposed: true))
                }
            }
            if let p = bert.pooler { gemms.append(dense(b, p.weight, transposed: true)) }
            if let cl = bert.classifier { gemms.append(dense(b, cl.weight, transposed: true)) }
            if let h = bert.mlmHead {
                gemms.append(dense(b * t, h.transform.weight, transposed: true))
                gemms.append(dense(b * t, bert.embeddings.wordEmbeddings, transposed: true))
            }
        case .gpt2(let gpt2):
            let c = gpt2.config
            (layers, hidden, heads, vocabulary) = (c.nLayer, c.nEmbd, c.nHead, c.vocabSize)
            maxPositions = c.nPositions
            pooledOnly = false
            for rows in [b * t, b] {
                var list: [RawGEMMs.Product] = []
                for blk in gpt2.blocks {
                    for conv in [blk.attention, blk.attentionProjection, blk.fc, blk.projection] {
                        list.append(dense(rows, conv.weight, transposed: false))
                    }
                }
                if m.task == .causalLM { list.append(dense(rows, gpt2.lmHead ?? gpt2.wte, transposed: true)) }
                if rows == b * t { gemms = list } else { decodeGemms = list }
            }
        }
        // Scores and context: 2 × 2·B·Tq·T·H per layer, Tq = 1 in a [CLS]-only last layer.
        attentionFlop = 4 * Double(b * t * hidden) * Double(t * layers - (pooledOnly ? t - 1 : 0))
        let v = UInt64(vocabulary)
        let ids = (0..<(b * t)).map { _ in Int(g.next() % v) }
        batch = TokenBatch(ids: ids, batchSize: b, length: t)
    }

    /// One forward as a user runs it: BERT with its head; GPT-2 with logits at every position.
    func forward() {
        switch network {
        case .bert(let bert): _ = bert(batch, pooledOnly: pooledOnly)
        case .gpt2(let gpt2):
            var cache: KVCache? = nil
            _ = gpt2(batch, cache: &cache)
        }
    }
}

/// A list of matrix products run directly through OpenBLAS on the model's own weight buffers.
final class RawGEMMs {
    struct Product {
        let m, n, k: Int
        let transB: Bool
        let weight: Tensor  // B operand: [n, k] when transB, else [k, n]
    }
    let products: [Product]
    var a: [Float], c: [Float]

    init(_ products: [Product]) {
        self.products = products
        var g = RandomGenerator(seed: 2)
        a = (0..<(products.map { $0.m * $0.k }.max() ?? 0)).map { _ in g.nextUniform() - 0.5 }
        c = [Float](repeating: 0, count: products.map { $0.m * $0.n }.max() ?? 0)
    }

    /// cblas_sgemv for one row (what a matrix–vector product costs), cblas_sgemm otherwise.
    func run() {
        a.withUnsafeBufferPointer { pa in
            c.withUnsafeMutableBufferPointer { pc in
                for p in products {
                    p.weight.withUnsafeBufferPointer { pw in
                        let ldb = Int32(p.transB ? p.k : p.n)
                        if p.m == 1 {
                            cblas_sgemv(
                                CblasRowMajor, p.transB ? CblasNoTrans : CblasTrans, Int32(p.transB ? p.n : p.k),
                                Int32(p.transB ? p.k : p.n), 1, pw.baseAddress, ldb, pa.baseAddress, 1, 0,
                                pc.baseAddress, 1)
                        } else {
                            cblas_sgemm(
                                CblasRowMajor, CblasNoTrans, p.transB ? CblasTrans : CblasNoTrans, Int32(p.m),
                                Int32(p.n), Int32(p.k), 1, pa.baseAddress, Int32(p.k), pw.baseAddress, ldb, 0,
                                pc.baseAddress, Int32(p.n))
                        }
                    }
                }
            }
        }
    }
}
