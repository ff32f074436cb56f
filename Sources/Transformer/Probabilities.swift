// Class and token probabilities for reporting: one softmax in Double over a row of Float logits.
import Foundation

/// softmax(logits) in Double, max-subtracted: the probabilities every prediction and explanation reports.
public func probabilities(_ logits: some Collection<Float>) -> [Double] {
    let m = Double(logits.max() ?? 0)
    let e = logits.map { Foundation.exp(Double($0) - m) }
    let s = e.reduce(0, +)
    return e.map { $0 / s }
}
