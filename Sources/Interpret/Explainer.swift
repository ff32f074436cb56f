// The one-call entry point for a BERT text: options → method → model adapter → Salience; merging word pieces.
import Foundation
import Tensor
import Tokenizers
import Transformer

/// Everything an explanation needs besides the model and the text: the method and its options, which output
/// to explain and how (LIT's interpreter config plus the target).
public struct ExplainOptions: Sendable {
    public var method: MethodID
    /// The method's options, validated against `method.spec` (absent ones take their defaults).
    public var config: ConfigValues
    public var target = TargetSpec.predicted
    public var score = ScoreKind.prob
    /// Merge word pieces into words (scores combined by `method.wordMerge`; perturbation methods switch whole words).
    public var mergeWords = false
    /// The information method's r (see `InformationSalience.regularization`).
    public var regularization: Tensor?

    public init(method: MethodID, config: ConfigValues = [:]) {
        self.method = method
        self.config = config
    }

    /// The configured method.
    public func makeMethod() throws(InterpretError) -> any SalienceMethod {
        try method.make(config, mergeWords: mergeWords, regularization: regularization)
    }
}

/// The adapter for a loaded checkpoint and one text (BERT classifiers and masked LMs).
public func salienceModel(
    _ model: LoadedModel, text: String, options: ExplainOptions
) throws(InterpretError) -> TransformerSalienceModel {
    guard case .bert = model.network else {
        throw .noPrediction("\(model.url.path): a GPT-2 model is explained by sequence salience, token by token")
    }
    let encoding: Encoding
    do { encoding = try model.encode([text], truncate: true).encodings[0] } catch { throw .badInput(error.description) }
    // The gradient methods reuse the prediction's forward pass.
    let record = options.method.usesInputGradientOnly
    return try TransformerSalienceModel(
        model: model, text: text, encoding: encoding, target: options.target, score: options.score,
        recordInput: record)
}

/// Explains `text` with the options' method: the whole pipeline behind `loupe explain`.
public func explain(_ model: LoadedModel, text: String, options: ExplainOptions) throws(InterpretError) -> Salience {
    let method = try options.makeMethod()
    let start = Date()
    let adapter = try salienceModel(model, text: text, options: options)
    var out = try method.explain(adapter)
    if options.mergeWords, let words = adapter.input.words {
        out = out.mergingWords(words, by: options.method.wordMerge)
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
