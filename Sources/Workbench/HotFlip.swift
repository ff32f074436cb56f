// HotFlip (Ebrahimi et al. 2018, as LIT's `HotFlip`): token swaps chosen by embedding gradients that change the label.
//
// One forward and backward pass gives g_i = ∇_{e_i} log p(c) at each input word embedding, c the predicted class
// (Ebrahimi's loss −log p(c), with the sign flipped). The first-order estimate of swapping token i for vocabulary
// token v is (e_v − e_i)·g_i, for every v at once as one [T, H]×[H, V] product; each position's best swap is
// the v with the most negative estimate. Positions are ranked by that estimate (most negative first; LIT
// ranks by ‖g_i‖) and the top `max_flippable` go through the same minimal-subset search as ablation flip
// (sizes 1 … `max_flips`), every candidate checked by a real forward pass on its text.
//
// Which tokens: never [CLS]/[SEP], never a piece of a multi-piece word (a swapped piece would not survive
// re-tokenisation), never a token in `ignore`. Replacements: whole-word vocabulary entries (no "##" pieces,
// no bracketed special or [unused] entries) that the tokenizer encodes back to themselves. The counterfactual's
// text is the parent's with each swapped token's character span replaced by the new token (spacing and
// punctuation kept); a text that does not re-tokenise to exactly the swapped ids is not tried.
import Foundation
import Interpret
import Tensor
import Transformer

/// One position's best swap.
public struct HotFlipCandidate: Codable, Sendable, Equatable {
    /// Token index in the encoding ([CLS] is 0).
    public var position: Int
    public var token: String
    public var replacement: String
    public var replacementID: Int
    /// (e_replacement − e_token)·∇_{e_token} log p(predicted class).
    public var estimate: Double
}

/// The gradient pass of HotFlip on one example.
public struct HotFlipAnalysis: Codable, Sendable {
    public var id: String
    public var ids: [Int]
    public var tokens: [String]
    /// The predicted class (the one whose log-probability is differentiated) and its log-probability.
    public var predicted: String
    public var predictedIndex: Int
    public var logProbability: Double
    /// One per eligible position, most negative estimate first.
    public var candidates: [HotFlipCandidate]
}

extension Workbench {
    /// HotFlip's gradient pass: each eligible position's best single-token swap and its first-order estimate.
    public static func hotflipCandidates(
        _ example: Example, model: LoadedModel, ignore: Set<String> = []
    ) throws(WorkbenchError) -> HotFlipAnalysis {
        let model = model.float32  // a gradient method: float32 throughout
        let (bert, names) = try classifier(model, operation: "hotflip")
        let enc = try encode(model, [example], truncate: true).encodings[0]
        let adapter = try interpreting { () throws(InterpretError) in
            try TransformerSalienceModel(
                model: model, text: example.text, encoding: enc, target: .predicted, score: .logprob,
                recordInput: true)
        }
        let (score, grad) = adapter.gradientAtInput()  // [1, T, H]
        let table = bert.embeddings.wordEmbeddings  // [V, H]
        let (t, h, v) = (enc.count, table.shape[1], table.shape[0])
        let s = matmul(grad.reshaped([t, h]), table, transposeB: true).scalars  // [T, V]: e_v·g_i
        let allowed = replacementVocabulary(model, size: v)
        var candidates: [HotFlipCandidate] = []
        for w in enc.words() where w.tokens.count == 1 {
            let i = w.tokens.lowerBound
            guard enc.specialTokensMask[i] == 0, !ignore.contains(enc.tokens[i]) else { continue }
            let row = i * v
            var best = -1
            for u in 0..<v where allowed[u] && u != enc.ids[i] && (best < 0 || s[row + u] < s[row + best]) { best = u }
            guard best >= 0 else { continue }
            candidates.append(
                HotFlipCandidate(
                    position: i, token: enc.tokens[i], replacement: allowed.name(best), replacementID: best,
                    estimate: Double(s[row + best]) - Double(s[row + enc.ids[i]])))
        }
        candidates.sort { $0.estimate < $1.estimate || ($0.estimate == $1.estimate && $0.position < $1.position) }
        let c = names.firstIndex(of: adapter.input.target) ?? 0
        return HotFlipAnalysis(
            id: example.id, ids: enc.ids, tokens: enc.tokens, predicted: names[c], predictedIndex: c,
            logProbability: score, candidates: candidates)
    }

    /// Whole-word vocabulary entries that encode back to exactly themselves.
    static func replacementVocabulary(_ model: LoadedModel, size: Int) -> Vocabulary {
        let names = model.tokenizer.convertIdsToTokens(Array(0..<size))
        var ok = [Bool](repeating: false, count: size)
        for (id, name) in names.enumerated() {
            guard let name, !name.isEmpty, !name.hasPrefix("##"), !(name.hasPrefix("[") && name.hasSuffix("]")) else {
                continue
            }
            ok[id] = model.tokenizer.encode(name, addSpecialTokens: false).ids == [id]
        }
        return Vocabulary(ok: ok, names: names)
    }

    struct Vocabulary {
        var ok: [Bool]
        var names: [String?]
        subscript(id: Int) -> Bool { ok[id] }
        func name(_ id: Int) -> String { names[id] ?? "" }
    }

    static func hotflips(
        _ e: Example, model: LoadedModel, _ c: ValidatedConfig
    ) throws(WorkbenchError) -> [(text: String, edits: [CounterfactualEdit], estimate: Double)] {
        let analysis = try hotflipCandidates(e, model: model, ignore: commaList(c.string("ignore")))
        let ranked = Array(analysis.candidates.prefix(c.int("max_flippable")!))
        let enc = try encode(model, [e], truncate: true).encodings[0]
        let scalars = Array(e.text.unicodeScalars)
        func edits(_ set: [Int]) -> [CounterfactualEdit] {
            set.map { ranked[$0] }.sorted { $0.position < $1.position }.map { f in
                let o = enc.offsets[f.position]
                return CounterfactualEdit(
                    start: o.start, end: o.end, from: String(String.UnicodeScalarView(scalars[o.start..<o.end])),
                    to: f.replacement, estimate: f.estimate)
            }
        }
        let found = try minimalFlips(
            units: ranked.count, maxSize: c.int("max_flips")!, budget: c.int("max_candidates")!,
            maxOutputs: c.int("max_outputs")!, originalClass: analysis.predictedIndex, model: model
        ) { set -> String? in
            var out = scalars
            var ids = analysis.ids
            for edit in edits(set).reversed() {
                out.replaceSubrange(edit.start..<edit.end, with: Array(edit.to.unicodeScalars))
            }
            for k in set { ids[ranked[k].position] = ranked[k].replacementID }
            let text = String(String.UnicodeScalarView(out))
            guard (try? model.encode([text], truncate: true))?.encodings[0].ids == ids else { return nil }
            return text
        }
        return found.map { f in
            let ed = edits(f.set)
            return (f.text, ed, ed.reduce(0) { $0 + ($1.estimate ?? 0) })
        }
    }
}
