// Known-answer tests: closed forms for softmax, layer norm, cross-entropy, AdamW, the sgemm wrapper, training.
import Foundation
import Testing
import Tensor

/// Max |a − b| over two equal-length arrays.
func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "length \(a.count) != \(b.count)")
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

@Suite struct ClosedFormTests {
    @Test func softmaxOfLargeEqualLogitsIsUniformWithoutNaN() {
        let y = softmax(Tensor([[1000, 1000]]))
        #expect(y.scalars == [0.5, 0.5])
        let ly = logSoftmax(Tensor([[1000, 1000]]))
        #expect(maxAbsDiff(ly.scalars, [-0.6931472, -0.6931472]) < 1e-6)
        // Huge spread: the small entry underflows to exactly 0, the large one is exactly 1.
        let z = softmax(Tensor([[-1000, 1000]]))
        #expect(z.scalars == [0, 1])
    }

    @Test func softmaxAlongFirstAxisMatchesHandComputation() {
        let x = Tensor([[0, 1], [Float(log(3.0)), 1]])  // column 0: e^0 : e^{ln 3} = 1 : 3
        let y = softmax(x, axis: 0)
        #expect(maxAbsDiff(y.scalars, [0.25, 0.5, 0.75, 0.5]) < 1e-6)
    }

    @Test func layerNormOfAKnownVector() {
        // x = [1, 2, 3, 4]: mean 2.5, biased variance 1.25, so x̂ = (x − 2.5)/√(1.25 + eps).
        let x = Tensor([[1, 2, 3, 4]])
        let y = layerNorm(x, eps: 0)
        let s = Float(1.25).squareRoot()
        #expect(maxAbsDiff(y.scalars, [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s]) < 1e-6)
        let w = Tensor([2, 2, 2, 2]), b = Tensor([1, 1, 1, 1])
        let yw = layerNorm(x, weight: w, bias: b, eps: 0)
        #expect(maxAbsDiff(yw.scalars, [1 - 3 / s, 1 - 1 / s, 1 + 1 / s, 1 + 3 / s]) < 1e-6)
    }

    @Test func crossEntropyWithIgnoreIndexAveragesCountedRowsOnly() {
        // Row 0: logits [0, 0] → loss ln 2. Row 1 is ignored. Row 2: [ln 3, 0], label 0 → −ln(3/4).
        let logits = Tensor([[0, 0], [5, -5], [Float(log(3.0)), 0]])
        let tape = GradientTape()
        let (l, loss) = tape.record { () -> (Tensor, Tensor) in
            let l = tape.watch(logits)
            return (l, crossEntropy(l, labels: [1, -100, 0]))
        }
        let expected = (log(2.0) - log(0.75)) / 2
        #expect(abs(Double(loss.item) - expected) < 1e-6)
        // d loss / d logits = (softmax − onehot) / 2 on counted rows, 0 on the ignored one.
        let g = tape.gradients(of: loss, wrt: [l])[0]
        #expect(maxAbsDiff(g.scalars, [0.25, -0.25, 0, 0, -0.125, 0.125]) < 1e-6)
        // All rows ignored: PyTorch gives NaN (0/0), and so do we.
        #expect(crossEntropy(logits, labels: [-100, -100, -100]).item.isNaN)
    }

    @Test func oneAdamWStepMatchesAHandComputedUpdate() {
        // PyTorch AdamW, step 1: m = (1−β₁)g, v = (1−β₂)g², m̂ = g, v̂ = g², so
        // p ← p(1 − lr·λ) − lr · g / (|g| + ε).
        let (lr, wd, eps): (Float, Float, Float) = (0.1, 0.01, 1e-8)
        var opt = AdamW(learningRate: lr, epsilon: eps, weightDecay: wd)
        var params = [Tensor([1.0, -2.0, 0.5])]
        let grads = [Tensor([0.5, -0.25, 0])]
        opt.update(&params, gradients: grads)
        let expected: [Float] = zip([1.0, -2.0, 0.5], [0.5, -0.25, 0]).map { p, g in
            p * (1 - lr * wd) - lr * g / (abs(g) + eps)
        }
        #expect(maxAbsDiff(params[0].scalars, expected) < 1e-6)
        #expect(opt.step == 1)
        // Step 2 with the same gradient: m = g(1 − β₁²)... written out from the recurrences.
        opt.update(&params, gradients: grads)
        let (b1, b2): (Double, Double) = (0.9, 0.999)
        let second: [Float] = zip(expected, [0.5, -0.25, 0]).map { p, g in
            let g = Double(g)
            let m = (1 - b1) * g * b1 + (1 - b1) * g, v = ((1 - b2) * g * g) * b2 + (1 - b2) * g * g
            let step = Double(lr) / (1 - b1 * b1)
            let denom = v.squareRoot() / (1 - b2 * b2).squareRoot() + Double(eps)
            return Float(Double(p) * (1 - Double(lr * wd)) - step * m / denom)
        }
        #expect(maxAbsDiff(params[0].scalars, second) < 1e-6)
    }

    @Test func clipGradientNormScalesToTheLimit() {
        var grads = [Tensor([3, 0]), Tensor([0, 4])]  // global norm 5
        let norm = clipGradientNorm(&grads, maxNorm: 1)
        #expect(norm == 5)
        let scale: Float = 1 / (5 + 1e-6)
        #expect(maxAbsDiff(grads[0].scalars + grads[1].scalars, [3 * scale, 0, 0, 4 * scale]) < 1e-7)
        var small = [Tensor([0.3, 0.4])]
        clipGradientNorm(&small, maxNorm: 1)
        #expect(small[0].scalars == [0.3, 0.4])
    }

    @Test func linearWarmupScheduleMatchesTransformers() {
        let s = LinearWarmupSchedule(peak: 1, warmupSteps: 10, totalSteps: 110)
        #expect(s.learningRate(at: 0) == 0)
        #expect(s.learningRate(at: 5) == 0.5)
        #expect(s.learningRate(at: 10) == 1)
        #expect(s.learningRate(at: 60) == 0.5)
        #expect(s.learningRate(at: 110) == 0)
        #expect(s.learningRate(at: 200) == 0)
    }

    /// The one sgemm wrapper against a naive triple loop, for every transpose combination and the
    /// vector shapes that route to sgemv.
    @Test(arguments: [(5, 7, 3), (1, 9, 4), (6, 1, 5), (1, 1, 8), (17, 13, 11)])
    func sgemmWrapperMatchesNaiveLoop(m: Int, n: Int, k: Int) {
        var g = RandomGenerator(seed: UInt64(m * 100 + n * 10 + k))
        for transA in [false, true] {
            for transB in [false, true] {
                let a = (0..<(m * k)).map { _ in g.nextUniform() - 0.5 }
                let b = (0..<(k * n)).map { _ in g.nextUniform() - 0.5 }
                let cInit = (0..<(m * n)).map { _ in g.nextUniform() }
                var c = cInit
                let (lda, ldb) = (transA ? m : k, transB ? k : n)
                a.withUnsafeBufferPointer { pa in
                    b.withUnsafeBufferPointer { pb in
                        c.withUnsafeMutableBufferPointer { pc in
                            sgemm(
                                transA: transA, transB: transB, m: m, n: n, k: k, alpha: 1.5,
                                a: pa.baseAddress!, lda: lda, b: pb.baseAddress!, ldb: ldb,
                                beta: 0.5, c: pc.baseAddress!, ldc: n)
                        }
                    }
                }
                var expected = [Float](repeating: 0, count: m * n)
                for i in 0..<m {
                    for j in 0..<n {
                        var s: Double = 0
                        for p in 0..<k {
                            let av = transA ? a[p * lda + i] : a[i * lda + p]
                            let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                            s += Double(av) * Double(bv)
                        }
                        expected[i * n + j] = Float(1.5 * s + 0.5 * Double(cInit[i * n + j]))
                    }
                }
                #expect(maxAbsDiff(c, expected) < 1e-5, "transA \(transA) transB \(transB)")
            }
        }
    }

    @Test func vectorisedMathAgreesWithLibm() {
        let xs = stride(from: -20.0, through: 20.0, by: 0.013).map { Float($0) }
        for x in xs {
            #expect(abs(fastExp(x) - expf(x)) <= 3e-7 * expf(x), "exp(\(x))")
            #expect(abs(fastTanh(x) - tanhf(x)) <= 3e-7, "tanh(\(x))")
            // A&S 7.1.26 promises 1.5e-7 in exact arithmetic; float32 evaluation adds a few ulps of 1.
            #expect(abs(fastErf(x) - erff(x)) <= 2.5e-7, "erf(\(x))")
            if abs(x) < 1 { #expect(abs(fastErf(x) - erff(x)) <= 3e-7 * abs(erff(x)), "erf(\(x)) relative") }
        }
        #expect(fastExp(-100) == 0)
        #expect(fastExp(100) == .infinity)
        #expect(fastExp(88.7) > 3.3e38 && fastExp(88.7).isFinite)
        #expect(fastExp(.nan).isNaN && fastTanh(.nan).isNaN && fastErf(.nan).isNaN)
    }

    /// A 2-layer MLP trained with AdamW fits a small synthetic regression task.
    @Test func mlpTrainedWithAdamWReachesNearZeroLoss() {
        var g = RandomGenerator(seed: 42)
        let x = Tensor.randomNormal([64, 8], generator: &g)
        let wTrue = Tensor.randomNormal([8, 1], generator: &g)
        let y = tanh(matmul(x, wTrue))  // a smooth target the MLP can represent
        var params = [
            Tensor.randomNormal([8, 32], std: 0.3, generator: &g), Tensor.zeros([32]),
            Tensor.randomNormal([32, 1], std: 0.3, generator: &g), Tensor.zeros([1]),
        ]
        var opt = AdamW(learningRate: 0.01, weightDecay: 0)
        var first: Float = 0, last: Float = 0
        for step in 0..<600 {
            let tape = GradientTape()
            let (p, loss) = tape.record { () -> ([Tensor], Tensor) in
                let p = params.map { tape.watch($0) }
                let h = gelu(matmul(x, p[0]) + p[1])
                let d = matmul(h, p[2]) + p[3] - y
                return (p, (d * d).mean())
            }
            if step == 0 { first = loss.item }
            last = loss.item
            opt.update(&params, gradients: tape.gradients(of: loss, wrt: p))
        }
        #expect(first > 0.1)
        #expect(last < 1e-3, "final loss \(last), first \(first)")
    }

    @Test func untrackedComputationLeavesNoTape() {
        let tape = GradientTape()
        let y = tape.record { gelu(matmul(Tensor.ones([2, 2]), Tensor.ones([2, 2]))).sum() }
        #expect(tape.nodeCount == 0)
        #expect(!y.isTracked)
    }

    @Test func copyOnWriteKeepsValuesIndependent() {
        let a = Tensor([1, 2, 3])
        var b = a
        b[1] = 20
        #expect(a.scalars == [1, 2, 3])
        #expect(b.scalars == [1, 20, 3])
    }

    @Test func seededGeneratorIsReproducibleAndHasTheRightMoments() {
        let a = Tensor.randomNormal([10_000], seed: 7), b = Tensor.randomNormal([10_000], seed: 7)
        #expect(a.scalars == b.scalars)
        let mean = a.mean().item, variance = ((a - mean) * (a - mean)).mean().item
        #expect(abs(mean) < 0.05 && abs(variance - 1) < 0.05)
        let u = Tensor.randomUniform([10_000], low: 2, high: 4, seed: 1)
        #expect(u.scalars.allSatisfy { $0 >= 2 && $0 < 4 })
    }
}
