// Vectorised, multi-threaded kernels of the optimiser step: AdamW's update, clipping's sum of squares and scaling.
//
// Each kernel performs the scalar reference loop's IEEE operations per element in the same order. Multiply,
// add, subtract, divide and square root are correctly rounded, so eight lanes give the scalar results bit for
// bit; Swift does not contract a*b+c into an FMA, so none appears. Work over a list of tensors (one step
// updates every parameter: many small biases and one 3.9 M-entry embedding table) is cut into parts of about
// equal size over the tensors laid end to end, which the pool's threads claim dynamically: one parallel loop
// per step, not one per tensor.
//
// The sum of squares keeps the scalar order too (a Float running sum per tensor, element by element, then
// the Double total over tensors in order), so the norm is bit-identical; it skips blocks of eight zeros
// (adding +0 to a non-negative running sum leaves it unchanged), which makes a mostly-zero embedding gradient
// cheap; `globalNorm` (GradientNorm.swift) runs the other tensors eight at a time in lanes.
import _Builtin_intrinsics.intel

/// Eight Float lanes (AVX). A file-local name, independent of the element-wise kernels' vector width.
fileprivate typealias Lanes = SIMD8<Float>

/// The per-step constants of AdamW's element update (see `OptimizerKernels.adamW`).
public struct AdamWStepConstants: Sendable, Equatable {
    /// 1 − lr·λ.
    public var decay: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    /// √(1 − β₂ᵗ).
    public var bc2Sqrt: Float
    /// lr / (1 − β₁ᵗ).
    public var stepSize: Float

    public init(decay: Float, beta1: Float, beta2: Float, epsilon: Float, bc2Sqrt: Float, stepSize: Float) {
        self.decay = decay
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.bc2Sqrt = bc2Sqrt
        self.stepSize = stepSize
    }
}

public enum OptimizerKernels {
    // MARK: AdamW

    /// The scalar reference: PyTorch's single-tensor AdamW on each element, with the gradient first scaled
    /// as `g·scale + 0` when `scale` is given (what clipping's `Tensor * Float` stores).
    public static func adamWReference(
        parameter p: UnsafeMutableBufferPointer<Float>, m: UnsafeMutableBufferPointer<Float>,
        v: UnsafeMutableBufferPointer<Float>, gradient g: UnsafeBufferPointer<Float>, _ c: AdamWStepConstants,
        gradientScale scale: Float? = nil
    ) {
        let n = p.count
        check(
            m.count == n && v.count == n && g.count == n, "adamW: sizes \(n), \(m.count), \(v.count), \(g.count) differ"
        )
        let (b1, b2, eps, decay, bc2Sqrt, stepSize) = (c.beta1, c.beta2, c.epsilon, c.decay, c.bc2Sqrt, c.stepSize)
        for j in 0..<n {
            let gj = scale.map { g[j] * $0 + 0 } ?? g[j]
            p[j] *= decay
            m[j] += (1 - b1) * (gj - m[j])  // PyTorch: exp_avg.lerp_(grad, 1 − β₁)
            v[j] = v[j] * b2 + (1 - b2) * (gj * gj)
            let denom = v[j].squareRoot() / bc2Sqrt + eps
            p[j] -= stepSize * (m[j] / denom)  // addcdiv_(m, denom, −stepSize)
        }
    }

    /// AdamW over one tensor's buffers, eight lanes at a time, on the calling thread; bit-identical to
    /// `adamWReference`.
    public static func adamW(
        parameter p: UnsafeMutableBufferPointer<Float>, m: UnsafeMutableBufferPointer<Float>,
        v: UnsafeMutableBufferPointer<Float>, gradient g: UnsafeBufferPointer<Float>, _ c: AdamWStepConstants,
        gradientScale scale: Float? = nil
    ) {
        let n = p.count
        check(
            m.count == n && v.count == n && g.count == n, "adamW: sizes \(n), \(m.count), \(v.count), \(g.count) differ"
        )
        guard n > 0 else { return }
        adamWSpan(
            p.baseAddress!, m.baseAddress!, v.baseAddress!, g.baseAddress!, 0..<n, AdamWLanes(c), scale: scale)
    }

    /// AdamW over many tensors (`parameters[i]`, `m[i]`, `v[i]`, `gradients[i]` of equal counts) on all threads;
    /// bit-identical to `adamWReference` on each. The buffers must not overlap one another.
    ///
    /// `untouched[i]`, when given, holds a byte per whole block of `untouchedBlock` entries of tensor i: non-zero
    /// while that block's m and v are all +0. Such a block whose gradient is all +0 too gets only p ← p·(1 − lr·λ)
    /// (the update's other terms are exactly +0 there, when ε > 0), reading p and g instead of p, m, v and g; the rows
    /// of an embedding table that no batch has used yet cost 12 bytes an entry, not 28. A block that gets a
    /// non-zero gradient is updated in full and its byte cleared.
    public static func adamW(
        parameters: [UnsafeMutableBufferPointer<Float>], m: [UnsafeMutableBufferPointer<Float>],
        v: [UnsafeMutableBufferPointer<Float>], gradients: [UnsafeBufferPointer<Float>], _ c: AdamWStepConstants,
        gradientScale scale: Float? = nil, untouched: [UnsafeMutableBufferPointer<UInt8>]? = nil,
        serial: Bool = false
    ) {
        let k = parameters.count
        check(
            m.count == k && v.count == k && gradients.count == k && (untouched?.count ?? k) == k,
            "adamW: \(k) parameters, \(m.count)/\(v.count)/\(gradients.count)/\(untouched?.count ?? k) states")
        for i in 0..<k {
            let n = parameters[i].count
            check(
                m[i].count == n && v[i].count == n && gradients[i].count == n,
                "adamW: tensor \(i) sizes \(n), \(m[i].count), \(v[i].count), \(gradients[i].count) differ")
            if let u = untouched?[i] {
                check(u.count == n / untouchedBlock, "adamW: tensor \(i) has \(u.count) block flags for \(n) entries")
            }
        }
        let lanes = AdamWLanes(c)
        // The shortcut is exact only where the full update's terms are: 0·(1 − β) and 0·scale ±0 (finite factors),
        // and 0 / (√0 / bc₂ + ε) · stepSize ±0 (ε > 0, finite bc₂ > 0 and stepSize); else every block runs in full.
        let finite = [c.epsilon, c.bc2Sqrt, c.stepSize, c.beta1, c.beta2, scale ?? 1].allSatisfy(\.isFinite)
        let skip = finite && c.epsilon > 0 && c.bc2Sqrt > 0
        let flags = skip ? untouched : nil
        let (pp, mp, vp, gp) = (SendableBox(parameters), SendableBox(m), SendableBox(v), SendableBox(gradients))
        let fp = SendableBox(flags)
        forEachSpan(counts: parameters.map(\.count), serial: serial) { i, range in
            let (p, m, v, g) = (
                pp.value[i].baseAddress!, mp.value[i].baseAddress!, vp.value[i].baseAddress!, gp.value[i].baseAddress!
            )
            var rest = range
            if let u = fp.value?[i], let f = u.baseAddress {
                rest = untouchedSpan(p, m, v, g, f, range, lanes, scale: scale)
            } else if let u = untouched?[i], let f = u.baseAddress {
                // Not skipping this step: every whole block in range is updated, so none stays untouched.
                let blocks = (range.upperBound + untouchedBlock - 1) / untouchedBlock
                for b in (range.lowerBound / untouchedBlock)..<Swift.min(u.count, blocks) { f[b] = 0 }
            }
            adamWSpan(p, m, v, g, rest, lanes, scale: scale)
        }
    }

    /// Entries per flag of `adamW`'s `untouched` (four cache lines of each buffer).
    public static let untouchedBlock = 64

    /// The whole flagged blocks of `range` (from its start, which the split keeps at a multiple of the block):
    /// untouched blocks with an all-+0 gradient only decay p; the others are updated and unflagged. Returns the
    /// part of `range` left for the plain loop (a last partial block).
    @inline(__always)
    fileprivate static func untouchedSpan(
        _ p: UnsafeMutablePointer<Float>, _ m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>,
        _ g: UnsafePointer<Float>, _ flags: UnsafeMutablePointer<UInt8>, _ range: Range<Int>, _ c: AdamWLanes,
        scale: Float?
    ) -> Range<Int> {
        let block = untouchedBlock
        precondition(range.lowerBound % block == 0, "adamW: span \(range) does not start a block")
        var i = range.lowerBound
        while i + block <= range.upperBound {
            let f = i / block
            if flags[f] != 0 {
                var any = loadLanes(g + i)
                for o in stride(from: 8, to: block, by: 8) { any = bitOr(any, loadLanes(g + i + o)) }
                if allBitsZero(any) {
                    for o in stride(from: 0, to: block, by: 8) { storeLanes(loadLanes(p + i + o) * c.decay, p + i + o) }
                    i += block
                    continue
                }
                flags[f] = 0
            }
            adamWSpan(p, m, v, g, i..<(i + block), c, scale: scale)
            i += block
        }
        return i..<range.upperBound
    }

    @inline(__always)
    fileprivate static func adamWSpan(
        _ p: UnsafeMutablePointer<Float>, _ m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>,
        _ g: UnsafePointer<Float>, _ range: Range<Int>, _ c: AdamWLanes, scale: Float?
    ) {
        if let scale {
            adamWSpan(p, m, v, g, range, c, ScaledGradient(scale: Lanes(repeating: scale)))
        } else {
            adamWSpan(p, m, v, g, range, c, RawGradient())
        }
    }

    @inline(__always)
    fileprivate static func adamWSpan<G: GradientLoad>(
        _ p: UnsafeMutablePointer<Float>, _ m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>,
        _ g: UnsafePointer<Float>, _ range: Range<Int>, _ c: AdamWLanes, _ load: G
    ) {
        var i = range.lowerBound
        while i + 8 <= range.upperBound {
            var (pv, mv, vv) = (loadLanes(p + i), loadLanes(m + i), loadLanes(v + i))
            c.update(&pv, &mv, &vv, load(loadLanes(g + i)))
            storeLanes(pv, p + i)
            storeLanes(mv, m + i)
            storeLanes(vv, v + i)
            i += 8
        }
        let rest = range.upperBound - i
        guard rest > 0 else { return }
        // The tail through the same vector code, padded with zeros (lanes are independent).
        var (pv, mv, vv, gv) = (Lanes(repeating: 0), Lanes(repeating: 0), Lanes(repeating: 0), Lanes(repeating: 0))
        for j in 0..<rest {
            pv[j] = p[i + j]
            mv[j] = m[i + j]
            vv[j] = v[i + j]
            gv[j] = g[i + j]
        }
        c.update(&pv, &mv, &vv, load(gv))
        for j in 0..<rest {
            p[i + j] = pv[j]
            m[i + j] = mv[j]
            v[i + j] = vv[j]
        }
    }

    // MARK: Gradient clipping

    /// Σx² of one buffer exactly as the scalar loop `var s: Float = 0; for x in b { s += x * x }`.
    public static func sumOfSquaresReference(_ b: UnsafeBufferPointer<Float>) -> Float {
        var s: Float = 0
        for x in b { s += x * x }
        return s
    }

    /// `sumOfSquaresReference`, bit for bit, skipping blocks of eight zeros.
    public static func sumOfSquares(_ b: UnsafeBufferPointer<Float>) -> Float {
        guard let base = b.baseAddress else { return 0 }
        return sumOfSquares(base, b.count, from: 0)
    }

    /// `s` plus the squares of x[0..<n] in order, skipping blocks of zeros.
    static func sumOfSquares(_ x: UnsafePointer<Float>, _ n: Int, from s: Float) -> Float {
        var s = s
        var i = 0
        // Four blocks of eight tested at once: embedding gradients are zero in long runs of whole rows.
        while i + 32 <= n {
            let a = loadLanes(x + i), b = loadLanes(x + i + 8), c = loadLanes(x + i + 16), d = loadLanes(x + i + 24)
            if !allZeroValues(bitOr(bitOr(a, b), bitOr(c, d))) {
                for j in i..<(i + 32) { s += x[j] * x[j] }
            }
            i += 32
        }
        while i < n {
            s += x[i] * x[i]
            i += 1
        }
        return s
    }

    /// x ← x·scale + 0 in place (the values `Tensor * scale` gives), on all threads; blocks whose bits are
    /// all zero are left unwritten (+0 maps to +0).
    public static func scale(_ buffers: [UnsafeMutableBufferPointer<Float>], by scale: Float, serial: Bool = false) {
        let bp = SendableBox(buffers)
        let s = Lanes(repeating: scale)
        forEachSpan(counts: buffers.map(\.count), serial: serial) { i, range in
            let x = bp.value[i].baseAddress!
            var j = range.lowerBound
            while j + 8 <= range.upperBound {
                let a = loadLanes(x + j)
                if !allBitsZero(a) { storeLanes(a * s + 0, x + j) }
                j += 8
            }
            while j < range.upperBound {
                x[j] = x[j] * scale + 0
                j += 1
            }
        }
    }

    /// Sets every element of `buffer` to +0 on all threads, writing only the blocks of eight that are not
    /// already all-zero bits (a mostly-zero embedding gradient costs one read).
    public static func zero(_ buffer: UnsafeMutableBufferPointer<Float>, serial: Bool = false) {
        guard let base = buffer.baseAddress else { return }
        let box = SendableBox(base)
        forEachSpan(counts: [buffer.count], serial: serial) { _, range in
            let x = box.value
            var j = range.lowerBound
            while j + 8 <= range.upperBound {
                if !allBitsZero(loadLanes(x + j)) { storeLanes(Lanes(repeating: 0), x + j) }
                j += 8
            }
            while j < range.upperBound {
                x[j] = 0
                j += 1
            }
        }
    }

    // MARK: Splitting work over tensors

    /// Calls `body(tensor, range)` over every element of tensors with `counts` laid end to end, in parts of
    /// about equal size (pieces starting at multiples of 64 within each tensor) claimed by the pool's threads.
    fileprivate static func forEachSpan(counts: [Int], serial: Bool, _ body: @escaping (Int, Range<Int>) -> Void) {
        let total = counts.reduce(0, +)
        guard total > 0 else { return }
        let threads = Threads.count
        if serial || threads == 1 || total < 1 << 15 {
            for (i, n) in counts.enumerated() where n > 0 { body(i, 0..<n) }
            return
        }
        // Parts of ≥ 32 K elements, about 8 per thread, so a thread slowed by the machine's other load leaves
        // its share to the others; pieces start at multiples of 64 in each tensor (AdamW's untouched blocks).
        let partSize = max(1 << 15, ((total + threads * 8 - 1) / (threads * 8) + 63) / 64 * 64)
        // Cut each tensor into pieces of at most partSize, then group consecutive pieces into parts.
        var spans: [(tensor: Int, range: Range<Int>)] = []
        var partStarts: [Int] = [0]
        var filled = 0
        for (i, n) in counts.enumerated() {
            var lo = 0
            while lo < n {
                let hi = min(n, lo + max(64, (partSize - filled) / 64 * 64))
                spans.append((i, lo..<hi))
                filled += hi - lo
                lo = hi
                if filled >= partSize - 63 {
                    partStarts.append(spans.count)
                    filled = 0
                }
            }
        }
        if partStarts.last != spans.count { partStarts.append(spans.count) }
        let parts = partStarts.count - 1
        Parallel.forEach(parts) { part, _ in
            for s in partStarts[part]..<partStarts[part + 1] { body(spans[s].tensor, spans[s].range) }
        }
    }
}

/// AdamW's element update on eight lanes, in the reference's order of operations.
fileprivate struct AdamWLanes {
    let decay, beta1, beta2, epsilon, bc2Sqrt, stepSize, oneMinusBeta1, oneMinusBeta2: Lanes

    init(_ c: AdamWStepConstants) {
        decay = Lanes(repeating: c.decay)
        beta1 = Lanes(repeating: c.beta1)
        beta2 = Lanes(repeating: c.beta2)
        epsilon = Lanes(repeating: c.epsilon)
        bc2Sqrt = Lanes(repeating: c.bc2Sqrt)
        stepSize = Lanes(repeating: c.stepSize)
        oneMinusBeta1 = Lanes(repeating: 1 - c.beta1)
        oneMinusBeta2 = Lanes(repeating: 1 - c.beta2)
    }

    @inline(__always)
    func update(_ p: inout Lanes, _ m: inout Lanes, _ v: inout Lanes, _ g: Lanes) {
        p = p * decay
        m = m + oneMinusBeta1 * (g - m)
        v = v * beta2 + oneMinusBeta2 * (g * g)
        // vsqrtps (correctly rounded, as the scalar sqrtss); SIMD's generic squareRoot() goes lane by lane.
        let denom = _mm256_sqrt_ps(v) / bc2Sqrt + epsilon
        p = p - stepSize * (m / denom)
    }
}

/// How the AdamW kernel reads a gradient: as stored, or scaled by clipping's coefficient.
fileprivate protocol GradientLoad {
    func callAsFunction(_ g: Lanes) -> Lanes
}

fileprivate struct RawGradient: GradientLoad {
    @inline(__always) func callAsFunction(_ g: Lanes) -> Lanes { g }
}

fileprivate struct ScaledGradient: GradientLoad {
    let scale: Lanes
    @inline(__always) func callAsFunction(_ g: Lanes) -> Lanes { g * scale + 0 }
}

// Lane tests through vptest: SIMD's generic mask operations (.!=, any) compile lane by lane through memory.

/// Whether every lane's bits are zero (+0).
@inline(__always) private func allBitsZero(_ x: Lanes) -> Bool {
    let i = unsafeBitCast(x, to: SIMD4<Int64>.self)
    return _mm256_testz_si256(i, i) != 0
}

/// Whether every lane is +0 or −0 (no bit set but the sign).
@inline(__always) private func allZeroValues(_ x: Lanes) -> Bool {
    let i = unsafeBitCast(x, to: SIMD4<Int64>.self)
    return _mm256_testz_si256(i, SIMD4<Int64>(repeating: 0x7fff_ffff_7fff_ffff)) != 0
}

/// The bitwise or of two vectors.
@inline(__always) private func bitOr(_ a: Lanes, _ b: Lanes) -> Lanes {
    _mm256_or_ps(a, b)
}

@inline(__always) private func loadLanes(_ p: UnsafePointer<Float>) -> Lanes {
    UnsafeRawPointer(p).loadUnaligned(as: Lanes.self)
}

@inline(__always) private func loadLanes(_ p: UnsafeMutablePointer<Float>) -> Lanes {
    UnsafeRawPointer(p).loadUnaligned(as: Lanes.self)
}

@inline(__always) private func storeLanes(_ x: Lanes, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: x, as: Lanes.self)
}

/// Carries buffers into the pool's closures; the kernels write disjoint ranges of them.
private struct SendableBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
