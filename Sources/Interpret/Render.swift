// Presenting explanations: JSON objects, terminal colours (LIT's red/green salience map) and a standalone HTML page.
import Foundation

/// How a method's scores map to colours.
public enum ColourScale: Sendable {
    /// Signed: green for positive, red for negative, intensity |s| / max |s| (LIT's signed salience).
    case signed
    /// Magnitudes (grad-norm, attention): green, intensity s / max s.
    case unsigned
    /// The information method's σ: smaller σ = more information = greener.
    case inverted

    public init(method: String) {
        switch method {
        case GradientNorm.name, AttentionSalience.name: self = .unsigned
        case InformationSalience.name: self = .inverted
        default: self = .signed
        }
    }

    /// Each score as a signed intensity in [−1, 1] (negative = red).
    public func intensities(_ scores: [Double]) -> [Double] {
        switch self {
        case .signed:
            let m = scores.map(abs).max() ?? 0
            return scores.map { m > 0 ? $0 / m : 0 }
        case .unsigned:
            let m = scores.map(abs).max() ?? 0
            return scores.map { m > 0 ? abs($0) / m : 0 }
        case .inverted:
            let lo = scores.min() ?? 0, hi = scores.max() ?? 0
            return scores.map { hi > lo ? (hi - $0) / (hi - lo) : 0 }
        }
    }
}

extension Salience {
    /// The JSON object of `loupe explain --format json` (JSONSerialization types).
    public var jsonObject: [String: Any] {
        var o: [String: Any] = [
            "text": text, "method": method, "target": target, "score": score.rawValue, "tokens": tokens,
            "offsets": offsets.map { [$0.start, $0.end] }, "scores": scores, "seconds": seconds,
        ]
        var p: [String: Double] = [:]
        for (label, probability) in prediction { p[label] = probability }
        o["prediction"] = p
        if let delta { o["delta"] = delta }
        if let steps { o["steps"] = steps }
        if let evaluations { o["evaluations"] = evaluations }
        if let converged { o["converged"] = converged }
        if let inputScore { o["input_score"] = inputScore }
        if let baselineScore { o["baseline_score"] = baselineScore }
        if let attention {
            let t = attention.length
            func matrix(_ flat: [Float]) -> [[Double]] {
                (0..<t).map { i in (0..<t).map { Double(flat[i * t + $0]) } }
            }
            o["attentions"] = attention.layers.map { $0.map(matrix) }
            o["rollout"] = matrix(attention.rollout)
        }
        return o
    }

    /// Terminal rendering: the prediction on top, then the tokens on coloured backgrounds (24-bit
    /// ANSI), then one line per token with its score.
    public func terminalText(colour: Bool = true) -> String {
        var lines: [String] = []
        if !prediction.isEmpty {
            lines.append(
                "prediction: " + prediction.map { "\($0.label) \(String(format: "%.4f", $0.probability))" }.joined(separator: "  "))
        }
        var header = "target: \(target)  method: \(method)  score: \(score.rawValue)"
        if let delta { header += "  delta: \(String(format: "%.3g", delta))" }
        if let steps { header += "  steps: \(steps)" }
        if let converged { header += converged ? "  (converged)" : "  (tolerance not reached)" }
        lines.append(header)
        lines.append(colouredTokens(tokens, scores: scores, scale: ColourScale(method: method), colour: colour))
        let width = min(24, tokens.map(\.count).max() ?? 0)
        for (tok, s) in zip(tokens, scores) {
            lines.append("  " + tok.padding(toLength: max(width, tok.count), withPad: " ", startingAt: 0) + "  " + String(format: "% .6f", s))
        }
        return lines.joined(separator: "\n")
    }
}

/// Tokens joined by spaces, each on a background whose colour encodes its score.
public func colouredTokens(_ tokens: [String], scores: [Double], scale: ColourScale, colour: Bool) -> String {
    guard colour else { return tokens.joined(separator: " ") }
    let v = scale.intensities(scores)
    return zip(tokens, v).map { tok, x in
        let (r, g, b) = rgb(x)
        return "\u{1B}[48;2;\(r);\(g);\(b)m\u{1B}[38;2;0;0;0m\(tok)\u{1B}[0m"
    }.joined(separator: " ")
}

/// White → green for positive intensities, white → red for negative.
func rgb(_ x: Double) -> (Int, Int, Int) {
    let a = min(1, abs(x))
    let fade = { (c: Double) in Int((255 - (255 - c) * a).rounded()) }
    return x >= 0 ? (fade(26), fade(150), fade(65)) : (fade(215), fade(48), fade(39))
}

func htmlEscape(_ s: String) -> String {
    var out = ""
    for c in s {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.append(c)
        }
    }
    return out
}

/// One heat-map row of tokens as HTML spans (score in the tooltip).
func htmlTokens(_ tokens: [String], scores: [Double], scale: ColourScale, highlight: Int? = nil) -> String {
    let v = scale.intensities(scores)
    var parts: [String] = []
    for (i, (tok, x)) in zip(tokens, v).enumerated() {
        let (r, g, b) = rgb(x)
        let border = highlight == i ? " style=\"outline:2px solid #333\"" : ""
        parts.append(
            "<span class=\"tok\" title=\"\(String(format: "%.6g", scores[i]))\" style=\"background:rgb(\(r),\(g),\(b))\"><span\(border)>\(htmlEscape(tok))</span></span>")
    }
    return parts.joined(separator: " ")
}

private let pageStyle = """
    body{font-family:system-ui,sans-serif;margin:2em;max-width:60em;color:#222}
    .tok{display:inline-block;padding:2px 4px;margin:2px 0;border-radius:3px;font-family:ui-monospace,monospace}
    table{border-collapse:collapse}td,th{padding:2px 8px;text-align:left}
    .meta{color:#555;font-size:90%}.row{margin:0.6em 0}
    """

/// A standalone HTML page with the heat maps of `explanations` (one section per input).
public func htmlPage(_ explanations: [Salience], title: String = "Loupe explanation") -> String {
    var body = ""
    for s in explanations {
        body += "<section><h2>\(htmlEscape(s.text))</h2>\n"
        if !s.prediction.isEmpty {
            body += "<table><tr><th>label</th><th>probability</th></tr>"
            for (label, p) in s.prediction {
                body += "<tr><td>\(htmlEscape(label))</td><td>\(String(format: "%.4f", p))</td></tr>"
            }
            body += "</table>\n"
        }
        var meta = "target <b>\(htmlEscape(s.target))</b> · method \(htmlEscape(s.method)) · score \(s.score.rawValue)"
        if let d = s.delta { meta += " · delta \(String(format: "%.3g", d))" }
        if let n = s.steps { meta += " · steps \(n)" }
        body += "<p class=\"meta\">\(meta)</p>\n<div class=\"row\">"
        body += htmlTokens(s.tokens, scores: s.scores, scale: ColourScale(method: s.method))
        body += "</div></section>\n"
    }
    return page(title: title, body: body)
}

/// A standalone page for GPT-2 sequence salience: one row per continuation token, its prefix coloured.
public func htmlPage(_ sequence: SequenceSalience, title: String = "Loupe sequence salience") -> String {
    var body = "<h2>\(htmlEscape(sequence.text))</h2>\n<p class=\"meta\">method \(htmlEscape(sequence.method))</p>\n"
    for (j, s) in sequence.steps.enumerated() {
        let position = sequence.promptLength + j
        let tokens = s.tokens + [sequence.tokens[position]]
        let scores = s.scores + [0]
        body += "<div class=\"row\">"
        body += htmlTokens(tokens, scores: scores, scale: ColourScale(method: s.method), highlight: position)
        body += "</div>\n"
    }
    return page(title: title, body: body)
}

private func page(title: String, body: String) -> String {
    """
    <!DOCTYPE html>
    <html lang="en"><head><meta charset="utf-8"><title>\(htmlEscape(title))</title>
    <style>\(pageStyle)</style></head>
    <body><h1>\(htmlEscape(title))</h1>
    <p class="meta">Green supports the target, red speaks against it; hover a token for its score.</p>
    \(body)</body></html>

    """
}

extension SequenceSalience {
    /// The JSON object of `loupe explain --prompt … --format json`.
    public var jsonObject: [String: Any] {
        [
            "text": text, "method": method, "tokens": tokens, "offsets": offsets.map { [$0.start, $0.end] },
            "ids": ids, "prompt_tokens": promptLength, "seconds": seconds,
            "targets": steps.enumerated().map { j, s -> [String: Any] in
                var o: [String: Any] = [
                    "position": promptLength + j, "token": tokens[promptLength + j], "scores": s.scores,
                    "score": s.score.rawValue,
                ]
                var p: [String: Double] = [:]
                for (label, probability) in s.prediction { p[label] = probability }
                o["prediction"] = p
                if let d = s.delta { o["delta"] = d }
                if let n = s.steps { o["steps"] = n }
                if let v = s.inputScore { o["input_score"] = v }
                return o
            },
        ]
    }

    /// Terminal rendering: one line per continuation token, its prefix coloured, the token in brackets.
    public func terminalText(colour: Bool = true) -> String {
        var lines = ["method: \(method)"]
        for (j, s) in steps.enumerated() {
            let token = tokens[promptLength + j]
            lines.append(
                colouredTokens(s.tokens, scores: s.scores, scale: ColourScale(method: s.method), colour: colour)
                    + " → [\(token)]")
        }
        return lines.joined(separator: "\n")
    }
}
