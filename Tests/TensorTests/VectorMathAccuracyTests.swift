// The vectorised exp, erf and the GELU/softmax/layer-norm kernels against Float64 references over dense grids.
//
// Bounds, and why they are what they are (unit roundoff u = 2^-24 ≈ 6e-8; ulp(1⁻) = 2^-24, ulp(1) = 2^-23):
// - exp (Cephes expf: Cody–Waite reduction, degree-6 polynomial): the polynomial's own error is below 1e-9
//   relative; Float32 evaluation of reduction, Horner and scaling adds ≤ ~2 roundings. Bound 2.5e-7
//   relative (≈ 2 ulp); measured 1.8e-7.
// - erf (Cephes erff x·T(x²) below 1; 1 − erfc with a degree-12 minimax polynomial for erfc on [1, 3.92]):
//   the fit's error is 2.9e-8, the Float32 rounding of the result ≤ u/2 = 3e-8 near 1 plus a few roundings of
//   the polynomial (< 0.16, so ~1e-8 each); below 1, Cephes's polynomial is within 1.2e-7 relative.
//   Bound 1.6e-7 absolute everywhere and 2e-7 relative for |x| < 1; measured ≈ 1.3e-7 and 1.7e-7.
//   (The library's older bound, ClosedFormTests, is 2.5e-7 vs erff.)
// - GELU (erf): ½x(1 + erf(x/√2)): |error| ≤ ½|x|·(erf error + 2u) + rounding of the result; bound
//   2e-7·(1 + |x|).
// - GELU (tanh), x/(1 + e^{−2u}) with PyTorch's u: exp's 2 ulp, the division's and the sum's roundings, and
//   u's own (≈ 3 roundings, amplified by at most |u·σ′(2u)·2| ≤ 1 relative): bound 6e-7 relative to |x|.
import Foundation
import Testing
import Tensor

@Suite struct VectorMathAccuracyTests {
    /// exp over [−86.98, 88.7] in steps of 1e-3 and [−1, 1] in steps of 2^-16; below −125.5·ln2 ≈ −86.99 (where
    /// e^x < 2^−125.5, near the bottom of the normal range) it flushes to 0, as documented on `vexp`.
    @Test func expRelativeErrorWithinTwoUlp() {
        var worst = 0.0, at: Float = 0
        func check(_ x: Float) {
            let ref = Foundation.exp(Double(x))
            let err = abs(Double(fastExp(x)) - ref) / ref
            if err > worst { (worst, at) = (err, x) }
        }
        for i in 0...175_680 { check(-86.98 + Float(i) * 1e-3) }
        for i in -65536...65536 { check(Float(i) / 65536) }
        #expect(worst <= 2.5e-7, "exp: max relative error \(worst) at \(at)")
        #expect(fastExp(0) == 1)
        #expect(fastExp(-.infinity) == 0 && fastExp(.infinity) == .infinity && fastExp(-87) == 0)
    }

    /// erf over a grid of step 1e-5 on [−6, 6] (1.2 million points), plus every Float32 near 0 down to 1e-30.
    @Test func erfErrorAgainstFloat64() {
        var worstAbs = 0.0, atAbs: Float = 0, worstRel = 0.0, atRel: Float = 0
        func check(_ x: Float) {
            let ref = Foundation.erf(Double(x))
            let y = fastErf(x)
            #expect(abs(y) <= 1, "erf(\(x)) = \(y)")
            let err = abs(Double(y) - ref)
            if err > worstAbs { (worstAbs, atAbs) = (err, x) }
            if abs(x) < 1 && x != 0 && err / abs(ref) > worstRel { (worstRel, atRel) = (err / abs(ref), x) }
        }
        for i in -600_000...600_000 { check(Float(i) * 1e-5) }
        var x: Float = 1e-30
        while x < 1e-5 {
            check(x)
            check(-x)
            x *= 1.001
        }
        #expect(worstAbs <= 1.6e-7, "erf: max |error| \(worstAbs) at \(atAbs)")
        #expect(worstRel <= 2e-7, "erf: max relative error \(worstRel) at \(atRel) (|x| < 1)")
        #expect(fastErf(0) == 0 && fastErf(-0.0).sign == .minus)
        #expect(fastErf(.infinity) == 1 && fastErf(-.infinity) == -1 && fastErf(10) == 1 && fastErf(-10) == -1)
        #expect(fastErf(.nan).isNaN)
    }

    /// Both GELU forms over [−12, 12] against Float64, through the tensor op (whose tail is padded into one vector).
    @Test func geluAgainstFloat64() {
        let xs = (0...240_001).map { Float(-12 + Double($0) * 1e-4) }
        let x = Tensor(xs)
        let erfForm = gelu(x).scalars, tanhForm = gelu(x, approximate: .tanh).scalars
        var worstErf = 0.0, worstTanh = 0.0
        for (i, v) in xs.enumerated() {
            let d = Double(v)
            let refErf = 0.5 * d * (1 + Foundation.erf(d / 2.0.squareRoot()))
            worstErf = max(worstErf, abs(Double(erfForm[i]) - refErf) / (1 + abs(d)))
            let u = (2 / Double.pi).squareRoot() * (d + 0.044715 * d * d * d)
            let refTanh = 0.5 * d * (1 + Foundation.tanh(u))
            worstTanh = max(worstTanh, abs(Double(tanhForm[i]) - refTanh) / max(abs(d), 1e-30))
        }
        #expect(worstErf <= 2e-7, "gelu (erf): max error \(worstErf)·(1 + |x|)")
        #expect(worstTanh <= 6e-7, "gelu (tanh): max error \(worstTanh)·|x|")
        #expect(gelu(Tensor([-1e20, 1e20, -0.0]), approximate: .tanh).scalars == [0, 1e20, 0])
        #expect(gelu(Tensor([.nan]), approximate: .tanh).scalars[0].isNaN && gelu(Tensor([.nan])).scalars[0].isNaN)
    }

    /// A value's result does not depend on where it sits: every element of a map with a ragged tail (and of a
    /// parallel-sized map) equals the same value mapped alone, bit for bit.
    @Test func resultsDoNotDependOnPosition() {
        var g = RandomGenerator(seed: 11)
        for n in [1, 15, 16, 17, 37, 100_003] {
            let x = Tensor.randomNormal([n], std: 3, generator: &g)
            let ys = [gelu(x), gelu(x, approximate: .tanh), exp(x), tanh(x), sigmoid(x)].map(\.scalars)
            for i in Set([0, n / 2, n - 1]) {
                let alone = Tensor([x.scalars[i]])
                let ones = [gelu(alone), gelu(alone, approximate: .tanh), exp(alone), tanh(alone), sigmoid(alone)]
                for (k, one) in ones.enumerated() {
                    #expect(ys[k][i].bitPattern == one.scalars[0].bitPattern, "op \(k), n \(n), index \(i)")
                }
            }
            #expect(x.scalars.map(fastExp) == exp(x).scalars, "n \(n)")
        }
    }

    /// Softmax and layer norm rows of every length 1…70 (all tail sizes, one and several vectors) and 3072
    /// against Float64.
    @Test func softmaxAndLayerNormRowsAgainstFloat64() {
        var g = RandomGenerator(seed: 5)
        for n in Array(1...70) + [3072] {
            let x = Tensor.randomNormal([3, n], std: 4, generator: &g)
            let w = Tensor.randomNormal([n], generator: &g), b = Tensor.randomNormal([n], generator: &g)
            let s = softmax(x).scalars, ls = logSoftmax(x).scalars
            let ln = layerNorm(x, weight: w, bias: b, eps: 1e-5).scalars
            for r in 0..<3 {
                let row = (0..<n).map { Double(x.scalars[r * n + $0]) }
                let m = row.max()!
                let z = row.reduce(0) { $0 + Foundation.exp($1 - m) }
                let mu = row.reduce(0, +) / Double(n)
                let v = row.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(n)
                for j in 0..<n {
                    let p = Foundation.exp(row[j] - m) / z
                    #expect(abs(Double(s[r * n + j]) - p) <= 1e-5 * p + 1e-9, "softmax n \(n) [\(r), \(j)]")
                    let lp = row[j] - m - Foundation.log(z)
                    #expect(abs(Double(ls[r * n + j]) - lp) <= 1e-5 * (1 + abs(lp)), "logSoftmax n \(n) [\(r), \(j)]")
                    let y = (row[j] - mu) / (v + 1e-5).squareRoot() * Double(w.scalars[j]) + Double(b.scalars[j])
                    #expect(abs(Double(ln[r * n + j]) - y) <= 1e-5 * (1 + abs(y)), "layerNorm n \(n) [\(r), \(j)]")
                }
            }
        }
        // Fully masked rows stay NaN (as PyTorch), and a row of equal huge values is exactly uniform.
        let masked = softmax(Tensor([[-Float.infinity, -.infinity]])).scalars
        #expect(masked[0].isNaN && masked[1].isNaN)
        #expect(softmax(Tensor([Array(repeating: 1000, count: 40)])).scalars == Array(repeating: 0.025, count: 40))
    }
}
