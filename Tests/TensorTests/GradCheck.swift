// Gradient-check helpers: seeded inputs, Float32-vs-Float64 forward checks, and VJP-vs-central-difference checks.
import Foundation
import Testing
import Tensor

/// Forward tolerance: |ours − ref| ≤ fwdTol·(1 + |ref|) per element. Float32 has a unit roundoff
/// of 6e-8; these small ops accumulate at most a few dozen roundings (plus the ~1-ulp exp and
/// 1.5e-7 erf approximations), so 1e-5 is float32 rounding level with a wide margin.
let fwdTol = 1e-5
/// VJP tolerance: |ours − fd| ≤ vjpTol·max(1, |fd|). The Float32 VJP carries float32 rounding
/// (≲1e-5 relative for these sizes); the Float64 central difference with h = 1e-6 has truncation
/// error O(h²) ≈ 1e-12 and cancellation error ≈ 1e-16·|L|/h ≈ 1e-10·|L|. 1e-3 leaves ample margin
/// while any wrong formula (a dropped term, a wrong sign or broadcast) is off by O(1).
let vjpTol = 1e-3
let fdStep = 1e-6

/// Seeded input factory: every test draws from its own generator, so runs are reproducible.
struct Inputs {
    var g: RandomGenerator
    init(seed: UInt64) { g = RandomGenerator(seed: seed) }

    /// Uniform in [lo, hi).
    mutating func uniform(_ shape: [Int], _ lo: Float = -2, _ hi: Float = 2) -> Tensor {
        Tensor.randomUniform(shape, low: lo, high: hi, generator: &g)
    }
    /// Standard normal scaled by `std`.
    mutating func normal(_ shape: [Int], std: Float = 1) -> Tensor {
        Tensor.randomNormal(shape, std: std, generator: &g)
    }
    /// Random sign times Uniform[lo, hi): kept away from 0 (kinks, poles).
    mutating func awayFromZero(_ shape: [Int], _ lo: Float = 0.25, _ hi: Float = 2) -> Tensor {
        let m = Tensor.randomUniform(shape, low: lo, high: hi, generator: &g)
        return Tensor(shape: shape, scalars: m.scalars.map { g.nextUniform() < 0.5 ? -$0 : $0 })
    }
    /// Pairwise distinct values (gaps ≥ 0.1, far above the FD step): a random permutation of a grid.
    mutating func distinct(_ shape: [Int]) -> Tensor {
        let n = elementCount(shape)
        var v = (0..<n).map { Float($0) * 0.25 - Float(n) * 0.125 }
        for i in stride(from: n - 1, to: 0, by: -1) { v.swapAt(i, Int(g.next() % UInt64(i + 1))) }
        let jitter = Tensor.randomUniform(shape, low: -0.05, high: 0.05, generator: &g).scalars
        return Tensor(shape: shape, scalars: zip(v, jitter).map { $0 + $1 })
    }
}

/// Σ y·v in Float64.
func dot(_ y: Array64, _ v: Array64) -> Double {
    precondition(y.shape == v.shape, "dot: reference output \(y.shape) vs cotangent \(v.shape)")
    return zip(y.data, v.data).reduce(0) { $0 + $1.0 * $1.1 }
}

/// Central differences of L(x) = Σ reference(x)·v with respect to every element of input `which`.
func finiteDifferences(_ inputs: [Array64], _ which: Int, _ v: Array64, _ reference: ([Array64]) -> Array64)
    -> [Double]
{
    var x = inputs
    return (0..<inputs[which].count).map { j in
        let x0 = x[which].data[j]
        x[which].data[j] = x0 + fdStep
        let lp = dot(reference(x), v)
        x[which].data[j] = x0 - fdStep
        let lm = dot(reference(x), v)
        x[which].data[j] = x0
        return (lp - lm) / (2 * fdStep)
    }
}

/// Compares element-wise with |a − b| ≤ tol·scale(b); records one expectation naming the worst element.
func expectClose(
    _ ours: [Float], _ ref: [Double], tol: Double, scale: (Double) -> Double, _ what: @autoclosure () -> String,
    shape: [Int]? = nil, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(ours.count == ref.count, "\(what()): \(ours.count) values vs \(ref.count)", sourceLocation: sourceLocation)
    guard ours.count == ref.count else { return }
    var worst = (ratio: 0.0, index: 0)
    for (i, (o, r)) in zip(ours, ref).enumerated() {
        let ratio = abs(Double(o) - r) / (tol * scale(r))
        if !(ratio <= worst.ratio) { worst = (ratio.isNaN ? .infinity : ratio, i) }
    }
    let i = worst.index
    let at = shape.map { "\(unravel(i, $0))" } ?? "\(i)"
    #expect(
        worst.ratio <= 1,
        "\(what()): element \(at) ours \(ours[i]) vs reference \(ref[i]) (|diff| \(abs(Double(ours[i]) - ref[i])), \(worst.ratio)× tolerance)",
        sourceLocation: sourceLocation)
}

/// The full check for one op on one set of inputs:
/// 1. forward: `ours(inputs)` (Float32) against `reference` (Float64) on the same values;
/// 2. VJP: gradients from a `GradientTape` with a random cotangent v, for every input in `wrt`
///    (default all), against central differences of Σ reference(x)·v.
func checkOp(
    _ name: String, _ inputs: [Tensor], seed: UInt64 = 7, wrt: [Int]? = nil,
    _ ours: ([Tensor]) -> Tensor, reference: ([Array64]) -> Array64,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let x64 = inputs.map(Array64.init)
    let ref = reference(x64)

    let tape = GradientTape()
    let (watched, y) = tape.record {
        let w = inputs.map { tape.watch($0) }
        return (w, ours(w))
    }
    #expect(
        y.shape == ref.shape, "\(name): output shape \(y.shape) vs reference \(ref.shape)",
        sourceLocation: sourceLocation)
    guard y.shape == ref.shape else { return }
    expectClose(
        y.scalars, ref.data, tol: fwdTol, scale: { 1 + abs($0) }, "\(name) forward", shape: y.shape,
        sourceLocation: sourceLocation)
    // The untaped forward must be the same computation.
    let plain = ours(inputs)
    #expect(
        plain.scalars == y.scalars, "\(name): untaped forward differs from taped forward",
        sourceLocation: sourceLocation)

    var gen = Inputs(seed: seed &+ 0x5EED)
    let v = gen.normal(y.shape)
    let grads = tape.gradients(of: y, wrt: watched, seed: v)
    for i in wrt ?? Array(inputs.indices) {
        #expect(
            grads[i].shape == inputs[i].shape, "\(name): d/dx\(i) shape \(grads[i].shape)",
            sourceLocation: sourceLocation)
        let fd = finiteDifferences(x64, i, Array64(v), reference)
        expectClose(
            grads[i].scalars, fd, tol: vjpTol, scale: { Swift.max(1, abs($0)) },
            "\(name) VJP wrt input \(i) \(inputs[i].shape)",
            shape: inputs[i].shape, sourceLocation: sourceLocation)
    }
}
