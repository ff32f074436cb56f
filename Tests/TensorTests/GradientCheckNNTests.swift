// Gradient checks of products, normalisations, NN ops and composite expressions: Float32 against Float64 references.
import Foundation
import Testing
import Tensor

// MARK: - Matrix products

struct MatMulCase: Sendable, CustomTestStringConvertible {
    let a: [Int], b: [Int], tA: Bool, tB: Bool
    init(_ a: [Int], _ b: [Int], _ tA: Bool = false, _ tB: Bool = false) {
        (self.a, self.b, self.tA, self.tB) = (a, b, tA, tB)
    }
    var testDescription: String { "\(a)\(tA ? "ᵀ" : "") x \(b)\(tB ? "ᵀ" : "")" }
}

private let matmulCases: [MatMulCase] = [
    // 2-D, all transpose combinations (shapes are the stored ones).
    MatMulCase([3, 4], [4, 5]), MatMulCase([4, 3], [4, 5], true), MatMulCase([3, 4], [5, 4], false, true),
    MatMulCase([4, 3], [5, 4], true, true),
    // Batched 3-D and 4-D.
    MatMulCase([2, 3, 4], [2, 4, 5]), MatMulCase([2, 4, 3], [2, 5, 4], true, true),
    MatMulCase([2, 2, 3, 4], [2, 2, 4, 5]), MatMulCase([2, 2, 4, 3], [2, 2, 4, 5], true),
    MatMulCase([2, 2, 3, 4], [2, 2, 5, 4], false, true), MatMulCase([2, 2, 4, 3], [2, 2, 5, 4], true, true),
    // Broadcast batch: shared weight (the flattened-GEMM shortcut), and genuinely broadcast batches.
    MatMulCase([2, 3, 4], [4, 5]), MatMulCase([2, 3, 4], [5, 4], false, true), MatMulCase([2, 4, 3], [4, 5], true),
    MatMulCase([2, 2, 3, 4], [4, 5]), MatMulCase([3, 4], [2, 4, 5]), MatMulCase([4, 3], [2, 5, 4], true, true),
    MatMulCase([2, 1, 3, 4], [1, 3, 4, 2]), MatMulCase([2, 1, 4, 3], [1, 3, 2, 4], true, true),
    // Vector cases (sgemv): m = 1 and n = 1 with every transpose, batched too.
    MatMulCase([1, 4], [4, 5]), MatMulCase([4, 1], [4, 5], true), MatMulCase([1, 4], [5, 4], false, true),
    MatMulCase([4, 1], [5, 4], true, true),
    MatMulCase([3, 4], [4, 1]), MatMulCase([4, 3], [4, 1], true), MatMulCase([3, 4], [1, 4], false, true),
    MatMulCase([4, 3], [1, 4], true, true),
    MatMulCase([2, 1, 4], [2, 4, 5]), MatMulCase([2, 3, 4], [2, 4, 1]), MatMulCase([2, 3, 4], [4, 1]),
    MatMulCase([2, 3, 4], [1, 4], false, true), MatMulCase([1, 4], [2, 4, 5]),
    // k = 1 (outer product) and a 1×1 result.
    MatMulCase([3, 1], [1, 5]), MatMulCase([1, 4], [4, 1]), MatMulCase([4, 1], [1, 4], true, true),
]

@Suite struct GradientCheckMatMul {
    @Test(arguments: matmulCases)
    func product(c: MatMulCase) {
        var r = Inputs(seed: 51)
        checkOp("matmul \(c.testDescription)", [r.uniform(c.a), r.uniform(c.b)]) {
            matmul($0[0], $0[1], transposeA: c.tA, transposeB: c.tB)
        } reference: {
            Ref.matmul($0[0], $0[1], transposeA: c.tA, transposeB: c.tB)
        }
    }
}

// MARK: - Softmax, log-softmax, layer norm

struct AxisCase: Sendable, CustomTestStringConvertible {
    let shape: [Int], axis: Int
    var testDescription: String { "\(shape) axis \(axis)" }
}

@Suite struct GradientCheckNormalization {
    @Test(
        arguments: [false, true],
        [
            AxisCase(shape: [3, 5], axis: -1), AxisCase(shape: [3, 5], axis: 0), AxisCase(shape: [2, 3, 4], axis: 1),
            AxisCase(shape: [2, 3, 4], axis: 0), AxisCase(shape: [2, 3, 4], axis: 2),
            AxisCase(shape: [2, 19], axis: -1),
            AxisCase(shape: [19, 2], axis: -2), AxisCase(shape: [6], axis: 0),
        ])
    func softmaxLike(log: Bool, c: AxisCase) {
        var r = Inputs(seed: 61)
        checkOp("\(log ? "logSoftmax" : "softmax") \(c.testDescription)", [r.normal(c.shape, std: 2)]) {
            log ? logSoftmax($0[0], axis: c.axis) : softmax($0[0], axis: c.axis)
        } reference: {
            log ? Ref.logSoftmax($0[0], axis: c.axis) : Ref.softmax($0[0], axis: c.axis)
        }
    }

    @Test(
        arguments: [[3, 8], [2, 3, 17]] as [[Int]],
        [(false, false), (true, false), (false, true), (true, true)].map { [$0.0, $0.1] })
    func layerNormalization(shape: [Int], affine: [Bool]) {
        var r = Inputs(seed: 62)
        let (useW, useB) = (affine[0], affine[1])
        let n = shape.last!
        var inputs = [r.normal(shape, std: 2) + 0.5]
        if useW { inputs.append(r.uniform([n], 0.5, 1.5)) }
        if useB { inputs.append(r.uniform([n])) }
        checkOp("layerNorm \(shape) weight \(useW) bias \(useB)", inputs) { x in
            layerNorm(x[0], weight: useW ? x[1] : nil, bias: useB ? x[x.count - 1] : nil, eps: 1e-5)
        } reference: { x in
            Ref.layerNorm(x[0], weight: useW ? x[1] : nil, bias: useB ? x[x.count - 1] : nil, eps: 1e-5)
        }
    }

    /// Only the affine parameters watched (frozen input), as when fine-tuning a norm on fixed features.
    @Test func layerNormParametersOnly() {
        var r = Inputs(seed: 63)
        let x = r.normal([4, 8])
        checkOp("layerNorm params only", [r.uniform([8], 0.5, 1.5), r.uniform([8])]) {
            layerNorm(x, weight: $0[0], bias: $0[1])
        } reference: {
            Ref.layerNorm(Array64(x), weight: $0[0], bias: $0[1], eps: 1e-5)
        }
    }
}

// MARK: - NN ops

@Suite struct GradientCheckNN {
    @Test func embeddingAccumulatesRepeatedRows() {
        var r = Inputs(seed: 71)
        let w = r.uniform([5, 3])
        let ids = [1, 3, 1, 0, 3, 3]  // rows 2 and 4 unused: zero gradient
        checkOp("embedding shape [2,3]", [w]) {
            embedding($0[0], indices: ids, shape: [2, 3])
        } reference: {
            Ref.embedding($0[0], indices: ids, shape: [2, 3])
        }
        checkOp("embedding default shape", [w]) {
            embedding($0[0], indices: [4, 4, 2])
        } reference: {
            Ref.embedding($0[0], indices: [4, 4, 2], shape: [3])
        }
    }

    @Test(arguments: [[3, 1], [4], [2, 3, 4], [1, 3, 1], []] as [[Int]])
    func maskedFillBroadcastMask(maskShape: [Int]) {
        var r = Inputs(seed: 72)
        let x = r.uniform([2, 3, 4])
        let mask = Tensor(shape: maskShape, scalars: r.uniform(maskShape, 0, 1).scalars.map { $0 < 0.5 ? 0 : 1 })
        checkOp("maskedFill mask \(maskShape)", [x]) {
            maskedFill($0[0], mask: mask, value: -1e4)
        } reference: {
            Ref.maskedFill($0[0], mask: Array64(mask), value: -1e4)
        }
    }

    @Test(
        arguments: [
            ([1, -100, 4, 0, -100, 2], -100), ([3, 1, 3, 0, 2, 4], 3), ([0, 1, 2, 3, 4, 0], -100),
        ] as [([Int], Int)])
    func crossEntropyWithIgnoredLabels(labels: [Int], ignore: Int) {
        var r = Inputs(seed: 73)
        checkOp("crossEntropy labels \(labels) ignore \(ignore)", [r.normal([6, 5], std: 2)]) {
            crossEntropy($0[0], labels: labels, ignoreIndex: ignore)
        } reference: {
            Ref.crossEntropy($0[0], labels: labels, ignoreIndex: ignore)
        }
    }

    /// The mask is random, so the reference is the mask itself, read off y/x: the VJP must be g·(y/x).
    @Test(arguments: [0.1, 0.5] as [Float])
    func dropoutTrainingUsesTheForwardMask(p: Float) {
        var r = Inputs(seed: 74)
        let x0 = r.awayFromZero([4, 25])
        var gen = RandomGenerator(seed: 99)
        let tape = GradientTape()
        let (x, y) = tape.record {
            let x = tape.watch(x0)
            return (x, dropout(x, p: p, training: true, generator: &gen))
        }
        let v = r.normal(y.shape)
        let gx = tape.gradients(of: y, wrt: [x], seed: v)[0]
        let scale = 1 / (1 - Double(p))
        var dropped = 0
        for i in 0..<x0.count {
            let m = Double(y.scalars[i]) / Double(x0.scalars[i])
            let isZero = m == 0
            if isZero { dropped += 1 }
            #expect(isZero || abs(m - scale) <= 1e-6 * scale, "dropout p \(p): y/x = \(m) at \(i), want 0 or \(scale)")
            let want = Double(v.scalars[i]) * m
            #expect(
                abs(Double(gx.scalars[i]) - want) <= 1e-6 * (1 + abs(want)),
                "dropout VJP at \(i): \(gx.scalars[i]) vs \(want)")
        }
        #expect(dropped > 0 && dropped < x0.count, "dropout p \(p): dropped \(dropped) of \(x0.count)")
    }

    @Test func dropoutEvaluationIsIdentity() {
        var r = Inputs(seed: 75)
        let x0 = r.uniform([3, 7])
        var gen = RandomGenerator(seed: 1)
        let before = gen
        let tape = GradientTape()
        let (x, y) = tape.record {
            let x = tape.watch(x0)
            return (x, dropout(x, p: 0.5, training: false, generator: &gen))
        }
        #expect(y.scalars == x0.scalars)
        let v = r.normal([3, 7])
        #expect(tape.gradients(of: y, wrt: [x], seed: v)[0].scalars == v.scalars)
        #expect(gen == before, "evaluation-mode dropout must not consume randomness")
    }

    /// Inverted dropout keeps E[mask] = 1: on 200k entries the mean is within 5σ of 1, the drop rate within 5σ of p.
    @Test(arguments: [0.1, 0.3, 0.5] as [Float])
    func dropoutMaskHasUnitMean(p: Float) {
        let n = 200_000
        var gen = RandomGenerator(seed: 2024)
        let y = dropout(Tensor.ones([n]), p: p, training: true, generator: &gen)
        let pd = Double(p)
        let mean = y.scalars.reduce(0.0) { $0 + Double($1) } / Double(n)
        let sigmaMean = (pd / (1 - pd) / Double(n)).squareRoot()  // Var(mask) = 1/(1−p) − 1
        #expect(abs(mean - 1) <= 5 * sigmaMean, "dropout p \(p): mean \(mean), σ \(sigmaMean)")
        let rate = Double(y.scalars.filter { $0 == 0 }.count) / Double(n)
        #expect(abs(rate - pd) <= 5 * (pd * (1 - pd) / Double(n)).squareRoot(), "dropout p \(p): drop rate \(rate)")
    }
}

// MARK: - Composite expressions

@Suite struct GradientCheckComposite {
    static func mlp(_ x: [Tensor]) -> Tensor {
        logSoftmax(matmul(gelu(matmul(x[0], x[1]) + x[2]), x[3]) + x[4], axis: -1)
    }
    static func mlpRef(_ x: [Array64]) -> Array64 {
        Ref.logSoftmax(Ref.matmul(Ref.map(Ref.matmul(x[0], x[1]) + x[2], Ref.gelu), x[3]) + x[4], axis: -1)
    }

    /// matmul + bias + gelu + matmul + bias + logSoftmax, gradients for the input and all four parameters.
    @Test(arguments: [[4, 6], [2, 3, 6]] as [[Int]])
    func twoLayerMLP(xShape: [Int]) {
        var r = Inputs(seed: 81)
        let inputs = [
            r.normal(xShape), r.normal([6, 8], std: 0.5), r.normal([8], std: 0.1), r.normal([8, 5], std: 0.5),
            r.normal([5], std: 0.1),
        ]
        checkOp("MLP x \(xShape)", inputs, Self.mlp, reference: Self.mlpRef)
    }

    /// The gradient of the loss w.r.t. the hidden activations (an intermediate tape value, not a leaf), and
    /// the scalar-loss form Σ y·v without a seed giving the same parameter gradients as the seeded form.
    @Test func gradientWithRespectToIntermediate() {
        var r = Inputs(seed: 82)
        let (x0, w1, b1, w2, b2) = (
            r.normal([4, 6]), r.normal([6, 8], std: 0.5), r.normal([8], std: 0.1),
            r.normal([8, 5], std: 0.5), r.normal([5], std: 0.1)
        )
        let tape = GradientTape()
        let (params, h, y) = tape.record {
            let p = [x0, w1, b1, w2, b2].map { tape.watch($0) }
            let h = gelu(matmul(p[0], p[1]) + p[2])
            return (p, h, logSoftmax(matmul(h, p[3]) + p[4], axis: -1))
        }
        let v = r.normal(y.shape)
        let gh = tape.gradients(of: y, wrt: [h], seed: v)[0]
        let head: ([Array64]) -> Array64 = { Ref.logSoftmax(Ref.matmul($0[0], $0[1]) + $0[2], axis: -1) }
        let fd = finiteDifferences([Array64(h), Array64(w2), Array64(b2)], 0, Array64(v), head)
        expectClose(gh.scalars, fd, tol: vjpTol, scale: { Swift.max(1, abs($0)) }, "d/dh (intermediate)")

        let seeded = tape.gradients(of: y, wrt: params, seed: v)
        let loss = tape.record { (y * v).sum() }
        #expect(loss.shape == [])
        let unseeded = tape.gradients(of: loss, wrt: params)
        #expect(seeded.count == params.count && unseeded.count == params.count)
        for (i, (a, b)) in zip(seeded, unseeded).enumerated() {
            expectClose(
                a.scalars, b.scalars.map(Double.init), tol: 1e-5, scale: { 1 + abs($0) }, "seeded vs Σy·v, param \(i)")
        }
        // A value the output does not depend on gets zeros.
        let unrelated = tape.record { tape.watch(r.normal([2])) }
        #expect(tape.gradients(of: y, wrt: [unrelated], seed: v)[0].scalars == [0, 0])
    }

    /// A tensor used several times: every use's contribution accumulates.
    @Test func tensorUsedTwiceAccumulates() {
        var r = Inputs(seed: 83)
        let x = r.uniform([3, 4])
        checkOp("x*x + x", [x]) {
            $0[0] * $0[0] + $0[0]
        } reference: {
            $0[0] * $0[0] + $0[0]
        }
        checkOp("exp(x)*x - x/2", [x]) {
            exp($0[0]) * $0[0] - $0[0] / 2
        } reference: {
            Ref.map($0[0], Foundation.exp) * $0[0] - $0[0] * 0.5
        }
        checkOp("x * Σ_row x", [x]) {
            $0[0] * $0[0].sum(axes: [1], keepDims: true)
        } reference: {
            $0[0] * Ref.sum($0[0], axes: [1], keepDims: true)
        }
        checkOp("softmax(x)ᵀ·x", [x]) {
            matmul(softmax($0[0]), $0[0], transposeA: true)
        } reference: {
            Ref.matmul(Ref.softmax($0[0], axis: -1), $0[0], transposeA: true)
        }
    }
}
