// The raw-buffer inference kernels (attention, epilogues, embedding sums) against naive Float64 references.
//
// These kernels have no VJP (models use them only when nothing records), so only their forwards are
// checked: Float32 results vs Float64 loops on the same inputs, with `fwdTol` (GradCheck.swift), over odd
// sizes (vector tails), strided layouts, padding masks and both the serial and the parallel schedule.
import Foundation
import Testing
import Tensor

/// Float64 softmax(scale·q·kᵀ + mask)·v for one (b, h), rows of q [tq, d], k and v [tk, d].
private func referenceAttention(
    q: [[Double]], k: [[Double]], v: [[Double]], mask: [[Double]], scale: Double
) -> (context: [[Double]], probs: [[Double]]) {
    var ctx: [[Double]] = [], probs: [[Double]] = []
    for (i, qi) in q.enumerated() {
        // Masked entries are −FLT_MAX in float32: after adding, every masked score equals it exactly.
        let s = k.enumerated().map { j, kj in
            mask[i][j] != 0
                ? -Double(Float.greatestFiniteMagnitude) : scale * zip(qi, kj).reduce(0) { $0 + $1.0 * $1.1 }
        }
        let m = s.max()!
        let e = s.map { Foundation.exp($0 - m) }
        let z = e.reduce(0, +)
        let p = e.map { $0 / z }
        probs.append(p)
        ctx.append((0..<qi.count).map { c in zip(p, v).reduce(0) { $0 + $1.0 * $1.1[c] } })
    }
    return (ctx, probs)
}

private func close(_ ours: [Float], _ ref: [Double], _ what: String, sourceLocation: SourceLocation = #_sourceLocation)
{
    expectClose(ours, ref, tol: fwdTol, scale: { 1 + abs($0) }, what, sourceLocation: sourceLocation)
}

@Suite struct FusedKernelTests {
    /// Q packed with K and V as [B, T, 3, NH, D] (a fused projection), K and V also tried as a [B, NH, cap, D]
    /// cache; context written as [B, Tq, NH·D]; padding masks a key per batch row and, in batch row 1, all
    /// keys of query 0 (uniform probabilities, as transformers).
    @Test(arguments: [(2, 3, 5, 7, 4), (2, 4, 9, 19, 8), (2, 4, 64, 64, 16), (1, 2, 1, 37, 8)])
    func attentionMatchesReference(shape: (Int, Int, Int, Int, Int)) {
        let (b, nh, tq, tk, d) = shape
        let h = nh * d
        var gen = Inputs(seed: UInt64(tq * 1000 + tk))
        let qkv = gen.normal([b, tk, 3 * h]).scalars  // queries use the first tq rows
        let cap = tk + 3
        // The same keys/values laid out as a cache with spare capacity.
        var kc = [Float](repeating: .nan, count: b * nh * cap * d), vc = kc
        for bb in 0..<b {
            for t in 0..<tk {
                for hh in 0..<nh {
                    for j in 0..<d {
                        kc[((bb * nh + hh) * cap + t) * d + j] = qkv[(bb * tk + t) * 3 * h + h + hh * d + j]
                        vc[((bb * nh + hh) * cap + t) * d + j] = qkv[(bb * tk + t) * 3 * h + 2 * h + hh * d + j]
                    }
                }
            }
        }
        var maskBits = [[[Double]]](
            repeating: [[Double]](repeating: [Double](repeating: 0, count: tk), count: tq), count: b)
        for bb in 0..<b { for i in 0..<tq { maskBits[bb][i][(bb + 1) % tk] = 1 } }
        if b > 1 && tk > 1 { maskBits[1][0] = [Double](repeating: 1, count: tk) }
        let mask = maskBits.flatMap { $0.flatMap { $0.map { $0 != 0 ? -Float.greatestFiniteMagnitude : 0 } } }
        let scale = 1 / Float(d).squareRoot()

        var refCtx = [Double](repeating: 0, count: b * tq * h),
            refProbs = [Double](repeating: 0, count: b * nh * tq * tk)
        for bb in 0..<b {
            for hh in 0..<nh {
                func rows(_ off: Int, _ n: Int) -> [[Double]] {
                    (0..<n).map { t in (0..<d).map { Double(qkv[(bb * tk + t) * 3 * h + off + hh * d + $0]) } }
                }
                let r = referenceAttention(
                    q: rows(0, tq), k: rows(h, tk), v: rows(2 * h, tk), mask: maskBits[bb], scale: Double(scale))
                for i in 0..<tq {
                    for j in 0..<d { refCtx[(bb * tq + i) * h + hh * d + j] = r.context[i][j] }
                    for j in 0..<tk { refProbs[((bb * nh + hh) * tq + i) * tk + j] = r.probs[i][j] }
                }
            }
        }
        let packed = AttentionKernel.Layout(batch: tk * 3 * h, head: d, row: 3 * h)
        let cacheLayout = AttentionKernel.Layout(batch: nh * cap * d, head: cap * d, row: d)
        for fromCache in [false, true] {
            for withProbs in [false, true] {
                var ctx = [Float](repeating: .nan, count: b * tq * h)
                var probs = [Float](repeating: .nan, count: b * nh * tq * tk)
                qkv.withUnsafeBufferPointer { p in
                    kc.withUnsafeBufferPointer { kp in
                        vc.withUnsafeBufferPointer { vp in
                            mask.withUnsafeBufferPointer { mp in
                                probs.withUnsafeMutableBufferPointer { pp in
                                    ctx.withUnsafeMutableBufferPointer { cp in
                                        AttentionKernel.forward(
                                            batch: b, heads: nh, queries: tq, keys: tk, headSize: d, scale: scale,
                                            q: p.baseAddress!, packed,
                                            k: fromCache ? kp.baseAddress! : p.baseAddress! + h,
                                            fromCache ? cacheLayout : packed,
                                            v: fromCache ? vp.baseAddress! : p.baseAddress! + 2 * h,
                                            fromCache ? cacheLayout : packed,
                                            mask: mp.baseAddress!, maskBatchStride: tq * tk, maskRowStride: tk,
                                            context: cp.baseAddress!,
                                            AttentionKernel.Layout(batch: tq * h, head: d, row: h),
                                            probabilities: withProbs ? pp.baseAddress! : nil)
                                    }
                                }
                            }
                        }
                    }
                }
                close(ctx, refCtx, "context \(shape) cache \(fromCache) probs \(withProbs)")
                if withProbs { close(probs, refProbs, "probabilities \(shape) cache \(fromCache)") }
            }
        }
    }

    @Test(arguments: [Epilogue.identity, .gelu(.none), .gelu(.tanh), .relu])
    func biasActivationMatchesReference(epilogue: Epilogue) {
        let (rows, n, ld) = (300, 13, 16)  // 300·13·24 elements: the parallel schedule; 13: a vector tail
        var gen = Inputs(seed: 3)
        var y = gen.uniform([rows * ld], -4, 4).scalars
        let bias = gen.uniform([n]).scalars
        var ref = y.map(Double.init)
        for r in 0..<rows {
            for j in 0..<n {
                let x = Double(y[r * ld + j] + bias[j])  // the sum rounds in float32, as `gelu(y + b)`
                switch epilogue {
                case .identity: ref[r * ld + j] = x
                case .gelu(.none): ref[r * ld + j] = Ref.gelu(x)
                case .gelu(.tanh): ref[r * ld + j] = Ref.geluTanh(x)
                case .relu: ref[r * ld + j] = max(x, 0)
                }
            }
        }
        y.withUnsafeMutableBufferPointer { p in
            bias.withUnsafeBufferPointer {
                FusedKernels.biasActivation(p.baseAddress!, rows: rows, n: n, ld: ld, bias: $0.baseAddress, epilogue)
            }
        }
        close(y, ref, "\(epilogue)")  // the padding columns n..<ld are untouched
    }

    @Test(arguments: [1, 13, 64])
    func residualAndNormMatchReference(n: Int) {
        let rows = 700
        var gen = Inputs(seed: UInt64(n))
        let a = gen.normal([rows * n]).scalars, res = gen.normal([rows * n]).scalars
        let w = gen.normal([n]).scalars, lb = gen.normal([n]).scalars
        let sum = (0..<(rows * n)).map { i in res[i] + a[i] }  // the float32 rounding of the op
        var refNorm: [Double] = []
        for r in 0..<rows {
            let x = sum[(r * n)..<((r + 1) * n)].map(Double.init)
            let mu = x.reduce(0, +) / Double(n)
            let rs = 1 / (x.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / Double(n) + 1e-5).squareRoot()
            refNorm += x.enumerated().map { j, v in (v - mu) * rs * Double(w[j]) + Double(lb[j]) }
        }
        var out = [Float](repeating: .nan, count: rows * n), summed = out
        var mean = [Float](repeating: .nan, count: rows), rstd = mean
        FusedKernels.residualLayerNorm(
            &out, sum: &summed, a, shift: nil, residual: res, weight: w, lnBias: lb, eps: 1e-5, rows: rows, n: n, mean: &mean,
            rstd: &rstd)
        close(out, refNorm, "residualLayerNorm n \(n)")
        #expect(summed == sum, "the sum is residual + a in float32")
        // Against the differentiable op, with and without the residual.
        let plain = layerNorm(Tensor(shape: [rows, n], scalars: sum), weight: Tensor(w), bias: Tensor(lb), eps: 1e-5)
        #expect(plain.scalars == out, "layerNorm of the sum is the fused result")
        let op = layerNorm(
            Tensor(shape: [rows, n], scalars: a), residual: Tensor(shape: [rows, n], scalars: res), weight: Tensor(w),
            bias: Tensor(lb), eps: 1e-5)
        #expect(op.scalars == out, "same arithmetic as layerNorm")
    }

    @Test func embeddingSumMatchesReference() {
        let (rows, n, vocab) = (600, 24, 50)
        var gen = Inputs(seed: 5)
        let words = gen.normal([vocab * n]).scalars, types = gen.normal([2 * n]).scalars
        let direct = gen.normal([rows * n]).scalars
        let wi = (0..<rows).map { ($0 * 7) % vocab }, ti = (0..<rows).map { $0 % 2 }
        let w = gen.normal([n]).scalars, b = gen.normal([n]).scalars
        let sum = (0..<(rows * n)).map { i in
            (words[wi[i / n] * n + i % n] + types[ti[i / n] * n + i % n]) + direct[i]
        }
        var out = [Float](repeating: .nan, count: rows * n)
        words.withUnsafeBufferPointer { wp in
            types.withUnsafeBufferPointer { tp in
                direct.withUnsafeBufferPointer { dp in
                    FusedKernels.embeddingSum(
                        &out, rows: rows, n: n, tables: [wp.baseAddress!, tp.baseAddress!, dp.baseAddress!],
                        tableRows: [vocab, 2, rows], indices: [wi, ti, nil])
                    #expect(out == sum, "((word + type) + direct) in float32")
                    w.withUnsafeBufferPointer { pw in
                        b.withUnsafeBufferPointer { pb in
                            FusedKernels.embeddingSum(
                                &out, rows: rows, n: n, tables: [wp.baseAddress!, tp.baseAddress!, dp.baseAddress!],
                                tableRows: [vocab, 2, rows], indices: [wi, ti, nil],
                                norm: (pw.baseAddress, pb.baseAddress, 1e-12))
                        }
                    }
                }
            }
        }
        let op = layerNorm(Tensor(shape: [rows, n], scalars: sum), weight: Tensor(w), bias: Tensor(b), eps: 1e-12)
        #expect(op.scalars == out, "then layerNorm's arithmetic")
    }

    /// Parallel loops visit every index once, and BLAS threads are restored afterwards.
    @Test func parallelForEachVisitsEveryIndexOnce() {
        var seen = [Int](repeating: 0, count: 1000)
        seen.withUnsafeMutableBufferPointer { s in
            let p = s.baseAddress!
            Parallel.forEach(1000) { i, worker in
                #expect(worker < Parallel.workers(1000))
                p[i] += 1
            }
        }
        #expect(seen.allSatisfy { $0 == 1 })
        var total = 0
        Scratch.with(10) { a in
            Scratch.with(20) { b in
                #expect(a != b)
                total += 1
            }
        }
        #expect(total == 1)
    }
}
