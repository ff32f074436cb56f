// The method registry and the one-call entry point: options → method → model adapter → Salience.
import Foundation
import Tensor
import Tokenizers
import Transformer

/// Every option of `loupe explain`, with LIT/Captum defaults.
public struct ExplainOptions: Sendable {
    public var method: String
    /// IG quadrature points; nil = 32, or with `tolerance` the first rule's size, 4 (then refined).
    public var steps: Int?
    public var rule = QuadratureRule.gaussLegendre
    public var baseline = Baseline.zeros
    public var samples = 256
    public var seed: UInt64 = 0
    public var target = TargetSpec.predicted
    public var score = ScoreKind.prob
    public var layer: Int?
    public var tolerance: Double?
    public var perturbation = Perturbation.mask
    public var mergeWords = false
    public var iterations = 1000
    public var batchSize: Int?
    /// The information method's r (see `InformationSalience.regularization`).
    public var regularization: Tensor?

    public init(method: String) { self.method = method }
}

/// How word pieces' scores combine into a word's (`--merge-words`).
public enum WordMerge: Sendable {
    case sum, l2, mean
}

public enum Methods {
    /// The `--method` names, in the order of the documentation.
    public static let names = [
        GradientNorm.name, GradientTimesInput.name, IntegratedGradients.name, LIME.name, KernelSHAP.name,
        Occlusion.name, AttentionSalience.name, InformationSalience.name,
    ]

    /// The method `options.method` names, configured; a one-line error for an unknown name or a bad value.
    public static func make(_ o: ExplainOptions) throws(InterpretError) -> any SalienceMethod {
        switch o.method {
        case GradientNorm.name: return GradientNorm()
        case GradientTimesInput.name: return GradientTimesInput()
        case IntegratedGradients.name:
            let steps = o.steps ?? (o.tolerance == nil ? 32 : IntegratedGradients.toleranceStart)
            let ig = IntegratedGradients(
                steps: steps, rule: o.rule, baseline: o.baseline, tolerance: o.tolerance, batchSize: o.batchSize)
            try ig.validate()
            return ig
        case LIME.name:
            guard o.samples >= 1 else { throw .invalidOption("--samples must be at least 1, got \(o.samples)") }
            return LIME(samples: o.samples, seed: o.seed, perturbation: o.perturbation, mergeWords: o.mergeWords)
        case KernelSHAP.name:
            guard o.samples >= 1 else { throw .invalidOption("--samples must be at least 1, got \(o.samples)") }
            return KernelSHAP(samples: o.samples, seed: o.seed, perturbation: o.perturbation, mergeWords: o.mergeWords)
        case Occlusion.name: return Occlusion(perturbation: o.perturbation, mergeWords: o.mergeWords)
        case AttentionSalience.name: return AttentionSalience(layer: o.layer)
        case InformationSalience.name:
            guard o.iterations >= 1 else { throw .invalidOption("--iterations must be at least 1, got \(o.iterations)") }
            return InformationSalience(
                layer: o.layer, iterations: o.iterations, regularization: o.regularization, seed: o.seed)
        default: throw .unknownMethod(o.method, known: names)
        }
    }

    /// How `--merge-words` combines a method's token scores.
    public static func wordMerge(_ method: String) -> WordMerge {
        switch method {
        case GradientNorm.name: return .l2
        case InformationSalience.name: return .mean
        default: return .sum
        }
    }
}

/// The adapter for a loaded checkpoint and one text (BERT classifiers and masked LMs).
public func salienceModel(
    _ model: LoadedModel, text: String, options: ExplainOptions
) throws(InterpretError) -> BertSalienceModel {
    guard case .bert = model.network else {
        throw .noPrediction(
            "\(model.url.path): a GPT-2 model is explained token by token: give --prompt (and --max-tokens or --target)")
    }
    let encoding: Encoding
    do { encoding = try model.encode([text], truncate: true).encodings[0] } catch { throw .badInput(error.description) }
    // The gradient methods reuse the prediction's forward pass.
    let record = options.method == GradientNorm.name || options.method == GradientTimesInput.name
    return try BertSalienceModel(
        model: model, text: text, encoding: encoding, target: options.target, score: options.score,
        recordInput: record)
}

/// Explains `text` with the options' method: the whole pipeline behind `loupe explain`.
public func explain(_ model: LoadedModel, text: String, options: ExplainOptions) throws(InterpretError) -> Salience {
    let method = try Methods.make(options)
    let start = Date()
    let adapter = try salienceModel(model, text: text, options: options)
    var out = try method.explain(adapter)
    if options.mergeWords, let words = adapter.input.words {
        out = out.mergingWords(words, by: Methods.wordMerge(options.method))
    }
    out.seconds = Date().timeIntervalSince(start)
    return out
}

extension Salience {
    /// One entry per word instead of per word piece (special tokens stay as they are): scores combine
    /// by `merge`, the token becomes the word's text, the span covers its pieces. Vectors are dropped.
    public func mergingWords(_ words: [Range<Int>], by merge: WordMerge) -> Salience {
        var out = self
        out.tokens = []
        out.offsets = []
        out.scores = []
        out.vectors = nil
        let scalars = Array(text.unicodeScalars)
        var i = 0
        var w = 0
        while i < tokens.count {
            while w < words.count && words[w].upperBound <= i { w += 1 }
            if w < words.count && words[w].lowerBound == i {
                let r = words[w]
                let s = scores[r]
                let value: Double
                switch merge {
                case .sum: value = s.reduce(0, +)
                case .l2: value = s.map { $0 * $0 }.reduce(0, +).squareRoot()
                case .mean: value = s.reduce(0, +) / Double(s.count)
                }
                let span = (start: offsets[r.lowerBound].start, end: offsets[r.upperBound - 1].end)
                var word = String(String.UnicodeScalarView(scalars[max(0, span.start)..<min(scalars.count, span.end)]))
                if word.isEmpty { word = r.map { tokens[$0] }.joined() }
                out.tokens.append(word)
                out.offsets.append(span)
                out.scores.append(value)
                i = r.upperBound
            } else {
                out.tokens.append(tokens[i])
                out.offsets.append(offsets[i])
                out.scores.append(scores[i])
                i += 1
            }
        }
        return out
    }
}

extension LoadedModel {
    /// What the salience adapters can offer for this checkpoint (empty when it has no class or token
    /// score to explain, e.g. a feature-extraction model).
    public var salienceCapabilities: Capabilities {
        switch (network, task) {
        case (.bert, .sequenceClassification), (.bert, .maskedLM):
            var c: Capabilities = [.gradients, .attention, .hiddenStates, .removal, .padToken]
            if tokenizer.convertTokensToIds(["[MASK]"])[0] != nil { c.insert(.maskToken) }
            return c
        case (.gpt2, .causalLM):
            return [.gradients, .attention, .hiddenStates, .removal, .padToken]
        default:
            return []
        }
    }
}

extension SalienceMethod {
    /// Whether this method can explain `model` (LIT's `Interpreter.is_compatible(model, dataset)`).
    public func isCompatible(with model: LoadedModel) -> Bool {
        model.salienceCapabilities.isSuperset(of: requirements)
    }
}
