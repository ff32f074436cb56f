// Ablation flip (LIT's `AblationFlip`): the smallest sets of removed words that change a classifier's label.
//
// As LIT: words are the text split at whitespace, a counterfactual is the remaining words joined by single
// spaces. Every word's leave-one-out text is run first; words are ranked by how much their removal lowers the
// probability of the originally predicted class (most first) and the top `max_ablatable` are kept. Subsets of
// them are tried by increasing size (1 … `max_ablations`), lexicographically in rank order within a size; a
// subset containing one that already flipped is skipped, so every output is minimal: no strict subset of its
// removals flips the label (all smaller subsets of ranked words were tried before it). Removing every word is
// never tried (LIT drops one index instead). At most `max_candidates` texts are run beyond the leave-one-out
// pass; the search stops there or at `max_outputs`. Different removals giving the same text are output once.
import Foundation
import Interpret
import Transformer

extension Workbench {
    /// A classifier's predicted class index and class probabilities for each text (through `predict`).
    static func classify(_ texts: [String], model: LoadedModel) throws(WorkbenchError) -> [(cls: Int, p: [Double])] {
        guard !texts.isEmpty else { return [] }
        let (_, names) = try classifier(model, operation: "predict")
        let ps = try predict(PredictRequest(examples: Example.list(texts)), model: model)
        return ps.map { p in
            let probs = names.map { p.probabilities?[$0] ?? 0 }
            return (names.firstIndex(of: p.label ?? "") ?? 0, probs)
        }
    }

    /// Words split at whitespace with their Unicode-scalar spans.
    static func whitespaceWords(_ text: String) -> [(word: String, start: Int, end: Int)] {
        var out: [(word: String, start: Int, end: Int)] = []
        var current = String.UnicodeScalarView(), start = 0
        for (i, s) in text.unicodeScalars.enumerated() {
            if s.properties.isWhitespace {
                if !current.isEmpty { out.append((String(current), start, i)) }
                current = String.UnicodeScalarView()
            } else {
                if current.isEmpty { start = i }
                current.append(s)
            }
        }
        if !current.isEmpty { out.append((String(current), start, text.unicodeScalars.count)) }
        return out
    }

    /// A comma-separated option as a set of trimmed, non-empty entries.
    static func commaList(_ s: String?) -> Set<String> {
        Set((s ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
    }

    static func ablationFlips(
        _ e: Example, model: LoadedModel, _ c: ValidatedConfig
    ) throws(WorkbenchError) -> [(text: String, edits: [CounterfactualEdit])] {
        let words = whitespaceWords(e.text)
        let ignore = commaList(c.string("ignore"))
        let eligible = words.indices.filter { !ignore.contains(words[$0].word) }
        guard !eligible.isEmpty else { return [] }
        func text(removing set: Set<Int>) -> String {
            words.indices.filter { !set.contains($0) }.map { words[$0].word }.joined(separator: " ")
        }
        let original = try classify([e.text], model: model)[0]
        let looTexts = eligible.map { text(removing: [$0]) }
        let loo = try classify(looTexts, model: model)
        var known: [String: Int] = [:]
        for (t, r) in zip(looTexts, loo) { known[t] = r.cls }
        let drop = loo.map { $0.p[original.cls] - original.p[original.cls] }
        let ranked = eligible.indices.sorted { drop[$0] < drop[$1] || (drop[$0] == drop[$1] && $0 < $1) }
            .prefix(c.int("max_ablatable")!).map { eligible[$0] }
        let found = try minimalFlips(
            units: ranked.count, maxSize: c.int("max_ablations")!, budget: c.int("max_candidates")!,
            maxOutputs: c.int("max_outputs")!, originalClass: original.cls, known: known, model: model
        ) { set in
            let removed = Set(set.map { ranked[$0] })
            return removed.count == words.count ? nil : text(removing: removed)
        }
        return found.map { f in
            let removed = f.set.map { ranked[$0] }.sorted()
            return (
                f.text,
                removed.map {
                    CounterfactualEdit(start: words[$0].start, end: words[$0].end, from: words[$0].word, to: "")
                }
            )
        }
    }

    /// The search shared by ablation flip and HotFlip: subsets of `units` ranked units (indices 0..<units) by
    /// increasing size up to `maxSize`, lexicographic within a size; supersets of a flip are skipped; `build`
    /// gives a subset's text (nil: not a valid candidate, skipped without a forward pass). Texts in `known`
    /// (already classified) cost nothing; at most `budget` others are run. A flip: a predicted class other
    /// than `originalClass`. A text already output is not output again (its set still counts for minimality).
    static func minimalFlips(
        units: Int, maxSize: Int, budget: Int, maxOutputs: Int, originalClass: Int, known: [String: Int] = [:],
        model: LoadedModel, build: ([Int]) -> String?
    ) throws(WorkbenchError) -> [(set: [Int], text: String)] {
        var found: [(set: [Int], text: String)] = []
        var flipped: [Set<Int>] = []
        var produced = Set<String>()
        var known = known
        var spent = 0
        for k in 1...max(1, min(maxSize, units)) where units > 0 {
            var combo = Array(0..<k)
            var more = true
            while more && found.count < maxOutputs {
                // Gather a chunk of candidates of this size (none is a superset of another of the same size).
                var chunk: [(set: [Int], text: String)] = []
                var fresh = Set<String>()
                while more && chunk.count < 32 {
                    let s = Set(combo)
                    if !flipped.contains(where: { $0.isSubset(of: s) }), let t = build(combo) {
                        if known[t] == nil && !fresh.contains(t) {
                            if spent + fresh.count >= budget { more = false; break }
                            fresh.insert(t)
                        }
                        chunk.append((combo, t))
                    }
                    more = more && nextCombination(&combo, n: units)
                }
                let texts = Array(fresh).sorted()
                let classes = try classify(texts, model: model)
                for (t, r) in zip(texts, classes) { known[t] = r.cls }
                spent += texts.count
                for cand in chunk where known[cand.text]! != originalClass && found.count < maxOutputs {
                    flipped.append(Set(cand.set))
                    // Two sets can give one text (e.g. either of two equal words removed): output it once.
                    if produced.insert(cand.text).inserted { found.append(cand) }
                }
                if spent >= budget && !more { return found }
            }
            if found.count >= maxOutputs || spent >= budget { break }
        }
        return found
    }

    /// The next k-subset of 0..<n in lexicographic order; false after the last.
    static func nextCombination(_ c: inout [Int], n: Int) -> Bool {
        let k = c.count
        var i = k - 1
        while i >= 0 && c[i] == n - k + i { i -= 1 }
        guard i >= 0 else { return false }
        c[i] += 1
        for j in (i + 1)..<k { c[j] = c[j - 1] + 1 }
        return true
    }
}
