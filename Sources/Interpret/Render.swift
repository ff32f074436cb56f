// Presenting explanations: terminal colours (LIT's red/green salience map) and a standalone HTML page.
import Foundation

/// How a method's scores map to colours.
public enum ColourScale: Sendable {
    /// Signed: green for positive, red for negative, intensity |s| / max |s| (LIT's signed salience).
    case signed
    /// Magnitudes (grad-norm, attention): green, intensity s / max s.
    case unsigned
    /// The information method's σ: smaller σ = more information = greener.
    case inverted

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
    /// Terminal rendering: the prediction on top, then the tokens on coloured backgrounds (24-bit
    /// ANSI), then one line per token with its score.
    public func terminalText(colour: Bool = true) -> String {
        var lines: [String] = []
        if !prediction.isEmpty {
            lines.append(
                "prediction: "
                    + prediction.map { "\($0.label) \(String(format: "%.4f", $0.probability))" }.joined(separator: "  ")
            )
        }
        var header = "target: \(target)  method: \(method.rawValue)  score: \(score.rawValue)"
        if let delta { header += "  delta: \(String(format: "%.3g", delta))" }
        if let steps { header += "  steps: \(steps)" }
        if let converged { header += converged ? "  (converged)" : "  (tolerance not reached)" }
        lines.append(header)
        lines.append(colouredTokens(tokens, scores: scores, scale: method.colourScale, colour: colour))
        let width = min(24, tokens.map(\.count).max() ?? 0)
        for (tok, s) in zip(tokens, scores) {
            lines.append(
                "  " + tok.padding(toLength: max(width, tok.count), withPad: " ", startingAt: 0) + "  "
                    + String(format: "% .6f", s))
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
            "<span class=\"tok\" title=\"\(String(format: "%.6g", scores[i]))\" style=\"background:rgb(\(r),\(g),\(b))\"><span\(border)>\(htmlEscape(tok))</span></span>"
        )
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
        var meta = "target <b>\(htmlEscape(s.target))</b> · method \(s.method.rawValue) · score \(s.score.rawValue)"
        if let d = s.delta { meta += " · delta \(String(format: "%.3g", d))" }
        if let n = s.steps { meta += " · steps \(n)" }
        body += "<p class=\"meta\">\(meta)</p>\n<div class=\"row\">"
        body += htmlTokens(s.tokens, scores: s.scores, scale: s.method.colourScale)
        body += "</div></section>\n"
    }
    return page(title: title, body: body)
}

/// A standalone page for GPT-2 sequence salience: one row per continuation token, its prefix coloured.
public func htmlPage(_ sequence: SequenceSalience, title: String = "Loupe sequence salience") -> String {
    htmlPage([sequence], title: title)
}

/// The same for several prompts, one section each.
public func htmlPage(_ sequences: [SequenceSalience], title: String = "Loupe sequence salience") -> String {
    var body = ""
    for sequence in sequences { body += sequenceSection(sequence) }
    return page(title: title, body: body)
}

private func sequenceSection(_ sequence: SequenceSalience) -> String {
    var body = "<h2>\(htmlEscape(sequence.text))</h2>\n<p class=\"meta\">method \(sequence.method.rawValue)</p>\n"
    for (j, s) in sequence.steps.enumerated() {
        let position = sequence.promptLength + j
        let tokens = s.tokens + [sequence.tokens[position]]
        let scores = s.scores + [0]
        body += "<div class=\"row\">"
        body += htmlTokens(tokens, scores: scores, scale: s.method.colourScale, highlight: position)
        body += "</div>\n"
    }
    return body
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
    /// Terminal rendering: one line per continuation token, its prefix coloured, the token in brackets.
    public func terminalText(colour: Bool = true) -> String {
        var lines = ["method: \(method.rawValue)"]
        for (j, s) in steps.enumerated() {
            let token = tokens[promptLength + j]
            lines.append(
                colouredTokens(s.tokens, scores: s.scores, scale: s.method.colourScale, colour: colour)
                    + " → [\(token)]" + (s.contrast.map { " rather than [\($0)]" } ?? ""))
        }
        return lines.joined(separator: "\n")
    }
}
