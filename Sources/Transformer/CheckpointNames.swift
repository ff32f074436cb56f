// The one place where checkpoint tensor names are normalised: prefixes, legacy renames, dropped buffers, tied heads.

/// Tensor-name rules shared by every loader (docs/weights-format.md, "Renames and drops"; the Swift twin of
/// weights-scripts/convert_rules.py `KEY_RULES`). `Checkpoint.tensors` keys are the names after these rules with the
/// base prefix removed, e.g. "embeddings.word_embeddings.weight", "h.0.attn.c_attn.weight", "classifier.weight".
public enum CheckpointNames {
    /// transformers' `base_model_prefix` (BertPreTrainedModel: "bert", GPT2PreTrainedModel: "transformer"),
    /// with its dot. Head models store the base model's tensors under it.
    public static func basePrefix(_ architecture: Checkpoint.Architecture) -> String {
        switch architecture {
        case .bert: return "bert."
        case .gpt2: return "transformer."
        }
    }

    /// The prefix a checkpoint uses: the base prefix when any name starts with it, else "" (loupe_h5._prefix).
    /// transformers accepts both forms (modeling_utils: `has_prefix_module` / `expects_prefix_module`), but not
    /// a mixture: once a checkpoint uses the prefix, a base tensor without it is unexpected.
    public static func prefixInUse(_ names: some Sequence<String>, architecture: Checkpoint.Architecture) -> String {
        let p = basePrefix(architecture)
        return names.contains { $0.hasPrefix(p) } ? p : ""
    }

    /// The `Checkpoint.tensors` key of a stored name: the name without the prefix in use. Head tensors
    /// (`classifier.*`, `cls.*`, `lm_head.*`) never carry a prefix and are returned unchanged.
    public static func key(of name: String, prefix: String) -> String {
        prefix.isEmpty || !name.hasPrefix(prefix) ? name : String(name.dropFirst(prefix.count))
    }

    /// For an output projection tied to the input embeddings, the key of the embeddings it shares
    /// (docs/weights-format.md, "drop if tied": GPT-2 `lm_head.weight` uses `wte.weight`, BERT
    /// `cls.predictions.decoder.weight` uses `embeddings.word_embeddings.weight`). nil for any other key.
    public static func tiedSource(of key: String, architecture: Checkpoint.Architecture) -> String? {
        switch (architecture, key) {
        case (.gpt2, "lm_head.weight"): return "wte.weight"
        case (.bert, "cls.predictions.decoder.weight"): return "embeddings.word_embeddings.weight"
        default: return nil
        }
    }

    /// What KEY_RULES does with one stored name.
    public enum Rule: Equatable, Sendable {
        /// Kept under this (possibly renamed) name.
        case keep(String)
        /// Not a parameter the runtime loads; the reason says why.
        case drop(String)
    }

    /// Applies KEY_RULES to one name of a Hugging Face checkpoint. The first matching rule decides; a name
    /// matching none is kept unchanged. `allNames` is the checkpoint's full name set (for the alias rule).
    /// Loupe .h5 files hold names these rules already produced, so the HDF5 loader does not apply them: a
    /// buffer such as `embeddings.position_ids` in a .h5 file is an unexpected tensor (loupe_h5.validate).
    public static func rule(for name: String, tieWordEmbeddings tied: Bool, allNames: Set<String>) -> Rule {
        // Legacy TF-style LayerNorm parameter names; transformers renames gamma/beta -> weight/bias on load
        // (modeling_utils `_fix_key`).
        if name.hasSuffix("LayerNorm.gamma") { return .keep(String(name.dropLast(5)) + "weight") }
        if name.hasSuffix("LayerNorm.beta") { return .keep(String(name.dropLast(4)) + "bias") }
        // Non-parameter buffers (pattern `(.*\.)?embeddings.position_ids`, `...token_type_ids`): constants the
        // runtime derives itself, arange(max_position_embeddings) and zeros.
        if name == "embeddings.position_ids" || name.hasSuffix(".embeddings.position_ids") {
            return .drop("buffer: arange(max_position_embeddings)")
        }
        if name == "embeddings.token_type_ids" || name.hasSuffix(".embeddings.token_type_ids") {
            return .drop("buffer: zeros(1, max_position_embeddings)")
        }
        // GPT-2 attention buffers `(.*\.)?h.N.attn.bias` (causal mask) and `h.N.attn.masked_bias` (fill value);
        // not `attn.c_attn.bias`, a real parameter.
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        if parts.count >= 4, parts[parts.count - 4] == "h", isDigits(parts[parts.count - 3]),
            parts[parts.count - 2] == "attn"
        {
            if parts[parts.count - 1] == "bias" { return .drop("buffer: GPT-2 causal mask") }
            if parts[parts.count - 1] == "masked_bias" { return .drop("buffer: GPT-2 mask fill value") }
        }
        // Output projections tied to the word embeddings (config tie_word_embeddings, default true): transformers
        // re-ties them after loading and ignores the stored values; untied they are ordinary parameters.
        if name == "lm_head.weight" || name == "cls.predictions.decoder.weight" {
            return tied ? .drop("tied to the word embeddings") : .keep(name)
        }
        // BertLMPredictionHead: `decoder.bias` is the same Parameter as `cls.predictions.bias`.
        if name == "cls.predictions.decoder.bias" {
            return allNames.contains("cls.predictions.bias")
                ? .drop("same parameter as cls.predictions.bias") : .keep("cls.predictions.bias")
        }
        return .keep(name)
    }

    /// Applies `rule(for:...)` to a whole checkpoint. Returns, in input order, each kept name with the stored
    /// name it came from, and one log line per rename or drop. Two stored names that end up with the same
    /// name (`LayerNorm.gamma` next to `LayerNorm.weight`) are a `.duplicateTensor` error.
    public static func applyKeyRules(
        _ names: [String], tieWordEmbeddings tied: Bool, file: String
    ) throws(WeightError) -> (kept: [(name: String, stored: String)], log: [String]) {
        let all = Set(names)
        var kept: [(name: String, stored: String)] = []
        var from: [String: String] = [:]
        var log: [String] = []
        for stored in names {
            switch rule(for: stored, tieWordEmbeddings: tied, allNames: all) {
            case .drop(let why):
                log.append("dropped \(stored) (\(why))")
            case .keep(let name):
                if let other = from[name] { throw .duplicateTensor(file: file, key: stored, other: other) }
                if name != stored {
                    if all.contains(name) { throw .duplicateTensor(file: file, key: stored, other: name) }
                    log.append("renamed \(stored) -> \(name)")
                }
                from[name] = stored
                kept.append((name, stored))
            }
        }
        return (kept, log)
    }

    private static func isDigits(_ s: Substring) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }
}
