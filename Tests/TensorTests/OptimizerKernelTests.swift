// The vectorised, multi-threaded optimiser kernels (AdamW, global norm, clipping) against scalar loops, bit for bit.
//
// The references here are the loops the kernels replaced, written out in the tests, so a kernel that changed
// the order of operations (an FMA, a reassociated sum) fails on the random inputs below.
import Foundation
import Testing
import Tensor

/// Reproducible test data from SplitMix64.
extension SplitMix64 {
    mutating func uniform() -> Float { Float(next() >> 40) / Float(1 << 24) }
    /// Mostly normal-ish values over several magnitudes, with exact zeros, negative zeros and tiny values.
    mutating func gradient() -> Float {
        switch next() % 10 {
        case 0: return 0
        case 1: return -0.0
        case 2: return (uniform() - 0.5) * 1e-30
        default: return (uniform() - 0.5) * Float(1 << (next() % 6)) * 1e-3
        }
    }
    /// Values with whole rows of zeros, as an embedding gradient: `rows` rows of `dim`, a fifth of them used.
    mutating func sparseRows(_ rows: Int, _ dim: Int) -> [Float] {
        var out = [Float](repeating: 0, count: rows * dim)
        for r in 0..<rows where next() % 5 == 0 {
            for j in 0..<dim { out[r * dim + j] = gradient() }
        }
        return out
    }
}

private func bits(_ a: [Float]) -> [UInt32] { a.map(\.bitPattern) }
private func bits(_ t: Tensor) -> [UInt32] { t.scalars.map(\.bitPattern) }
/// How many entries of two equally long arrays differ in their bits.
private func differing(_ a: [Float], _ b: [Float]) -> Int {
    a.count != b.count ? max(a.count, b.count) : zip(a, b).filter { $0.bitPattern != $1.bitPattern }.count
}

/// The AdamW loop as it was before the kernels (PyTorch's single-tensor path), constants computed inline.
private func referenceAdamWStep(
    p: inout [Float], m: inout [Float], v: inout [Float], g: [Float], step: Int, lr: Float, wd: Float,
    b1: Float = 0.9, b2: Float = 0.999, eps: Float = 1e-8
) {
    var pb1 = 1.0, pb2 = 1.0
    for _ in 0..<step {
        pb1 *= Double(b1)
        pb2 *= Double(b2)
    }
    let bc1 = 1 - Float(pb1)
    let bc2Sqrt = Float(Double(1 - pb2).squareRoot())
    let stepSize = lr / bc1
    let decay = 1 - lr * wd
    for j in 0..<p.count {
        p[j] *= decay
        m[j] += (1 - b1) * (g[j] - m[j])
        v[j] = v[j] * b2 + (1 - b2) * (g[j] * g[j])
        let denom = v[j].squareRoot() / bc2Sqrt + eps
        p[j] -= stepSize * (m[j] / denom)
    }
}

/// The clipping loop as it was: Float Σx² per tensor, Double total, then `t * coef` copies.
private func referenceClip(_ grads: [[Float]], maxNorm: Float) -> (norm: Float, scaled: [[Float]]) {
    var total: Double = 0
    for g in grads {
        var s: Float = 0
        for x in g { s += x * x }
        total += Double(s)
    }
    let norm = Float(total.squareRoot())
    let coef = min(maxNorm / (norm + 1e-6), 1)
    let scaled = coef < 1 ? grads.map { $0.map { $0 * coef + 0 } } : grads
    return (norm, scaled)
}

@Suite struct OptimizerKernelTests {
    /// Sizes around the vector width and the parallel threshold, including a 30522×128-like sparse table cut down.
    static let sizes = [0, 1, 7, 8, 9, 31, 33, 100, 1027]

    @Test(arguments: sizes)
    func adamWKernelMatchesTheScalarLoopBitForBit(n: Int) {
        var rng = SplitMix64(seed: UInt64(n) + 1)
        let g0 = (0..<n).map { _ in rng.gradient() }
        let p0 = (0..<n).map { _ in rng.uniform() - 0.5 }
        let m0 = (0..<n).map { _ in rng.gradient() }
        let v0 = (0..<n).map { _ in rng.uniform() * 1e-5 }
        let c = AdamWStepConstants(
            decay: 1 - 5e-4 * 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, bc2Sqrt: 0.0447, stepSize: 3.1e-3)
        for scale: Float? in [nil, 0.37] {
            var (p1, m1, v1) = (p0, m0, v0)
            var (p2, m2, v2) = (p0, m0, v0)
            g0.withUnsafeBufferPointer { g in
                p1.withUnsafeMutableBufferPointer { p in
                    m1.withUnsafeMutableBufferPointer { m in
                        v1.withUnsafeMutableBufferPointer { v in
                            OptimizerKernels.adamWReference(
                                parameter: p, m: m, v: v, gradient: g, c, gradientScale: scale)
                        }
                    }
                }
                p2.withUnsafeMutableBufferPointer { p in
                    m2.withUnsafeMutableBufferPointer { m in
                        v2.withUnsafeMutableBufferPointer { v in
                            OptimizerKernels.adamW(parameter: p, m: m, v: v, gradient: g, c, gradientScale: scale)
                        }
                    }
                }
            }
            #expect(bits(p1) == bits(p2), "parameters, scale \(String(describing: scale))")
            #expect(bits(m1) == bits(m2), "first moments")
            #expect(bits(v1) == bits(v2), "second moments")
            if n > 0 { #expect(bits(p1) != bits(p0), "the step changed nothing") }
        }
    }

    /// The optimiser over many tensors (small biases and two large ones, so the work is split inside tensors
    /// and across threads) for three steps, against the old loop; the serial schedule gives the same bits.
    @Test func adamWUpdateMatchesTheOldLoopOverManyTensorsAndSteps() {
        var rng = SplitMix64(seed: 42)
        let shapes: [[Int]] = [[3], [128], [313, 128], [17], [70_001], [512], [2, 2]]
        var params = shapes.map { s in Tensor(shape: s, scalars: (0..<shapeCount(s)).map { _ in rng.uniform() - 0.5 }) }
        var refP = params.map(\.scalars)
        var refM = params.map { [Float](repeating: 0, count: $0.count) }
        var refV = refM
        var opt = AdamW(learningRate: 2e-3, weightDecay: 0.01)
        for step in 1...3 {
            let grads = shapes.enumerated().map { i, s in
                Tensor(
                    shape: s,
                    scalars: i == 2 ? rng.sparseRows(313, 128) : (0..<shapeCount(s)).map { _ in rng.gradient() })
            }
            let lr: Float = 2e-3 * Float(step) / 3
            opt.learningRate = lr
            opt.update(&params, gradients: grads)
            for i in shapes.indices {
                referenceAdamWStep(
                    p: &refP[i], m: &refM[i], v: &refV[i], g: grads[i].scalars, step: step, lr: lr, wd: 0.01)
                #expect(bits(params[i]) == bits(refP[i]), "step \(step) parameter \(i)")
                #expect(bits(opt.m[i]) == bits(refM[i]) && bits(opt.v[i]) == bits(refV[i]), "step \(step) moments \(i)")
            }
        }
    }

    /// The untouched-block shortcut (only p·decay where m, v and g are all +0): an embedding-like table whose rows
    /// get their first gradient at different steps, a gradient scale on some steps, −0 gradients, and a JSON round
    /// trip of the optimiser mid-run (the flags are rebuilt from the moments) give the reference's bits. With ε = 0
    /// the full update makes 0/0 = NaN there, and so must the optimiser.
    @Test(arguments: [Float(1e-8), 0])
    func untouchedBlocksMatchTheReferenceBitForBit(epsilon: Float) throws {
        var rng = SplitMix64(seed: 77)
        let shapes: [[Int]] = [[1000, 64], [4100], [70]]
        var params = shapes.map { s in Tensor(shape: s, scalars: (0..<shapeCount(s)).map { _ in rng.uniform() - 0.5 }) }
        var refP = params.map(\.scalars)
        var refM = params.map { [Float](repeating: 0, count: $0.count) }
        var refV = refM
        var opt = AdamW(learningRate: 1e-3, epsilon: epsilon, weightDecay: 0.1)
        for step in 1...6 {
            let grads = shapes.enumerated().map { i, s -> Tensor in
                var g = [Float](repeating: 0, count: shapeCount(s))
                // Table rows below 150·step may be used (a third of them); the other tensors from step 3 on.
                let live = i == 0 ? 150 * step * 64 : (step >= 3 ? g.count : 0)
                for r in stride(from: 0, to: live, by: 64) where rng.next() % 3 == 0 {
                    for j in r..<Swift.min(r + 64, g.count) { g[j] = rng.gradient() }
                }
                if i == 0 && step == 2 { g[999 * 64 + 5] = -0.0 }  // a −0 alone in a block: updated in full
                return Tensor(shape: s, scalars: g)
            }
            if step == 4 {
                opt = try JSONDecoder().decode(AdamW.self, from: try JSONEncoder().encode(opt))
            }
            let scale: Float? = step % 2 == 0 ? 0.5 : nil
            opt.update(&params, gradients: grads, gradientScale: scale)
            for i in shapes.indices {
                let g = grads[i].scalars.map { x in scale.map { x * $0 + 0 } ?? x }
                referenceAdamWStep(
                    p: &refP[i], m: &refM[i], v: &refV[i], g: g, step: step, lr: 1e-3, wd: 0.1, eps: epsilon)
                // Counts, not arrays: a failed == on 64,000 entries makes the test library diff them for minutes.
                #expect(differing(params[i].scalars, refP[i]) == 0, "step \(step) parameter \(i)")
                #expect(differing(opt.m[i], refM[i]) + differing(opt.v[i], refV[i]) == 0, "step \(step) moments \(i)")
            }
        }
        if epsilon == 0 { #expect(params[0].scalars.contains { $0.isNaN }) }
    }

    /// A non-finite gradient scale turns the shortcut off: the reference reads a +0 gradient as 0·∞ = NaN.
    @Test func anInfiniteGradientScaleTurnsTheShortcutOff() {
        var params = [Tensor(shape: [256], scalars: (0..<256).map { Float($0) })]
        var opt = AdamW(learningRate: 1e-3)
        opt.update(&params, gradients: [Tensor.zeros([256])], gradientScale: .infinity)
        #expect(params[0].scalars.allSatisfy { $0.isNaN })
    }

    @Test func multiTensorAdamWIsTheSameOnOneThreadAndOnAll() {
        var rng = SplitMix64(seed: 7)
        let counts = [5, 40_000, 9, 100_003, 64]
        let g = counts.map { n in (0..<n).map { _ in rng.gradient() } }
        let p0 = counts.map { n in (0..<n).map { _ in rng.uniform() } }
        let c = AdamWStepConstants(
            decay: 0.99999, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, bc2Sqrt: 0.1, stepSize: 1e-3)
        func run(serial: Bool) -> [[Float]] {
            var p = p0
            var m = counts.map { [Float](repeating: 0.001, count: $0) }
            var v = counts.map { [Float](repeating: 0.002, count: $0) }
            let pb = p.indices.map { i in p[i].withUnsafeMutableBufferPointer { $0 } }
            let mb = m.indices.map { i in m[i].withUnsafeMutableBufferPointer { $0 } }
            let vb = v.indices.map { i in v[i].withUnsafeMutableBufferPointer { $0 } }
            let gb = g.map { a in a.withUnsafeBufferPointer { $0 } }
            withExtendedLifetime(g) {
                OptimizerKernels.adamW(
                    parameters: pb, m: mb, v: vb, gradients: gb, c, gradientScale: 0.5, serial: serial)
            }
            return p + m + v
        }
        let (a, b) = (run(serial: true), run(serial: false))
        #expect(a.map(bits) == b.map(bits))
        // Every element was updated exactly once (not skipped, not twice): compare against one reference pass.
        var ref = p0
        for i in counts.indices {
            var m = [Float](repeating: 0.001, count: counts[i]), v = [Float](repeating: 0.002, count: counts[i])
            ref[i].withUnsafeMutableBufferPointer { p in
                m.withUnsafeMutableBufferPointer { mb in
                    v.withUnsafeMutableBufferPointer { vb in
                        g[i].withUnsafeBufferPointer { gb in
                            OptimizerKernels.adamWReference(
                                parameter: p, m: mb, v: vb, gradient: gb, c, gradientScale: 0.5)
                        }
                    }
                }
            }
        }
        #expect(Array(b.prefix(counts.count)).map(bits) == ref.map(bits))
    }

    @Test(arguments: sizes + [32, 4096 + 5])
    func sumOfSquaresMatchesTheScalarLoop(n: Int) {
        var rng = SplitMix64(seed: UInt64(n) &* 3 + 5)
        let dense = (0..<n).map { _ in rng.gradient() }
        let sparse = rng.sparseRows((n + 7) / 8, 8).prefix(n)
        for x in [dense, Array(sparse), [Float](repeating: -0.0, count: n)] {
            x.withUnsafeBufferPointer { b in
                #expect(
                    OptimizerKernels.sumOfSquares(b).bitPattern == OptimizerKernels.sumOfSquaresReference(b).bitPattern)
            }
        }
        // NaN and infinity are not skipped.
        if n >= 32 {
            var y = [Float](repeating: 0, count: n)
            y[n - 1] = .nan
            #expect(y.withUnsafeBufferPointer { OptimizerKernels.sumOfSquares($0) }.isNaN)
            y[n - 1] = 0
            y[17] = .infinity
            #expect(y.withUnsafeBufferPointer { OptimizerKernels.sumOfSquares($0) } == .infinity)
        }
    }

    /// Clipping in place (and `gradientNorm`) against the old norm and `t * coef` copies, on a mostly-zero
    /// embedding-like table plus dense tensors; also when two gradients share storage.
    @Test func clippingMatchesTheOldLoopBitForBit() {
        var rng = SplitMix64(seed: 99)
        let table = rng.sparseRows(3001, 128)
        let dense = [
            (0..<128).map { _ in rng.gradient() * 100 }, (0..<70_001).map { _ in rng.gradient() * 10 },
            [rng.gradient()],
        ]
        let all = [table] + dense
        for maxNorm: Float in [1e-3, 1, 1e6] {
            let (norm, scaled) = referenceClip(all, maxNorm: maxNorm)
            var grads = all.map { Tensor($0) }
            #expect(gradientNorm(grads).bitPattern == norm.bitPattern)
            let got = clipGradientNorm(&grads, maxNorm: maxNorm)
            #expect(got.bitPattern == norm.bitPattern)
            #expect(grads.map(bits) == scaled.map(bits), "maxNorm \(maxNorm)")
        }
        // Shared storage: scaling one copy in place leaves the other value alone.
        let t = Tensor((0..<40_000).map { _ in rng.gradient() * 100 })
        var shared = [t, t]
        let keep = t
        clipGradientNorm(&shared, maxNorm: 1e-3)
        let expected = referenceClip([t.scalars, t.scalars], maxNorm: 1e-3).scaled
        #expect(shared.map(bits) == expected.map(bits))
        #expect(bits(keep) == bits(t) && bits(keep) != bits(shared[0]))
    }

    /// The norm over many gradients of mixed lengths (more than eight per lane queue, lanes ending at different
    /// points, empty ones, one past the alone threshold) equals the scalar loop's bits; a NaN anywhere shows.
    @Test(arguments: [false, true])
    func globalNormOfManyGradientsMatchesTheScalarLoop(serial: Bool) {
        var rng = SplitMix64(seed: serial ? 12 : 13)
        var grads: [[Float]] = (0..<41).map { i in
            let n = i % 9 == 0 ? 0 : Int(rng.next() % 5000) + (i % 3 == 0 ? 20_000 : 1)
            return (0..<n).map { _ in rng.gradient() * 10 }
        }
        grads.append(rng.sparseRows(OptimizerKernels.aloneCount / 64 + 3, 64))
        grads.append([Float](repeating: 1, count: 48_000))  // equal lengths end in the same segment
        grads.append([Float](repeating: 2, count: 48_000))
        // Plus an empty buffer without a base address, which must be read as Σ = 0, not dereferenced.
        let buffers = { (g: [[Float]]) in
            g.map { a in a.withUnsafeBufferPointer { $0 } } + [UnsafeBufferPointer<Float>(start: nil, count: 0)]
        }
        #expect(
            OptimizerKernels.globalNorm(buffers(grads), serial: serial).bitPattern
                == referenceClip(grads + [[]], maxNorm: 1).norm.bitPattern)
        grads[17][grads[17].count / 2] = .nan
        #expect(OptimizerKernels.globalNorm(buffers(grads), serial: serial).isNaN)
    }

    /// AdamW reading gradients scaled on the fly equals clipping in place and then stepping.
    @Test func adamWWithAGradientScaleEqualsClippingFirst() {
        var rng = SplitMix64(seed: 5)
        let shapes: [[Int]] = [[2001, 16], [16], [33]]
        let params = shapes.map { s in Tensor(shape: s, scalars: (0..<shapeCount(s)).map { _ in rng.uniform() }) }
        let grads = shapes.map { s in Tensor(shape: s, scalars: (0..<shapeCount(s)).map { _ in rng.gradient() * 50 }) }
        var (pa, pb) = (params, params)
        var (oa, ob) = (AdamW(learningRate: 1e-3), AdamW(learningRate: 1e-3))
        for _ in 0..<2 {
            var clipped = grads
            let norm = clipGradientNorm(&clipped, maxNorm: 0.5)
            oa.update(&pa, gradients: clipped)
            let coef = clipCoefficient(norm: gradientNorm(grads), maxNorm: 0.5)
            #expect(coef < 1 && norm == gradientNorm(grads))
            ob.update(&pb, gradients: grads, gradientScale: coef)
        }
        #expect(pa.map(bits) == pb.map(bits))
        #expect(oa.m.map(bits) == ob.m.map(bits) && oa.v.map(bits) == ob.v.map(bits))
    }

    @Test func zeroKernelClearsEveryElement() {
        var rng = SplitMix64(seed: 3)
        for serial in [true, false] {
            var x = rng.sparseRows(5003, 16) + [-0.0, .nan, .infinity, 1]
            x[77] = -0.0
            x.withUnsafeMutableBufferPointer { OptimizerKernels.zero($0, serial: serial) }
            #expect(x.allSatisfy { $0.bitPattern == 0 }, "serial \(serial)")
        }
    }

    /// A recycled buffer (here full of garbage, as a clipped gradient would be) serves a large embedding's
    /// backward pass, which must give exactly the scatter-add of the rows; a recycled tensor whose storage is
    /// still shared leaves the other value unchanged.
    @Test func embeddingGradientsFromRecycledBuffersAreExact() {
        let (vocab, dim) = (8192, 128)  // 1 M elements: large enough to be recycled
        #expect(vocab * dim >= GradientBuffers.minimumCount)
        var rng = SplitMix64(seed: 11)
        let indices = [5, 8191, 5, 0, 77, 5]
        let seed = Tensor(shape: [indices.count, dim], scalars: (0..<indices.count * dim).map { _ in rng.gradient() })
        var expected = [Float](repeating: 0, count: vocab * dim)
        for (r, i) in indices.enumerated() {
            for j in 0..<dim { expected[i * dim + j] += seed.scalars[r * dim + j] }
        }
        let weight = Tensor(shape: [vocab, dim], scalars: (0..<vocab * dim).map { _ in rng.uniform() })
        for round in 0..<3 {
            var garbage = Tensor(shape: [vocab, dim], scalars: (0..<vocab * dim).map { _ in rng.uniform() - 0.5 })
            let shared = garbage
            GradientBuffers.recycle(&garbage)
            #expect(garbage.count == 0)
            #expect(shared.scalars.contains { $0 != 0 }, "recycling zeroed a value still in use")
            let tape = GradientTape()
            let (w, out) = tape.record {
                let w = tape.watch(weight)
                return (w, embedding(w, indices: indices))
            }
            var dw = tape.gradients(of: out, wrt: [w], seed: seed)[0]
            #expect(bits(dw) == bits(expected), "round \(round)")
            GradientBuffers.recycle(&dw)
        }
    }
}
