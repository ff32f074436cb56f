// Vectorised exp, tanh and erf on 16 float lanes (one AVX-512 register), and the raw-buffer map kernels.
//
// libm's scalar expf/tanhf/erff do not vectorise, and a call per element would keep GELU, softmax and
// layer norm far below memory bandwidth. These are classic
// polynomial approximations evaluated sixteen lanes at a time (Package.swift compiles this target with
// AVX-512 when the building machine has it, as Zen 4/5 EPYC do, else as pairs of AVX2 instructions); tails
// run through the same code padded into one vector, and every lane's arithmetic is the same whatever the
// width, so a value's result never depends on its position, on the vector width a caller uses (`Float8` or
// `FloatV`), or on the thread split.

public typealias Float8 = SIMD8<Float>
/// The element-wise kernels' vector: sixteen lanes, one zmm register.
public typealias FloatV = SIMD16<Float>

/// |x| by clearing the sign bit.
@inline(__always) func vabs(_ x: FloatV) -> FloatV {
    unsafeBitCast(unsafeBitCast(x, to: SIMD16<UInt32>.self) & 0x7fff_ffff, to: FloatV.self)
}

/// a·b + c in one rounding (vfmadd with FMA enabled); Swift does not contract a*b+c by itself.
@usableFromInline @inline(__always) func fma(_ a: FloatV, _ b: FloatV, _ c: FloatV) -> FloatV {
    c.addingProduct(a, b)
}

@usableFromInline @inline(__always) func fma(_ a: Float8, _ b: Float8, _ c: Float8) -> Float8 {
    c.addingProduct(a, b)
}

/// x with the sign of s (x must be non-negative).
@inline(__always) func vcopysign(_ x: FloatV, _ s: FloatV) -> FloatV {
    let sign = unsafeBitCast(s, to: SIMD16<UInt32>.self) & 0x8000_0000
    return unsafeBitCast(unsafeBitCast(x, to: SIMD16<UInt32>.self) | sign, to: FloatV.self)
}

/// e^x, Cephes expf: x = n·ln2 + r, |r| ≤ ln2/2, degree-6 polynomial, 2^n by exponent bits.
/// Relative error ≤ 2 ulp (VectorMathAccuracyTests); +inf above 88.7, NaN for NaN, and 0 below −125.5·ln2 ≈ −86.99
/// (2^n for n = −126 has no normal exponent in the scaling below: e^x < 2^−125.5 flushes to zero).
@_transparent  // @inline(__always) can leave it out of line inside GELU's erf (a call per vector)
public func vexp(_ x: FloatV) -> FloatV {
    let hi = FloatV(repeating: 88.72283935546875)
    return vexpBoundedAbove(x.replacing(with: hi, where: x .> hi))
}

/// `vexp` for x ≤ 88.72 or NaN (softmax's x − max ≤ 0, a clamped argument): the same bits without the upper clamp.
@_transparent
@usableFromInline func vexpBoundedAbove(_ x: FloatV) -> FloatV {
    let lo = FloatV(repeating: -87.33654022216797)
    let xc = x.replacing(with: lo, where: x .< lo)
    // n = round(x / ln2) by the 1.5·2^23 trick: adding it leaves n in the low mantissa bits and
    // rounds to nearest; subtracting it gives n as a float.
    let magic = FloatV(repeating: 12582912)
    let shifted = fma(xc, FloatV(repeating: 1.44269504088896341), magic)
    let fx = shifted - magic
    let n = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- unsafeBitCast(magic, to: SIMD16<Int32>.self)
    var r = fma(fx, FloatV(repeating: -0.693359375), xc)  // Cody–Waite split of ln2
    r = fma(fx, FloatV(repeating: 2.12194440e-4), r)
    var y = FloatV(repeating: 1.9875691500e-4)
    y = fma(y, r, FloatV(repeating: 1.3981999507e-3))
    y = fma(y, r, FloatV(repeating: 8.3334519073e-3))
    y = fma(y, r, FloatV(repeating: 4.1665795894e-2))
    y = fma(y, r, FloatV(repeating: 1.6666665459e-1))
    y = fma(y, r, FloatV(repeating: 5.0000001201e-1))
    y = fma(y, r * r, r) + 1
    // Scale by 2^n, applied as 2^(n−1)·2 so that n = 128 (x near 88.7) stays finite. Below lo, xc = lo gives
    // n = −126, whose 2^(n−1) has exponent bits 0: the scale is +0 and so is the result (no blend needed).
    let scale = unsafeBitCast((n &+ 126) &<< 23, to: FloatV.self)
    return y * scale * 2
}

/// e^x on eight lanes: the sixteen-lane code on a duplicated vector (same bits; one zmm operation each).
@_transparent
public func vexp(_ x: Float8) -> Float8 { vexp(FloatV(lowHalf: x, highHalf: x)).lowHalf }

/// tanh: odd polynomial for |x| < 0.625 (Cephes tanhf), else 1 − 2/(e^{2|x|} + 1) with the sign.
@inline(__always)
public func vtanh(_ x: FloatV) -> FloatV {
    let ax = vabs(x)
    let big = vcopysign(1 - 2 / (vexp(ax + ax) + 1), x)
    let z = x * x
    var p = FloatV(repeating: -5.70498872745e-3)
    p = fma(p, z, FloatV(repeating: 2.06390887954e-2))
    p = fma(p, z, FloatV(repeating: -5.37397155531e-2))
    p = fma(p, z, FloatV(repeating: 1.33314422036e-1))
    p = fma(p, z, FloatV(repeating: -3.33332819422e-1))
    let small = fma(x * z, p, x)
    return big.replacing(with: small, where: ax .< 0.625)
}

/// erf, without exp or division. For |x| < 1, Cephes erff's odd polynomial x·T(x²) (good relative
/// accuracy near 0). For 1 ≤ |x|, erf = 1 − erfc(|x|) with erfc from a degree-12 polynomial in
/// u = min(|x|, 3.92) − 2.46: a minimax fit of erfc on [1, 3.92] (Lawson's iteration in Float64,
/// coefficients rounded to Float32; fit error 2.9e-8), and erf(x) rounds to ±1 in Float32 beyond 3.92.
/// Subtracting a value ≤ 0.16 from 1 keeps the Float32 rounding of the polynomial at ~1e-8.
/// Max |error| vs Float64 erf over a dense grid: 1.3e-7 (VectorMathAccuracyTests).
/// (Eigen's / XLA's rational x·P(x²)/Q(x²) is cheaper but not used: in Float32 its error is above this
/// library's 2.5e-7 bound, and it exceeds 1.)
@inline(__always)
public func verf(_ x: FloatV) -> FloatV {
    let ax = vabs(x)
    let z = x * x
    var q = FloatV(repeating: 7.853861353153693e-5)
    q = fma(q, z, FloatV(repeating: -8.010193625184903e-4))
    q = fma(q, z, FloatV(repeating: 5.188327685732524e-3))
    q = fma(q, z, FloatV(repeating: -2.685381193529856e-2))
    q = fma(q, z, FloatV(repeating: 1.128358514861418e-1))
    q = fma(q, z, FloatV(repeating: -3.761262582423300e-1))
    q = fma(q, z, FloatV(repeating: 1.128379165726710))
    let small = x * q
    // NaN stays NaN through the clamp (comparisons with NaN are false) and takes this branch.
    let t = ax.replacing(with: 3.92, where: ax .> 3.92)
    let u = t - 2.46
    var p = FloatV(repeating: 9.124642e-06)
    p = fma(p, u, FloatV(repeating: -2.5420464e-05))
    p = fma(p, u, FloatV(repeating: -5.1666044e-05))
    p = fma(p, u, FloatV(repeating: 0.0003016754))
    p = fma(p, u, FloatV(repeating: -0.00039113298))
    p = fma(p, u, FloatV(repeating: -0.00046216714))
    p = fma(p, u, FloatV(repeating: 0.002963511))
    p = fma(p, u, FloatV(repeating: -0.0067976536))
    p = fma(p, u, FloatV(repeating: 0.009904825))
    p = fma(p, u, FloatV(repeating: -0.009832994))
    p = fma(p, u, FloatV(repeating: 0.0065357625))
    p = fma(p, u, FloatV(repeating: -0.002656193))
    p = fma(p, u, FloatV(repeating: 0.00050332665))
    let large = vcopysign(1 - p, x)
    return large.replacing(with: small, where: ax .< 1)
}

/// Φ(x) = ½(1 + erf(x/√2)), the standard normal CDF (GELU's erf form is x·Φ(x)): `verf`'s two approximations with
/// the ½ (exact) and the 1/√2 (into the coefficients, each rounded once to Float32) folded in, which saves the
/// FMA-pipe operations that bound GELU. |x| < √2: ½ + x·D(x²) with D the Cephes erff
/// polynomial T scaled by 2^−k/(2√2); otherwise 1 − ½·erfc(|x|/√2) (x ≥ 0) or ½·erfc(|x|/√2) with the same
/// minimax erfc polynomial halved, in u = min(|x|, 3.92·√2)/√2 − 2.46 by one FMA; 0 below −3.92·√2, where
/// Φ < 1e-8 and GELU must be exactly 0, and 1 above (GELU(x) = x). Max |x·Φ − GELU| ≈ 8e-8·(1 + |x|)
/// (a Float32 simulation over [−12, 12]; VectorMathAccuracyTests bounds it by 2e-7·(1 + |x|)).
@inline(__always)
public func vphi(_ x: FloatV) -> FloatV {
    let ax = vabs(x)
    let z = x * x
    var q = FloatV(repeating: 4.3386865e-07)
    q = fma(q, z, FloatV(repeating: -8.850097e-06))
    q = fma(q, z, FloatV(repeating: 0.00011464693))
    q = fma(q, z, FloatV(repeating: -0.001186782))
    q = fma(q, z, FloatV(repeating: 0.009973374))
    q = fma(q, z, FloatV(repeating: -0.06649036))
    q = fma(q, z, FloatV(repeating: 0.3989423))
    let small = fma(x, q, FloatV(repeating: 0.5))
    let t = ax.replacing(with: 5.5437174, where: ax .> 5.5437174)
    let u = fma(t, FloatV(repeating: 0.70710677), FloatV(repeating: -2.46))
    var p = FloatV(repeating: 4.562321e-06)
    p = fma(p, u, FloatV(repeating: -1.2710232e-05))
    p = fma(p, u, FloatV(repeating: -2.5833022e-05))
    p = fma(p, u, FloatV(repeating: 0.0001508377))
    p = fma(p, u, FloatV(repeating: -0.00019556649))
    p = fma(p, u, FloatV(repeating: -0.00023108357))
    p = fma(p, u, FloatV(repeating: 0.0014817555))
    p = fma(p, u, FloatV(repeating: -0.0033988268))
    p = fma(p, u, FloatV(repeating: 0.0049524126))
    p = fma(p, u, FloatV(repeating: -0.004916497))
    p = fma(p, u, FloatV(repeating: 0.0032678812))
    p = fma(p, u, FloatV(repeating: -0.0013280965))
    p = fma(p, u, FloatV(repeating: 0.00025166332))
    var large = (1 - p).replacing(with: p, where: x .< 0)
    large.replace(with: 0, where: x .< -5.5437174)
    return large.replacing(with: small, where: ax .< 1.4142135)
}

/// 1 / (1 + e^−x).
@inline(__always)
public func vsigmoid(_ x: FloatV) -> FloatV {
    1 / (1 + vexp(-x))
}

// MARK: - Map kernels over raw buffers

/// Runs `body(range)` over `0..<count` when the work is large enough to repay starting a parallel loop,
/// split into a few contiguous parts per thread that threads claim as they go (a thread descheduled by
/// another process's work leaves its parts to the others); part edges fall on multiples of `align`.
@inline(__always)
func parallelChunks(
    _ count: Int, minimum: Int = 1 << 16, align: Int = 16, _ body: @escaping (Range<Int>) -> Void
) {
    let threads = Threads.count
    guard threads > 1 && count >= minimum else {
        body(0..<count)
        return
    }
    let parts = Swift.min(4 * threads, Swift.max(1, count / align))
    let chunk = ((count + parts - 1) / parts + align - 1) / align * align
    // The parts write disjoint ranges, and forEach returns only when all are done.
    Parallel.forEach(parts) { t, _ in
        let lo = Swift.min(t * chunk, count), hi = Swift.min(lo + chunk, count)
        if lo < hi { body(lo..<hi) }
    }
}

/// Carries a value across a concurrency boundary that the caller has made safe by construction.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// An element-wise function of one vector. Kernels are structs, not closures, so that map loops
/// are specialised per kernel and the math inlines (a closure would be an indirect call per vector).
/// Map loops call the sixteen-lane form; a kernel written for eight lanes gets it as two halves.
protocol Map1Kernel {
    func callAsFunction(_ x: Float8) -> Float8
    func callAsFunction(_ x: FloatV) -> FloatV
}

extension Map1Kernel {
    @inline(__always) func callAsFunction(_ x: FloatV) -> FloatV {
        FloatV(lowHalf: self(x.lowHalf), highHalf: self(x.highHalf))
    }
}

/// A kernel written for sixteen lanes; its eight-lane form runs the same code on a duplicated vector.
protocol WideMap1Kernel: Map1Kernel {
    func callAsFunction(_ x: FloatV) -> FloatV
}

extension WideMap1Kernel {
    @inline(__always) func callAsFunction(_ x: Float8) -> Float8 { self(FloatV(lowHalf: x, highHalf: x)).lowHalf }
}

/// An element-wise function of two vectors.
protocol Map2Kernel {
    func callAsFunction(_ a: Float8, _ b: Float8) -> Float8
    func callAsFunction(_ a: FloatV, _ b: FloatV) -> FloatV
}

extension Map2Kernel {
    @inline(__always) func callAsFunction(_ a: FloatV, _ b: FloatV) -> FloatV {
        FloatV(lowHalf: self(a.lowHalf, b.lowHalf), highHalf: self(a.highHalf, b.highHalf))
    }
}

/// A two-input kernel written for sixteen lanes.
protocol WideMap2Kernel: Map2Kernel {
    func callAsFunction(_ a: FloatV, _ b: FloatV) -> FloatV
}

extension WideMap2Kernel {
    @inline(__always) func callAsFunction(_ a: Float8, _ b: Float8) -> Float8 {
        self(FloatV(lowHalf: a, highHalf: a), FloatV(lowHalf: b, highHalf: b)).lowHalf
    }
}

/// The first `count` (< 16) elements at `p` in a vector, the other lanes `pad`.
@inline(__always)
func loadPartial(_ p: UnsafePointer<Float>, _ count: Int, pad: Float = 0) -> FloatV {
    var v = FloatV(repeating: pad)
    for j in 0..<count { v[j] = p[j] }
    return v
}

/// Stores the first `count` (< 16) lanes of `v` at `p`.
@inline(__always)
func storePartial(_ v: FloatV, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
    for j in 0..<count { p[j] = v[j] }
}

@inline(__always) func load(_ p: UnsafePointer<Float>) -> FloatV {
    UnsafeRawPointer(p).loadUnaligned(as: FloatV.self)
}

@inline(__always) func store(_ v: FloatV, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: FloatV.self)
}

/// out[i] = f(a[i]), sixteen lanes at a time; the tail is padded into one vector.
@inline(__always)
func map1<K: Map1Kernel>(_ a: UnsafeBufferPointer<Float>, _ out: UnsafeMutableBufferPointer<Float>, _ f: K) {
    let n = a.count
    check(out.count == n, "map: output size \(out.count) != input size \(n)")
    guard n > 0 else { return }
    let pa = a.baseAddress!, po = out.baseAddress!
    parallelChunks(n) { range in
        var i = range.lowerBound
        // Four independent vectors per step: a kernel such as the tanh GELU is one dependency chain of ~30
        // operations (~100 cycles), and interleaving four keeps the FMA pipes busy instead of waiting on it.
        while i + 64 <= range.upperBound {
            let y0 = f(load(pa + i)), y1 = f(load(pa + i + 16)), y2 = f(load(pa + i + 32)), y3 = f(load(pa + i + 48))
            store(y0, po + i)
            store(y1, po + i + 16)
            store(y2, po + i + 32)
            store(y3, po + i + 48)
            i += 64
        }
        while i + 16 <= range.upperBound {
            store(f(load(pa + i)), po + i)
            i += 16
        }
        if i < range.upperBound {
            let k = range.upperBound - i
            storePartial(f(loadPartial(pa + i, k)), po + i, k)
        }
    }
}

/// out[i] = f(a[i], b[i]) over equal-length buffers.
@inline(__always)
func map2<K: Map2Kernel>(
    _ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>, _ out: UnsafeMutableBufferPointer<Float>,
    _ f: K
) {
    let n = a.count
    check(b.count == n && out.count == n, "map: sizes \(n), \(b.count), \(out.count) differ")
    guard n > 0 else { return }
    let pa = a.baseAddress!, pb = b.baseAddress!, po = out.baseAddress!
    parallelChunks(n) { range in
        var i = range.lowerBound
        while i + 32 <= range.upperBound {
            let y0 = f(load(pa + i), load(pb + i)), y1 = f(load(pa + i + 16), load(pb + i + 16))
            store(y0, po + i)
            store(y1, po + i + 16)
            i += 32
        }
        while i + 16 <= range.upperBound {
            store(f(load(pa + i), load(pb + i)), po + i)
            i += 16
        }
        if i < range.upperBound {
            let k = range.upperBound - i
            storePartial(f(loadPartial(pa + i, k), loadPartial(pb + i, k)), po + i, k)
        }
    }
}

/// Scalar versions through the same vector code, so a lone value matches a vectorised one bit for bit.
public func fastExp(_ x: Float) -> Float { vexp(FloatV(repeating: x))[0] }
public func fastTanh(_ x: Float) -> Float { vtanh(FloatV(repeating: x))[0] }
public func fastErf(_ x: Float) -> Float { verf(FloatV(repeating: x))[0] }
