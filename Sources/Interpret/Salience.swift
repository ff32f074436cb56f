// The vocabulary shared by every salience method: results, requirements, errors and the method protocol.
import Foundation
import Tensor

/// What a method needs from a model, and what a model offers (LIT's `Interpreter.is_compatible`, as a set).
public struct Capabilities: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// Scores are differentiable functions of the input embeddings (a `GradientTape` can record them).
    public static let gradients = Capabilities(rawValue: 1 << 0)
    /// The model can return each layer's attention probabilities.
    public static let attention = Capabilities(rawValue: 1 << 1)
    /// The model can return a chosen layer's hidden state as a differentiable function of the embeddings.
    public static let hiddenStates = Capabilities(rawValue: 1 << 2)
    /// The vocabulary has a mask token whose embedding can stand in for a token ([MASK]).
    public static let maskToken = Capabilities(rawValue: 1 << 3)
    /// Tokens can be deleted from the input and the shorter input scored.
    public static let removal = Capabilities(rawValue: 1 << 4)
    /// The vocabulary has a padding token ([PAD]; GPT-2 uses <|endoftext|>).
    public static let padToken = Capabilities(rawValue: 1 << 5)

    /// Each capability with its identifier (for JSON) and its words (for messages).
    static let names: [(Capabilities, id: String, words: String)] = [
        (.gradients, "gradients", "gradients"), (.attention, "attention", "attention capture"),
        (.hiddenStates, "hidden_states", "hidden states"), (.maskToken, "mask_token", "a [MASK] token"),
        (.removal, "removal", "token removal"), (.padToken, "pad_token", "a padding token"),
    ]

    /// The identifiers of the capabilities in the set, e.g. ["gradients", "mask_token"].
    public var identifiers: [String] { Capabilities.names.filter { contains($0.0) }.map(\.id) }

    public var description: String {
        let parts = Capabilities.names.filter { contains($0.0) }.map(\.words)
        return parts.isEmpty ? "nothing" : parts.joined(separator: ", ")
    }
}

/// Why an explanation could not be computed; one line, naming the option or the input at fault (by its field
/// name: the CLI and the server say it in their own words).
public enum InterpretError: Error, Equatable, CustomStringConvertible, Sendable {
    case unknownMethod(String, known: [String])
    case unknownTarget(String, known: [String])
    case unsupported(method: String, missing: Capabilities)
    /// A method option out of its range or of the wrong type.
    case invalidConfig(OptionError)
    /// The model has no score of the kind asked for (e.g. a feature extractor, a masked LM without [MASK]).
    case noPrediction(String)
    case badInput(String)

    /// The message with option fields named by `name` (the CLI passes one that gives `--flag-name`).
    public func message(naming name: (String) -> String) -> String {
        switch self {
        case .unknownMethod(let m, let known):
            return "unknown method \"\(m)\"; known methods: \(known.joined(separator: ", "))"
        case .unknownTarget(let t, let known):
            return "unknown target \"\(t)\"; the model's labels are: \(known.joined(separator: ", "))"
        case .unsupported(let method, let missing):
            let hint = missing == .maskToken ? " (use \(name("perturbation")) remove)" : ""
            return "\(method) needs \(missing), which this model does not offer\(hint)"
        case .invalidConfig(let e): return e.message(naming: name)
        case .noPrediction(let detail): return detail
        case .badInput(let detail): return detail
        }
    }

    public var description: String { message { $0 } }
}

extension InterpretError {
    /// A `layer` option outside the layers the model has.
    static func layerOutOfRange(_ layer: Int, _ range: ClosedRange<Int>, of what: String) -> InterpretError {
        .invalidConfig(
            OptionError(
                field: "layer", value: String(layer),
                problem: .invalid("in \(range.lowerBound)…\(range.upperBound) (\(what))")))
    }
}

/// Which number is explained: the target class's probability (LIT's default) or its logit; for a language
/// model the target token's probability, logit or log-probability (LIT's LM salience uses the log-likelihood).
public enum ScoreKind: String, Sendable, CaseIterable {
    case prob, logit, logprob

    /// The explained number of column `index` of logits [B, N] (classes or vocabulary), differentiable: [B].
    public func select(_ logits: Tensor, index: Int) -> Tensor {
        let z = normalize(logits)
        return z.slice(axis: 1, index..<(index + 1)).reshaped([logits.shape[0]])  // [B]
    }

    /// The explained number of every column of logits [B, N], differentiable: [B, N] (a batch whose rows
    /// explain different columns picks its own per row).
    public func normalize(_ logits: Tensor) -> Tensor {
        switch self {
        case .logit: return logits
        case .prob: return softmax(logits, axis: -1)
        case .logprob: return logSoftmax(logits, axis: -1)
        }
    }

    /// The same number of one row, from its logits and their `probabilities`.
    public func value(logits: [Float], probabilities p: [Double], index: Int) -> Double {
        switch self {
        case .prob: return p[index]
        case .logit: return Double(logits[index])
        case .logprob: return log(p[index])
        }
    }
}

/// How per-dimension attributions [T, H] become one number per token.
public enum TokenReduction: String, Sendable {
    /// Σ over the embedding dimension (grad × input, integrated gradients: completeness holds for the sum).
    case sum
    /// ‖·‖₂ over the embedding dimension (gradient norm: LIT's `GradientNorm`).
    case l2
    /// Already one number per token (perturbation methods, attention, σ of the information method).
    case none
}

/// Attention probabilities of every layer and head plus their rollout (Abnar & Zuidema 2020).
public struct AttentionMaps: Sendable {
    /// [layer][head] → T × T row-major probabilities, query rows, key columns.
    public var layers: [[[Float]]]
    /// T × T row-major rollout through all layers.
    public var rollout: [Float]
    public var length: Int
}

/// One explanation: a score per token of the explained input, with what produced it.
public struct Salience: Sendable {
    public var method: MethodID
    public var text: String
    /// Model tokens (or words, after `merged`), [CLS]/[SEP] included.
    public var tokens: [String]
    /// Unicode-scalar spans of the tokens in `text`; (0, 0) for added tokens, as Hugging Face.
    public var offsets: [(start: Int, end: Int)]
    /// One score per token: positive supports the target, negative speaks against it (for grad-norm and
    /// attention, magnitudes only; for the information method σ, smaller = more information kept).
    public var scores: [Double]
    /// Class probabilities of the unperturbed input, in label order (empty for language models).
    public var prediction: [(label: String, probability: Double)]
    /// The explained label or token.
    public var target: String
    /// A contrastive explanation's alternative: the scores explain score(target) − score(contrast).
    public var contrast: String?
    /// Layer attributions: the hidden state attributed to (0 = the embedding output … L); nil for the input embeddings.
    public var layer: Int?
    /// Neuron attributions: the unit of hidden state `layer` explained (at the readout position).
    public var neuron: Int?
    /// Input reduction: the positions that remain, and the removed ones in the order they went.
    public var kept: [Int]?
    public var removalOrder: [Int]?
    public var score: ScoreKind
    /// Integrated gradients: Σ attributions − (F(input) − F(baseline)).
    public var delta: Double?
    /// F(input) and F(baseline) (integrated gradients).
    public var inputScore: Double?
    public var baselineScore: Double?
    /// Quadrature points (integrated gradients), samples (LIME, KernelSHAP) or optimiser steps (info).
    public var steps: Int?
    /// Integrated gradients: distinct gradient evaluations (with `--tolerance`, over all refinements).
    public var evaluations: Int?
    /// Integrated gradients with a tolerance: whether |delta| reached it.
    public var converged: Bool?
    /// Per-dimension attributions [T, H] when the method has them (gradient methods, IG).
    public var vectors: Tensor?
    /// The attention method's full maps.
    public var attention: AttentionMaps?
    /// Wall time of the explanation itself (model loading excluded), seconds.
    public var seconds: Double = 0

    public init(
        method: MethodID, text: String, tokens: [String], offsets: [(start: Int, end: Int)], scores: [Double],
        prediction: [(label: String, probability: Double)], target: String, score: ScoreKind
    ) {
        self.method = method
        self.text = text
        self.tokens = tokens
        self.offsets = offsets
        self.scores = scores
        self.prediction = prediction
        self.target = target
        self.score = score
    }
}

/// A salience method: declares what it needs from a model and explains one input.
public protocol SalienceMethod: Sendable {
    /// The method's id (`loupe explain --method`, a request's `method`).
    static var id: MethodID { get }
    /// What the model must offer; `isCompatible` checks it.
    var requirements: Capabilities { get }
    /// Explains the model's target score on its input.
    func explain(_ model: some SalienceModel) throws(InterpretError) -> Salience
}

extension SalienceMethod {
    public var id: MethodID { Self.id }

    /// Whether `model` offers everything this method needs (LIT `Interpreter.is_compatible`).
    public func isCompatible(with model: some SalienceModel) -> Bool {
        model.capabilities.isSuperset(of: requirements)
    }

    /// Throws `.unsupported` naming what is missing.
    func checkCompatible(with model: some SalienceModel) throws(InterpretError) {
        let missing = requirements.subtracting(model.capabilities)
        if !missing.isEmpty { throw .unsupported(method: Self.id.rawValue, missing: missing) }
    }

    /// A `Salience` for `model`'s input with this method's name, to be filled in.
    func salience(for model: some SalienceModel, scores: [Double]) -> Salience {
        let i = model.input
        var out = Salience(
            method: Self.id, text: i.text, tokens: i.tokens, offsets: i.offsets, scores: scores,
            prediction: i.prediction, target: i.target, score: i.score)
        out.contrast = i.contrast
        return out
    }
}

/// Reduces per-dimension attributions [T, H] (or [1, T, H]) to one score per token.
public func reduceTokens(_ vectors: Tensor, _ reduction: TokenReduction) -> [Double] {
    let h = vectors.shape.last ?? 0
    let t = h == 0 ? 0 : vectors.count / h
    var out = [Double](repeating: 0, count: t)
    vectors.withUnsafeBufferPointer { v in
        for i in 0..<t {
            var acc = 0.0
            for j in 0..<h {
                let x = Double(v[i * h + j])
                acc += reduction == .l2 ? x * x : x
            }
            out[i] = reduction == .l2 ? acc.squareRoot() : acc
        }
    }
    return out
}
