// `loupe bench model` (also `loupe bench --model`): forward ms and GFLOP/s against raw sgemm, GPT-2 decode, peak RSS.
//
// Every ratio is measured in the same run: forward passes and raw BLAS passes over the same GEMMs (the model's
// own weight buffers, the shapes and transposes the model uses) alternate, and medians are reported, because
// the machine is shared. Benchmarks/bench_models.py runs the same workloads in PyTorch and ONNX Runtime.
//
// Dimension legend: B batch, T tokens, H hidden, I intermediate (feed-forward), V vocabulary, L layers.
import ArgumentParser
import CBLAS
import Foundation
import Tensor
import Transformer

struct BenchModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Benchmark a BERT or GPT-2 forward (and GPT-2 decoding) against raw BLAS in the same run.")

    @OptionGroup var model: ModelOption
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
                + "runs, the last layer's [CLS] row only past its keys and values, since the pooler reads only that row)."))
    var allRows = false
    @Option(help: "Output format: text or json.") var format: OutputFormat = .text

    func validate() throws {
        guard batch > 0, seq > 0 else { throw ValidationError("--batch and --seq must be positive") }
        guard runs > 0, warmup >= 0, decodeTokens >= 0 else {
            throw ValidationError("--runs must be positive, --warmup and --decode-tokens not negative")
        }
    }

    struct Decode: Codable {
        let prompt, tokens, batch: Int
        let msPerToken, tokensPerSecond: Double
        /// The 2·L·(matrix-vector products) + LM head of one step as raw cblas_sgemv calls (B = 1) or sgemm.
        let blasMsPerStep: Double
        let ratioToBlas: Double  // blas time / step time: 1 = the step costs only its weight reads
    }

    struct Report: Codable {
        let model, architecture, task: String
        let layers, hidden, heads, vocabulary, parameters, threads: Int
        /// OpenBLAS's kernel set (`openblas_get_corename`; OPENBLAS_CORETYPE overrides its detection).
        let blasCore: String
        let batch, seq, runs: Int
        /// false: a BERT classifier's last layer ran for the [CLS] row only (`Bert.callAsFunction`'s pooledOnly).
        let allRows: Bool
        let loadSeconds: Double
        let forwardMs, forwardMinMs, forwardGflop, forwardGflops: Double
        /// The forward's dense-layer GEMMs (same shapes, same weights) as raw cblas_sgemm calls.
        let sgemmMs, sgemmGflops: Double
        /// forward GFLOP/s (all matrix products, attention included) ÷ raw sgemm GFLOP/s.
        let ratioToSgemm: Double
        let decode: Decode?
        let peakRssMB, rssAfterLoadMB: Double
    }

    func run() throws {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let m = try model.load()
        let loadSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        let rssAfterLoad = peakRSSMegabytes()
        _ = Threads.count
        let w = Workload(m, batch: batch, seq: seq, allRows: allRows)
        guard seq <= w.maxPositions else {
            throw CLIError("--seq \(seq) is longer than the model's \(w.maxPositions) positions")
        }
        for _ in 0..<warmup { w.forward() }
        let raw = RawGEMMs(w.gemms)
        raw.run()
        // Forward and raw passes in alternating blocks (both see the same machine load), each forward block after
        // OpenBLAS's worker threads stopped spinning (see `blockedMedianSeconds`).
        let (forward, rawTime, forwardMin) = blockedMedianSeconds(warmup: 0, runs: runs, blocks: Swift.min(runs, 5)) {
            w.forward()
        } _: {
            raw.run()
        }
        var decode: Decode?
        if case .gpt2(let gpt2) = m.network, decodeTokens > 0 {
            guard seq + decodeTokens <= w.maxPositions else {
                throw CLIError("--seq + --decode-tokens (\(seq + decodeTokens)) exceed \(w.maxPositions) positions")
            }
            decode = benchDecode(gpt2, w)
        }
        let forwardFlop = w.gemmFlop + w.attentionFlop
        let report = Report(
            model: model.model, architecture: m.architecture.rawValue, task: m.task.rawValue, layers: w.layers,
            hidden: w.hidden, heads: w.heads, vocabulary: w.vocabulary, parameters: w.parameters,
            threads: Threads.count, blasCore: String(cString: openblas_get_corename()), batch: batch, seq: seq,
            runs: runs, allRows: !w.pooledOnly, loadSeconds: loadSeconds,
            forwardMs: forward * 1e3, forwardMinMs: forwardMin * 1e3, forwardGflop: forwardFlop / 1e9,
            forwardGflops: forwardFlop / forward / 1e9, sgemmMs: rawTime * 1e3, sgemmGflops: w.gemmFlop / rawTime / 1e9,
            ratioToSgemm: (forwardFlop / forward) / (w.gemmFlop / rawTime), decode: decode,
            peakRssMB: peakRSSMegabytes(), rssAfterLoadMB: rssAfterLoad)
        switch format {
        case .json:
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(report), as: UTF8.self))
        case .text: printText(report)
        }
    }

    /// Greedy decoding through `GPT2.generate` (the user path: KV cache, argmax); a step is the time between
    /// two consecutive tokens. Median over `runs` generations of the mean step time.
    func benchDecode(_ gpt2: GPT2, _ w: Workload) -> Decode {
        let prompts = (0..<batch).map { b in Array(w.batch.ids[(b * seq)..<((b + 1) * seq)]) }
        let config = GenerationConfig(maxNewTokens: decodeTokens + 1)
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
        for _ in 0..<max(3, runs / 2) {
            stepTimes.append(once())
            rawTimes.append(seconds { steps.run() })
        }
        let step = median(stepTimes), raw = median(rawTimes)
        return Decode(
            prompt: seq, tokens: decodeTokens, batch: batch, msPerToken: step * 1e3 / Double(batch),
            tokensPerSecond: Double(batch) / step, blasMsPerStep: raw * 1e3, ratioToBlas: raw / step)
    }

    func printText(_ r: Report) {
        print(
            "Loupe model benchmark: \(r.architecture) \(r.task), \(r.layers) layers, H \(r.hidden), \(r.heads) heads, "
                + "V \(r.vocabulary), \(fmt(Double(r.parameters) / 1e6)) M parameters; \(r.threads) threads, OpenBLAS "
                + "\(r.blasCore) kernels; "
                + "load \(fmt(r.loadSeconds, 2)) s")
        print(
            "forward \(r.batch)×\(r.seq)\(r.allRows ? "" : " (last layer: [CLS] row only)"): \(fmt(r.forwardMs, 2)) ms (median of \(r.runs), "
                + "min \(fmt(r.forwardMinMs, 2))), "
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

/// One forward's inputs and its matrix products, from the model's config and weights.
struct Workload {
    let network: Network
    let batch: TokenBatch
    /// A BERT classifier run as `loupe predict` runs it: the last layer for the [CLS] row only.
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

/// The process's peak resident set (Linux `VmHWM`, else getrusage's ru_maxrss) in MB.
func peakRSSMegabytes() -> Double {
    if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
        let kb = Double(line.split(separator: " ").dropFirst().first ?? "")
    {
        return kb / 1024
    }
    var usage = rusage()
    #if os(Linux)
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)  // kilobytes
        return Double(usage.ru_maxrss) / 1024
    #else
        getrusage(RUSAGE_SELF, &usage)  // bytes on Darwin
        return Double(usage.ru_maxrss) / 1_048_576
    #endif
}
