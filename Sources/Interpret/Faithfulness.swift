// ERASER faithfulness (DeYoung et al. 2020, §4): comprehensiveness and sufficiency as AOPC over top-k% bins.
import Foundation
import Tensor
import Transformer

/// One method's faithfulness over a data set.
public struct FaithfulnessRow: Codable, Sendable {
    public var method: String
    /// AOPC comprehensiveness: mean over bins of p(ŷ|x) − p(ŷ|x without its top-k% tokens). Higher = more faithful.
    public var comprehensiveness: Double
    /// AOPC sufficiency: mean over bins of p(ŷ|x) − p(ŷ|only its top-k% tokens). Lower = more faithful.
    public var sufficiency: Double
    public var comprehensivenessByBin: [Double]
    public var sufficiencyByBin: [Double]
    /// Integrated gradients: mean |δ| and mean |δ| / |F(x) − F(x′)| over the examples.
    public var meanAbsDelta: Double?
    public var meanRelativeDelta: Double?
    /// Examples averaged over (the report states it once, so it is not encoded per row).
    public var examples: Int = 0
    /// Time spent explaining (the erasure forward passes excluded).
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case method, comprehensiveness, sufficiency, seconds
        case comprehensivenessByBin = "comprehensiveness_by_bin", sufficiencyByBin = "sufficiency_by_bin"
        case meanAbsDelta = "mean_abs_delta", meanRelativeDelta = "mean_relative_delta"
    }
}

public enum Faithfulness {
    /// ERASER's bins: 1, 5, 10, 20 and 50 % of the tokens.
    public static let bins: [Double] = [0.01, 0.05, 0.10, 0.20, 0.50]
    /// The name of the random-attribution row.
    public static let randomName = "random"

    /// Comprehensiveness and sufficiency per bin for one input: its non-fixed tokens ranked by score
    /// (highest first, ties by position), the top ⌈k·n⌉ removed (comprehensiveness) or kept alone
    /// (sufficiency), [CLS]/[SEP] always kept; tokens are deleted, not masked, as ERASER does.
    /// `model` must score the probability of the predicted class.
    public static func erase(
        _ model: some SalienceModel, scores: [Double], bins: [Double] = bins
    ) throws(InterpretError) -> (comprehensiveness: [Double], sufficiency: [Double]) {
        let t = model.length
        let candidates = (0..<t).filter { !model.input.fixed.contains($0) }
        let ranked = candidates.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
        let n = ranked.count
        var rows: [[Bool]] = [[Bool](repeating: true, count: t)]
        for k in bins {
            let top = Set(ranked.prefix(n == 0 ? 0 : max(1, Int((k * Double(n)).rounded(.up)))))
            rows.append((0..<t).map { !top.contains($0) })  // top-k removed
            rows.append((0..<t).map { model.input.fixed.contains($0) || top.contains($0) })  // only top-k
        }
        let p = try model.perturbedScores(rows, by: .remove)
        var comp: [Double] = [], suff: [Double] = []
        for b in bins.indices {
            comp.append(p[0] - p[1 + 2 * b])
            suff.append(p[0] - p[2 + 2 * b])
        }
        return (comp, suff)
    }

    /// Runs each method on each text (explaining the predicted class, with `score`) and a random attribution,
    /// and averages comprehensiveness and sufficiency. `progress` is called after each text.
    public static func evaluate(
        model: LoadedModel, texts: [String], methods: [ExplainOptions], score: ScoreKind = .prob, seed: UInt64 = 0,
        progress: (Int) -> Void = { _ in }
    ) throws(InterpretError) -> [FaithfulnessRow] {
        var configured: [(String, any SalienceMethod)] = []
        for o in methods { configured.append((o.method.rawValue, try o.makeMethod())) }
        var probe = ExplainOptions(method: methods.first?.method ?? .gradNorm)
        probe.score = .prob
        let names = configured.map(\.0) + [randomName]
        var comp = [[Double]](repeating: [Double](repeating: 0, count: bins.count), count: names.count)
        var suff = comp
        var deltas = [[Double]](repeating: [], count: names.count)
        var relative = deltas
        var seconds = [Double](repeating: 0, count: names.count)
        var generator = RandomGenerator(seed: seed)
        var count = 0
        for (i, text) in texts.enumerated() {
            let measure = try salienceModel(model, text: text, options: probe)
            var explainOptions = probe
            explainOptions.score = score
            let explained = score == .prob ? measure : try salienceModel(model, text: text, options: explainOptions)
            for (m, (_, method)) in configured.enumerated() {
                let start = Date()
                let s = try method.explain(explained)
                seconds[m] += Date().timeIntervalSince(start)
                if let d = s.delta {
                    deltas[m].append(abs(d))
                    if let fx = s.inputScore, let fb = s.baselineScore, fx != fb {
                        relative[m].append(abs(d) / abs(fx - fb))
                    }
                }
                let (c, u) = try erase(measure, scores: s.scores)
                for b in bins.indices {
                    comp[m][b] += c[b]
                    suff[m][b] += u[b]
                }
            }
            let r = names.count - 1
            let random = (0..<measure.length).map { _ in Double(generator.nextUniform()) }
            let (c, u) = try erase(measure, scores: random)
            for b in bins.indices {
                comp[r][b] += c[b]
                suff[r][b] += u[b]
            }
            count += 1
            progress(i + 1)
        }
        let n = Double(max(count, 1))
        return names.indices.map { m in
            let cb = comp[m].map { $0 / n }, sb = suff[m].map { $0 / n }
            return FaithfulnessRow(
                method: names[m], comprehensiveness: cb.reduce(0, +) / Double(bins.count),
                sufficiency: sb.reduce(0, +) / Double(bins.count), comprehensivenessByBin: cb, sufficiencyByBin: sb,
                meanAbsDelta: deltas[m].isEmpty ? nil : deltas[m].reduce(0, +) / Double(deltas[m].count),
                meanRelativeDelta: relative[m].isEmpty ? nil : relative[m].reduce(0, +) / Double(relative[m].count),
                examples: count, seconds: seconds[m])
        }
    }
}
