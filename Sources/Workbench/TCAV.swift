// TCAV (Kim et al. 2018, as LIT's `TCAV`): does a concept, given by examples, push a BERT classifier towards a class?
//
// Activations are the [CLS] row of hidden state `layer` (0 = embedding output … L = last layer, the default).
// A CAV is the weight vector of a logistic regression (full-batch gradient descent in Double, features
// centred, L2 1e-3, 500 steps) separating concept activations (1) from random ones (0), trained on a stratified
// split and scored on the held-out `test_size` (LIT: sklearn's SGDClassifier, same split). The directional
// derivative of an input is ∇_{h_l[CLS]} (target-class logit) · CAV: h_l is computed without a tape, then
// watched, and layers l+1 … L, the pooler and the classifier are re-run on the tape by `headLogits` (`Bert`'s
// own blocks). The TCAV score of a CAV is the fraction of positive derivatives over the
// measured inputs: those the model predicts as the target class (LIT; `predicted_only` false: all of them).
//
// Runs (LIT's NUM_SPLITS is 15): each concept run draws n = min(|concept|, |random|) examples of each set (n − 1
// when equal, so runs differ); each null run splits the random set into two disjoint random halves of
// min(n, |random|/2) and trains a random-vs-random CAV. p is Welch's two-sided t-test between the concept and
// null scores (LIT: Student's `ttest_ind`); `significant` is p < alpha (0.05, no Bonferroni: one concept is
// tested). The reported score, accuracy and CAV are those of the most accurate concept run (LIT).
import Foundation
import Interpret
import Tensor
import Transformer

public struct TCAVRequest: Codable, Sendable, SpecifiedOptions {
    public var concept: [Example]
    public var random: [Example]
    /// A class name or index ("1", or 1 in JSON).
    public var targetClass: String
    /// Hidden state index 0 … L (default L, the last layer).
    public var layer: Int?
    public var runs = 10
    public var seed: UInt64 = 0
    public var testSize = 0.33
    public var alpha = 0.05
    public var predictedOnly = true

    public init(concept: [Example], random: [Example], targetClass: String) {
        self.concept = concept
        self.random = random
        self.targetClass = targetClass
    }

    public static let spec = ConfigSpec([
        ConfigField(
            "layer", .int, defaultNote: "the last layer", minimum: 0,
            help: "Hidden state whose [CLS] row is probed: 0 = embeddings … L = last layer."),
        ConfigField(
            "runs", .int, default: .int(10), minimum: 2, maximum: 100,
            help: "Concept CAVs trained on random subsets, and as many random-vs-random CAVs for the t-test."),
        ConfigField("seed", .int, default: .int(0), minimum: 0, help: "Seed of the subsets and splits."),
        ConfigField(
            "test_size", .double, default: .double(0.33), minimum: 0, exclusiveMinimum: true, maximum: 0.9,
            help: "Held-out fraction of each CAV's examples, for its accuracy."),
        ConfigField(
            "alpha", .double, default: .double(0.05), minimum: 0, exclusiveMinimum: true, maximum: 1,
            help: "Significance level of the t-test."),
        ConfigField(
            "predicted_only", .bool, default: .bool(true),
            help: "Measure only inputs predicted as the target class (LIT)."),
    ])

    public var optionValues: ConfigValues {
        var v: ConfigValues = [
            "runs": .int(runs), "seed": .int(Int(truncatingIfNeeded: seed) & Int.max), "test_size": .double(testSize),
            "alpha": .double(alpha), "predicted_only": .bool(predictedOnly),
        ]
        if let layer { v["layer"] = .int(layer) }
        return v
    }

    enum CodingKeys: String, CodingKey {
        case concept, random, targetClass = "target_class", layer, runs, seed, testSize = "test_size", alpha
        case predictedOnly = "predicted_only"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        concept = try c.decode([Example].self, forKey: .concept)
        random = try c.decode([Example].self, forKey: .random)
        if let i = try? c.decode(Int.self, forKey: .targetClass) {
            targetClass = String(i)
        } else {
            targetClass = try c.decode(String.self, forKey: .targetClass)
        }
        layer = try c.decodeIfPresent(Int.self, forKey: .layer)
        runs = try c.decodeIfPresent(Int.self, forKey: .runs) ?? 10
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 0
        testSize = try c.decodeIfPresent(Double.self, forKey: .testSize) ?? 0.33
        alpha = try c.decodeIfPresent(Double.self, forKey: .alpha) ?? 0.05
        predictedOnly = try c.decodeIfPresent(Bool.self, forKey: .predictedOnly) ?? true
    }
}

public struct TCAVResult: Codable, Sendable, Equatable {
    public var targetClass: String
    public var layer: Int
    /// The TCAV score of the most accurate concept CAV, and every concept run's.
    public var score: Double
    public var scores: [Double]
    public var meanScore: Double
    /// The random-vs-random runs' scores (the null distribution).
    public var randomScores: [Double]
    public var randomMean: Double
    public var pValue: Double
    public var significant: Bool
    /// Held-out accuracy of the reported CAV, and of every concept run's.
    public var cavAccuracy: Double
    public var accuracies: [Double]
    public var runs: Int
    /// The reported CAV (unit length) and the measured inputs' ids with their directional derivatives.
    public var cav: [Double]
    public var measured: [String]
    public var derivatives: [Double]

    enum CodingKeys: String, CodingKey {
        case targetClass = "target_class", layer, score, scores, meanScore = "mean_score"
        case randomScores = "random_scores", randomMean = "random_mean", pValue = "p_value", significant
        case cavAccuracy = "cav_accuracy", accuracies, runs, cav, measured, derivatives
    }
}

/// An input's [CLS] activation at a layer, the gradient of a class logit there, and the logits recomputed from it.
public struct LayerGradient: Codable, Sendable {
    public var id: String
    public var activation: [Double]
    public var gradient: [Double]
    public var logits: [Double]
}

extension Workbench {
    public static func tcav(
        _ request: TCAVRequest, model: LoadedModel, examples: [Example]
    ) throws(WorkbenchError) -> TCAVResult {
        try request.validateOptions()
        let (bert, names) = try classifier(model, operation: "tcav")
        guard let target = classIndex(request.targetClass, names) else {
            throw .interpret(.unknownTarget(request.targetClass, known: names))
        }
        let layer = try checkedLayer(request.layer, bert)
        for (field, set, least) in [("concept", request.concept, 3), ("random", request.random, 6)]
        where set.count < least {
            throw .invalidOption(
                OptionError(field: field, value: String(set.count), problem: .invalid("at least \(least) examples")))
        }
        let conceptActs = try clsActivations(request.concept, layer: layer, model: model)
        let randomActs = try clsActivations(request.random, layer: layer, model: model)
        var measured = try layerGradients(examples, layer: layer, targetClass: target, model: model)
        if request.predictedOnly {
            measured = measured.filter { g in g.logits.indices.max { g.logits[$0] < g.logits[$1] } == target }
        }
        guard !measured.isEmpty else {
            throw .interpret(.badInput("tcav: no input is predicted as \(names[target]) (set predicted_only to false)"))
        }
        var g = SplitMix64(seed: request.seed)
        let n = min(conceptActs.count, randomActs.count) - (conceptActs.count == randomActs.count ? 1 : 0)
        func run(_ pos: [[Double]], _ neg: [[Double]]) -> (cav: [Double], accuracy: Double, score: Double) {
            let (cav, acc) = trainCAV(positive: pos, negative: neg, testSize: request.testSize, &g)
            let d = measured.map { dot($0.gradient, cav) }
            return (cav, acc, Double(d.filter { $0 > 0 }.count) / Double(d.count))
        }
        var concept: [(cav: [Double], accuracy: Double, score: Double)] = []
        var null: [Double] = []
        for _ in 0..<request.runs {
            let c = sample(conceptActs.count, n, &g).map { conceptActs[$0] }
            let r = sample(randomActs.count, n, &g).map { randomActs[$0] }
            concept.append(run(c, r))
        }
        let m = min(n, randomActs.count / 2)
        for _ in 0..<request.runs {
            let order = sample(randomActs.count, randomActs.count, &g)
            null.append(run(order[0..<m].map { randomActs[$0] }, order[m..<(2 * m)].map { randomActs[$0] }).score)
        }
        // The first of the most accurate runs (numpy's argmax).
        let best = concept.indices.max { a, b in
            concept[a].accuracy < concept[b].accuracy || (concept[a].accuracy == concept[b].accuracy && a > b)
        }!
        let scores = concept.map(\.score)
        let p = welchPValue(scores, null)
        return TCAVResult(
            targetClass: names[target], layer: layer, score: concept[best].score, scores: scores,
            meanScore: mean(scores), randomScores: null, randomMean: mean(null), pValue: p,
            significant: p < request.alpha, cavAccuracy: concept[best].accuracy, accuracies: concept.map(\.accuracy),
            runs: request.runs, cav: concept[best].cav, measured: measured.map(\.id),
            derivatives: measured.map { dot($0.gradient, concept[best].cav) })
    }

    static func checkedLayer(_ layer: Int?, _ bert: Bert) throws(WorkbenchError) -> Int {
        let l = layer ?? bert.layers.count
        guard (0...bert.layers.count).contains(l) else {
            throw .invalidOption(
                OptionError(field: "layer", value: String(l), problem: .invalid("at most \(bert.layers.count)")))
        }
        return l
    }

    /// The [CLS] row of hidden state `layer` for each example (16 per forward pass).
    static func clsActivations(
        _ examples: [Example], layer: Int, model: LoadedModel
    ) throws(WorkbenchError) -> [[Double]] {
        let (bert, _) = try classifier(model, operation: "tcav")
        var out: [[Double]] = []
        for start in stride(from: 0, to: examples.count, by: 16) {
            let chunk = Array(examples[start..<min(start + 16, examples.count)])
            let batch = try encode(model, chunk, truncate: true).batch
            let hs = bert(batch, options: ForwardOptions(outputHiddenStates: true)).hiddenStates[layer]  // [B, T, H]
            out += rows(cls(hs))
        }
        return out
    }

    /// Each example's [CLS] activation at hidden state `layer` (default L), the gradient there of class
    /// `targetClass`'s logit (autodiff through the layers above, the pooler and the classifier) and the logits.
    public static func layerGradients(
        _ examples: [Example], layer: Int?, targetClass: Int, model: LoadedModel
    ) throws(WorkbenchError) -> [LayerGradient] {
        let model = model.float32  // gradients: float32 throughout
        let (bert, names) = try classifier(model, operation: "tcav")
        let l = try checkedLayer(layer, bert)
        guard names.indices.contains(targetClass) else {
            throw .interpret(.unknownTarget(String(targetClass), known: names))
        }
        var out: [LayerGradient] = []
        for start in stride(from: 0, to: examples.count, by: 16) {
            let chunk = Array(examples[start..<min(start + 16, examples.count)])
            let batch = try encode(model, chunk, truncate: true).batch
            let hs = bert(batch, options: ForwardOptions(outputHiddenStates: true)).hiddenStates[l].detached
            let tape = GradientTape()
            let (x, logits, total) = tape.record { () -> (Tensor, Tensor, Tensor) in
                let x = tape.watch(hs)
                let logits = headLogits(bert, from: l, x, mask: batch.keyMask)  // [B, C]
                return (x, logits, logits.slice(axis: 1, targetClass..<(targetClass + 1)).sum())
            }
            let grad = tape.gradients(of: total, wrt: [x])[0]  // [B, T, H]
            let (a, gr, lg) = (rows(cls(hs)), rows(cls(grad)), rows(logits))
            for (b, e) in chunk.enumerated() {
                out.append(LayerGradient(id: e.id, activation: a[b], gradient: gr[b], logits: lg[b]))
            }
        }
        return out
    }

    /// Class logits [B, C] from hidden state `layer` [B, T, H]: encoder blocks layer+1 … L, pooler, classifier.
    static func headLogits(_ bert: Bert, from layer: Int, _ hidden: Tensor, mask: AttentionMask?) -> Tensor {
        var x = hidden  // [B, T, H]
        for block in bert.layers[layer...] { x = block(x, mask: mask).0 }
        return bert.classifier!(tanh(bert.pooler!(cls(x))))  // [B, C]
    }

    /// Row 0 of [B, T, H]: [B, H].
    static func cls(_ x: Tensor) -> Tensor { x.slice(axis: 1, 0..<1).squeezed(axis: 1) }

    static func rows(_ x: Tensor) -> [[Double]] {
        let (b, h) = (x.shape[0], x.shape[1])
        let s = x.scalars
        return (0..<b).map { r in s[(r * h)..<((r + 1) * h)].map(Double.init) }
    }

    static func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
    static func mean(_ a: [Double]) -> Double { a.isEmpty ? 0 : a.reduce(0, +) / Double(a.count) }

    /// k distinct indices of 0..<n in random order (all of them, shuffled, when k ≥ n).
    static func sample(_ n: Int, _ k: Int, _ g: inout SplitMix64) -> [Int] {
        var a = Array(0..<n)
        for i in 0..<min(k, n) { a.swapAt(i, i + Int(g.next() % UInt64(n - i))) }
        return Array(a.prefix(k))
    }

    /// A logistic-regression CAV (unit length) and its held-out accuracy on a stratified split.
    static func trainCAV(
        positive: [[Double]], negative: [[Double]], testSize: Double, _ g: inout SplitMix64
    ) -> (cav: [Double], accuracy: Double) {
        var train: [([Double], Double)] = [], test: [([Double], Double)] = []
        for (set, y) in [(positive, 1.0), (negative, 0.0)] {
            let order = sample(set.count, set.count, &g)
            let nTest = max(1, min(set.count - 1, Int((testSize * Double(set.count)).rounded(.up))))
            for (j, i) in order.enumerated() {
                if j < nTest { test.append((set[i], y)) } else { train.append((set[i], y)) }
            }
        }
        let h = train[0].0.count
        var mu = [Double](repeating: 0, count: h)
        for (x, _) in train { for d in 0..<h { mu[d] += x[d] / Double(train.count) } }
        let xs = train.map { ($0.0.enumerated().map { $1 - mu[$0] }, $0.1) }
        let lambda = 1e-3
        let meanSq = xs.reduce(0) { $0 + dot($1.0, $1.0) } / Double(xs.count)
        let lr = 1 / (0.25 * (meanSq + 1) + lambda)
        var w = [Double](repeating: 0, count: h), b = 0.0
        for _ in 0..<500 {
            var gw = w.map { lambda * $0 }, gb = 0.0
            for (x, y) in xs {
                let p = 1 / (1 + exp(-(dot(w, x) + b)))
                let r = (p - y) / Double(xs.count)
                for d in 0..<h { gw[d] += r * x[d] }
                gb += r
            }
            for d in 0..<h { w[d] -= lr * gw[d] }
            b -= lr * gb
        }
        let correct = test.filter { x, y in
            (dot(w, x) - dot(w, mu) + b > 0 ? 1.0 : 0.0) == y
        }.count
        let norm = dot(w, w).squareRoot()
        return (norm > 0 ? w.map { $0 / norm } : w, Double(correct) / Double(test.count))
    }

    /// Welch's two-sided t-test p-value; 1 (equal means) or 0 when both samples are constant.
    public static func welchPValue(_ a: [Double], _ b: [Double]) -> Double {
        let (na, nb) = (Double(a.count), Double(b.count))
        let (ma, mb) = (mean(a), mean(b))
        let va = a.reduce(0) { $0 + ($1 - ma) * ($1 - ma) } / (na - 1)
        let vb = b.reduce(0) { $0 + ($1 - mb) * ($1 - mb) } / (nb - 1)
        let (sa, sb) = (va / na, vb / nb)
        guard sa + sb > 0 else { return ma == mb ? 1 : 0 }
        let t = (ma - mb) / (sa + sb).squareRoot()
        let df = (sa + sb) * (sa + sb) / (sa * sa / (na - 1) + sb * sb / (nb - 1))
        return regularizedBeta(df / 2, 0.5, df / (df + t * t))
    }

    /// I_x(a, b), by the continued fraction (Lentz's method).
    static func regularizedBeta(_ a: Double, _ b: Double, _ x: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let logFront: Double = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log(1 - x)
        let front = exp(logFront)
        func fraction(_ a: Double, _ b: Double, _ x: Double) -> Double {
            let tiny = 1e-300
            var c = 1.0, d = 1 - (a + b) * x / (a + 1)
            if abs(d) < tiny { d = tiny }
            d = 1 / d
            var f = d
            for m in 1...500 {
                let m = Double(m)
                let even: Double = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
                let odd: Double = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
                for num in [even, odd] {
                    d = 1 + num * d
                    if abs(d) < tiny { d = tiny }
                    c = 1 + num / c
                    if abs(c) < tiny { c = tiny }
                    d = 1 / d
                    f *= d * c
                }
                if abs(d * c - 1) < 1e-15 { break }
            }
            return f
        }
        return x < (a + 1) / (a + b + 2) ? front * fraction(a, b, x) / a : 1 - front * fraction(b, a, 1 - x) / b
    }
}
