// Pairs, truncation and padding, shared by both tokenizers (HF tokenizer.rs `post_process`, truncation.rs, padding.rs).

extension Encoding {
    /// Marks a freshly encoded sequence as the second of a pair (HF encodes it with type id 1).
    mutating func markAsPair() {
        typeIDs = Array(repeating: 1, count: ids.count)
        sequenceIDs = Array(repeating: 1, count: ids.count)
    }
}

/// HF `post_process`: truncate (leaving room for the tokens the template adds), then apply the template,
/// or concatenate the pair when there is none.
func postProcess(
    _ a: Encoding, _ b: Encoding?, addSpecialTokens: Bool, truncation: Truncation?,
    template: ((Encoding, Encoding?) -> Encoding)?
) throws(TokenizerError) -> Encoding {
    var a = a, b = b
    if let truncation {
        let added = template == nil ? 0 : (b == nil ? 2 : 3)
        // HF subtracts without a check (and would underflow); a limit below the added tokens keeps none.
        try truncate(&a, &b, maxLength: max(0, truncation.maxLength - added), strategy: truncation.strategy)
    }
    if let template { return template(a, b) }
    if let b { a.appendContents(of: b) }
    return a
}

/// HF `truncate_encodings` (truncation.rs), direction right, stride 0.
func truncate(_ a: inout Encoding, _ b: inout Encoding?, maxLength: Int, strategy: Truncation.Strategy)
    throws(TokenizerError)
{
    if maxLength == 0 {
        a.truncate(to: 0)
        b?.truncate(to: 0)
        return
    }
    let total = a.count + (b?.count ?? 0)
    guard total > maxLength else { return }
    let toRemove = total - maxLength
    switch strategy {
    case .longestFirst:
        guard var second = b else {
            a.truncate(to: total - toRemove)
            return
        }
        // With n1 the shorter length: keep it whole if the longer can fill the rest, else halve.
        var n1 = a.count, n2 = second.count
        let swapped = n1 > n2
        if swapped { swap(&n1, &n2) }
        n2 = n1 > maxLength ? n1 : max(n1, maxLength - n1)
        if n1 + n2 > maxLength {
            n1 = maxLength / 2
            n2 = n1 + maxLength % 2
        }
        if swapped { swap(&n1, &n2) }
        a.truncate(to: n1)
        second.truncate(to: n2)
        b = second
    case .onlyFirst, .onlySecond:
        if strategy == .onlyFirst {
            guard a.count > toRemove else { throw .sequenceTooShort(maxLength: maxLength) }
            a.truncate(to: a.count - toRemove)
        } else {
            guard var second = b else { throw .secondSequenceNotProvided }
            guard second.count > toRemove else { throw .sequenceTooShort(maxLength: maxLength) }
            second.truncate(to: second.count - toRemove)
            b = second
        }
    }
}

/// Encodes every (text, pair) and pads the results (HF `encode_batch` + `pad_encodings`).
func batch(
    _ texts: [String], _ pairs: [String]?, padding: Padding?, padID: Int?, padToken: String?,
    _ encode: (String, String?) throws(TokenizerError) -> Encoding
) throws(TokenizerError) -> [Encoding] {
    if let pairs, pairs.count != texts.count { throw .pairCountMismatch(texts: texts.count, pairs: pairs.count) }
    var out: [Encoding] = []
    out.reserveCapacity(texts.count)
    for (i, t) in texts.enumerated() { out.append(try encode(t, pairs?[i])) }
    guard let padding else { return out }
    guard let padID, let padToken else { throw .missingPaddingToken }
    let target: Int
    switch padding {
    case .longest: target = out.map(\.count).max() ?? 0
    case .toLength(let n): target = n
    }
    for i in out.indices {
        // HF pads with pad_type_id 0, attention 0, special-tokens mask 1, offsets (0, 0), no word.
        while out[i].count < target { out[i].appendAdded(id: padID, token: padToken, typeID: 0, attention: 0) }
    }
    return out
}
