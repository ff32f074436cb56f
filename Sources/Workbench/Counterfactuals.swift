// `counterfactuals`: LIT's generators (word replacer, scrambler, ablation flip, HotFlip) as specified components.
//
// Each generator declares its options as a `ConfigSpec` and says which models it works with. A request gives
// examples, a generator and its config; each result is a new `Example` (id "<parent>-cf<k>", `parent` the
// source id) with the model's prediction on it, as `Workbench.predict` gives it. Free-text options
// (`substitutions`, `ignore`) are `.text` fields.
import Foundation
import Interpret
import Tensor
import Transformer

/// LIT's counterfactual generators.
public enum GeneratorID: String, Codable, Sendable, CaseIterable {
    case wordReplacer = "word-replacer"
    case scrambler
    case ablationFlip = "ablation-flip"
    case hotflip

    public var spec: ConfigSpec {
        switch self {
        case .wordReplacer:
            return ConfigSpec([
                ConfigField(
                    "substitutions", .text, default: .string("great -> terrible"),
                    help: "Rules \"src -> tgt, src2 -> tgt2 | tgt3\": each source word becomes each of its targets."),
                ConfigField(
                    "ignore_casing", .bool, default: .bool(true), help: "Match sources case-insensitively (LIT)."),
                ConfigField(
                    "whole_word", .bool, default: .bool(true),
                    help: "Match whole words only (sources that begin and end with a letter or digit, as LIT)."),
                ConfigField(
                    "per_occurrence", .bool, default: .bool(true),
                    help: "One output per occurrence and target (LIT); false: one per rule and target, every "
                        + "occurrence replaced."),
                GeneratorFields.maxOutputs(100),
            ])
        case .scrambler:
            return ConfigSpec([
                ConfigField(
                    "samples", .int, default: .int(1), minimum: 1, maximum: 100,
                    help: "Shuffled copies of each example."),
                ConfigField(
                    "seed", .int, default: .int(0), minimum: 0,
                    help: "Seed of the shuffles (mixed with the example's id, so each example's shuffles do not "
                        + "depend on the others)."),
            ])
        case .ablationFlip:
            return ConfigSpec([
                GeneratorFields.maxOutputs(10),
                ConfigField(
                    "max_ablations", .int, default: .int(5), minimum: 1, maximum: 10,
                    help: "Most words removed in one counterfactual."),
                ConfigField(
                    "max_ablatable", .int, default: .int(10), minimum: 1, maximum: 20,
                    help: "Words considered: those whose single removal lowers the predicted class's probability "
                        + "most."),
                GeneratorFields.maxCandidates,
                ConfigField(
                    "ignore", .text, default: .string(""), help: "Comma-separated words never removed."),
            ])
        case .hotflip:
            return ConfigSpec([
                GeneratorFields.maxOutputs(5),
                ConfigField(
                    "max_flips", .int, default: .int(3), minimum: 1, maximum: 10,
                    help: "Most tokens swapped in one counterfactual."),
                ConfigField(
                    "max_flippable", .int, default: .int(10), minimum: 1, maximum: 20,
                    help: "Token positions considered: those whose best swap has the largest estimated effect."),
                GeneratorFields.maxCandidates,
                ConfigField(
                    "ignore", .text, default: .string(""), help: "Comma-separated tokens never swapped."),
            ])
        }
    }

    /// What the generator needs: the text-only generators work with every model `predict` supports; the flip
    /// generators need a BERT sequence classifier (a label to flip; HotFlip also its embedding gradients).
    public func isCompatible(_ model: LoadedModel) -> Bool {
        switch self {
        case .wordReplacer, .scrambler:
            switch (model.network, model.task) {
            case (.bert, .sequenceClassification), (.bert, .maskedLM), (.gpt2, .causalLM): return true
            default: return false
            }
        case .ablationFlip, .hotflip:
            return (try? Workbench.classifier(model, operation: rawValue)) != nil
        }
    }

    /// One line for menus and /api/info.
    public var summary: String {
        switch self {
        case .wordReplacer: return "Replaces words by a substitution list."
        case .scrambler: return "Shuffles the words of the text."
        case .ablationFlip: return "Removes the fewest words that change the classifier's label."
        case .hotflip: return "Swaps the fewest tokens, chosen by embedding gradients, that change the label."
        }
    }
}

enum GeneratorFields {
    static func maxOutputs(_ d: Int) -> ConfigField {
        ConfigField(
            "max_outputs", .int, default: .int(d), minimum: 1, maximum: 10_000,
            help: "Most counterfactuals per example.")
    }
    static let maxCandidates = ConfigField(
        "max_candidates", .int, default: .int(1000), minimum: 1, maximum: 100_000,
        help: "Most candidate texts run through the model per example (beyond the first pass over single edits).")
}

public struct CounterfactualRequest: Codable, Sendable {
    public var examples: [Example]
    public var generator: GeneratorID
    /// The generator's options (`generator.spec`); absent ones take their defaults.
    public var config: ConfigValues = [:]

    public init(examples: [Example], generator: GeneratorID, config: ConfigValues = [:]) {
        self.examples = examples
        self.generator = generator
        self.config = config
    }
}

/// One change from the parent's text to the counterfactual's.
public struct CounterfactualEdit: Codable, Sendable, Equatable {
    /// Unicode-scalar span [start, end) in the parent's text.
    public var start: Int
    public var end: Int
    public var from: String
    /// The replacement ("" for a removal).
    public var to: String
    /// HotFlip: the first-order estimate (e_to − e_from)·∇ of the change of log p(original class).
    public var estimate: Double?

    public init(start: Int, end: Int, from: String, to: String, estimate: Double? = nil) {
        (self.start, self.end, self.from, self.to, self.estimate) = (start, end, from, to, estimate)
    }
}

/// A generated example and the model's prediction on it.
public struct Counterfactual: Codable, Sendable {
    /// id "<parent>-cf<k>" (k from 0 per parent), `parent` the source example's id; the label is not copied.
    public var example: Example
    public var prediction: Prediction
    /// What changed (the scrambler: nil, every word moves).
    public var edits: [CounterfactualEdit]?
    /// HotFlip: the summed first-order estimate of the change of log p(original class).
    public var estimatedChange: Double?

    enum CodingKeys: String, CodingKey { case example, prediction, edits, estimatedChange = "estimated_change" }
}

extension Workbench {
    /// Runs a generator on every example; outputs in example order, then the generator's order.
    public static func counterfactuals(
        _ request: CounterfactualRequest, model: LoadedModel
    ) throws(WorkbenchError) -> [Counterfactual] {
        let c: ValidatedConfig
        do { c = try request.generator.spec.validate(request.config) } catch { throw .invalidOption(error) }
        guard request.generator.isCompatible(model) else {
            throw .wrongModel(
                file: model.url.relativePath, operation: request.generator.rawValue,
                needs: request.generator == .scrambler || request.generator == .wordReplacer
                    ? "a model that predicts" : "a BERT sequence-classification model",
                found: model.kindDescription)
        }
        var out: [Counterfactual] = []
        for e in request.examples {
            typealias Made = (text: String, edits: [CounterfactualEdit]?, estimate: Double?)
            var made: [Made] = []
            switch request.generator {
            case .wordReplacer:
                let casing = c.bool("ignore_casing")!
                let rules = try parseSubstitutions(c.string("substitutions")!, ignoreCasing: casing)
                made = replaceWords(
                    e.text, rules: rules, ignoreCasing: casing, wholeWord: c.bool("whole_word")!,
                    perOccurrence: c.bool("per_occurrence")!
                ).prefix(c.int("max_outputs")!).map { m -> Made in (m.text, m.edits, nil) }
            case .scrambler:
                made = (0..<c.int("samples")!).map { k -> Made in
                    (scramble(e.text, seed: UInt64(c.int("seed")!), id: e.id, sample: k), nil, nil)
                }
            case .ablationFlip:
                made = try ablationFlips(e, model: model, c).map { m -> Made in (m.text, m.edits, nil) }
            case .hotflip:
                made = try hotflips(e, model: model, c).map { m -> Made in (m.text, m.edits, m.estimate) }
            }
            let examples = made.enumerated().map { k, m in Example(id: "\(e.id)-cf\(k)", text: m.text, parent: e.id) }
            let predictions = try predict(PredictRequest(examples: examples), model: model)
            for (k, m) in made.enumerated() {
                out.append(
                    Counterfactual(
                        example: examples[k], prediction: predictions[k], edits: m.edits, estimatedChange: m.estimate))
            }
        }
        return out
    }
}

// MARK: - Word replacer

/// One substitution rule: a source and its targets.
struct SubstitutionRule: Equatable {
    var source: String
    var targets: [String]
}

extension Workbench {
    /// "a -> b, c -> d | e" as LIT parses it (rules split at ",", targets at "|", blanks trimmed; with
    /// `ignoreCasing` sources are lower-cased, and a repeated source keeps its last rule). A rule without exactly
    /// one "->" is an error (LIT logs and skips it).
    static func parseSubstitutions(_ s: String, ignoreCasing: Bool) throws(WorkbenchError) -> [SubstitutionRule] {
        var rules: [SubstitutionRule] = []
        for raw in s.split(separator: ",", omittingEmptySubsequences: false) {
            let rule = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if rule.isEmpty { continue }
            let parts = rule.components(separatedBy: "->")
            let source = parts[0].trimmingCharacters(in: .whitespacesAndNewlines)
            guard parts.count == 2, !source.isEmpty else {
                throw .invalidOption(
                    OptionError(
                        field: "substitutions", value: rule, problem: .invalid("rules of the form \"src -> tgt\"")))
            }
            let targets = parts[1].split(separator: "|", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            let key = ignoreCasing ? source.lowercased() : source
            rules.removeAll { $0.source == key }
            rules.append(SubstitutionRule(source: key, targets: targets))
        }
        return rules
    }

    /// LIT's matching: one left-to-right scan, the first rule matching at a position wins, matches do not
    /// overlap; a source that begins and ends with a word character (letter, digit, _) matches whole words only.
    static func replaceWords(
        _ text: String, rules: [SubstitutionRule], ignoreCasing: Bool, wholeWord: Bool, perOccurrence: Bool
    ) -> [(text: String, edits: [CounterfactualEdit])] {
        let chars = Array(text)
        var scalarAt = [0]  // scalar offset of each character boundary
        for ch in chars { scalarAt.append(scalarAt.last! + ch.unicodeScalars.count) }
        func isWord(_ c: Character) -> Bool { c.isLetter || c.isNumber || c == "_" }
        let sources = rules.map { Array($0.source) }
        var matches: [(rule: Int, range: Range<Int>)] = []
        var i = 0
        scan: while i < chars.count {
            for (r, src) in sources.enumerated() where i + src.count <= chars.count {
                let piece = String(chars[i..<(i + src.count)])
                guard ignoreCasing ? piece.lowercased() == String(src).lowercased() : piece == String(src) else {
                    continue
                }
                if wholeWord && isWord(src.first!) && isWord(src.last!) {
                    if i > 0 && isWord(chars[i - 1]) { continue }
                    if i + src.count < chars.count && isWord(chars[i + src.count]) { continue }
                }
                matches.append((r, i..<(i + src.count)))
                i += max(1, src.count)
                continue scan
            }
            i += 1
        }
        func apply(_ ms: [(rule: Int, range: Range<Int>)], target: Int) -> (String, [CounterfactualEdit]) {
            var s = "", at = 0
            var edits: [CounterfactualEdit] = []
            for m in ms {
                let to = rules[m.rule].targets[target]
                s += String(chars[at..<m.range.lowerBound]) + to
                edits.append(
                    CounterfactualEdit(
                        start: scalarAt[m.range.lowerBound], end: scalarAt[m.range.upperBound],
                        from: String(chars[m.range]), to: to))
                at = m.range.upperBound
            }
            return (s + String(chars[at...]), edits)
        }
        var out: [(text: String, edits: [CounterfactualEdit])] = []
        if perOccurrence {
            for m in matches {
                for t in rules[m.rule].targets.indices { out.append(apply([m], target: t)) }
            }
        } else {
            for r in rules.indices {
                let mine = matches.filter { $0.rule == r }
                guard !mine.isEmpty else { continue }
                for t in rules[r].targets.indices { out.append(apply(mine, target: t)) }
            }
        }
        return out
    }
}

// MARK: - Scrambler

extension Workbench {
    /// LIT's scramble: the text split at single spaces, the pieces shuffled (Fisher–Yates), joined by spaces.
    /// The generator is seeded by (seed, FNV-1a of the example id, sample index).
    static func scramble(_ text: String, seed: UInt64, id: String, sample: Int) -> String {
        var words = text.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        var g = SplitMix64(seed: seed ^ fnv1a(id) ^ (UInt64(sample) &* 0x9E37_79B9_7F4A_7C15))
        if words.count > 1 {
            for i in stride(from: words.count - 1, to: 0, by: -1) {
                let j = Int(g.next() % UInt64(i + 1))
                words.swapAt(i, j)
            }
        }
        return words.joined(separator: " ")
    }
}

