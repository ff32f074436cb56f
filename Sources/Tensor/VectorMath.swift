// Vectorised exp, tanh and erf on SIMD8<Float>, and the raw-buffer map kernels that use them.
//
// libm's scalar expf/tanhf/erff cost 10–20 ns per element and do not vectorise, which would make
// GELU, softmax and layer norm an order of magnitude slower than memory bandwidth. These are the
// classic polynomial approximations (Cephes expf; PyTorch ATen's Vectorized<float>::erf, which is
// Abramowitz & Stegun 7.1.26) evaluated eight lanes at a time; tails run through the same code
// padded into one vector, so a value's result never depends on its position.


public typealias Float8 = SIMD8<Float>

/// |x| by clearing the sign bit.
@inline(__always) func vabs(_ x: Float8) -> Float8 {
    unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) & 0x7fff_ffff, to: Float8.self)
}

/// a·b + c in one rounding (vfmadd with FMA enabled); Swift does not contract a*b+c by itself.
@usableFromInline @inline(__always) func fma(_ a: Float8, _ b: Float8, _ c: Float8) -> Float8 {
    c.addingProduct(a, b)
}

/// x with the sign of s (x must be non-negative).
@inline(__always) func vcopysign(_ x: Float8, _ s: Float8) -> Float8 {
    let sign = unsafeBitCast(s, to: SIMD8<UInt32>.self) & 0x8000_0000
    return unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) | sign, to: Float8.self)
}

/// e^x, Cephes expf: x = n·ln2 + r, |r| ≤ ln2/2, degree-6 polynomial, 2^n by exponent bits.
/// Relative error ≈ 1–2 ulp; 0 below -87.3, +inf above 88.7, NaN for NaN.
@_transparent  // @inline(__always) left it out of line inside GELU's erf (a call per 8 lanes)
public func vexp(_ x: Float8) -> Float8 {
    let hi = Float8(repeating: 88.72283935546875), lo = Float8(repeating: -87.33654022216797)
    var xc = x.replacing(with: hi, where: x .> hi)
    xc.replace(with: lo, where: x .< lo)
    // n = round(x / ln2) by the 1.5·2^23 trick: adding it leaves n in the low mantissa bits and
    // rounds to nearest (no floor, which SSE2 lacks); subtracting it gives n as a float.
    let magic = Float8(repeating: 12582912)
    let shifted = fma(xc, Float8(repeating: 1.44269504088896341), magic)
    let fx = shifted - magic
    let n = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self)
    var r = fma(fx, Float8(repeating: -0.693359375), xc)  // Cody–Waite split of ln2
    r = fma(fx, Float8(repeating: 2.12194440e-4), r)
    var y = Float8(repeating: 1.9875691500e-4)
    y = fma(y, r, Float8(repeating: 1.3981999507e-3))
    y = fma(y, r, Float8(repeating: 8.3334519073e-3))
    y = fma(y, r, Float8(repeating: 4.1665795894e-2))
    y = fma(y, r, Float8(repeating: 1.6666665459e-1))
    y = fma(y, r, Float8(repeating: 5.0000001201e-1))
    y = fma(y, r * r, r) + 1
    // Scale by 2^n, applied as 2^(n−1)·2 so that n = 128 (x near 88.7) stays finite.
    let scale = unsafeBitCast((n &+ 126) &<< 23, to: Float8.self)
    return (y * scale * 2).replacing(with: 0, where: x .< lo)
}

/// tanh: odd polynomial for |x| < 0.625 (Cephes tanhf), else 1 − 2/(e^{2|x|} + 1) with the sign.
@inline(__always)
public func vtanh(_ x: Float8) -> Float8 {
    let ax = vabs(x)
    let big = vcopysign(1 - 2 / (vexp(ax + ax) + 1), x)
    let z = x * x
    var p = Float8(repeating: -5.70498872745e-3)
    p = fma(p, z, Float8(repeating: 2.06390887954e-2))
    p = fma(p, z, Float8(repeating: -5.37397155531e-2))
    p = fma(p, z, Float8(repeating: 1.33314422036e-1))
    p = fma(p, z, Float8(repeating: -3.33332819422e-1))
    let small = fma(x * z, p, x)
    return big.replacing(with: small, where: ax .< 0.625)
}

/// erf. For |x| ≥ 1, Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7; the form of PyTorch ATen's
/// vectorised erf); for |x| < 1, where that form cancels (1 − ≈1) and loses relative accuracy near
/// 0, Cephes erff's odd polynomial x·T(x²).
@inline(__always)
public func verf(_ x: Float8) -> Float8 {
    let ax = vabs(x)
    let t = 1 / fma(ax, Float8(repeating: 0.3275911), Float8(repeating: 1))
    var p = Float8(repeating: 1.061405429)
    p = fma(p, t, Float8(repeating: -1.453152027))
    p = fma(p, t, Float8(repeating: 1.421413741))
    p = fma(p, t, Float8(repeating: -0.284496736))
    p = fma(p, t, Float8(repeating: 0.254829592))
    let large = vcopysign(fma(-p * t, vexp(-ax * ax), Float8(repeating: 1)), x)
    let z = x * x
    var q = Float8(repeating: 7.853861353153693e-5)
    q = fma(q, z, Float8(repeating: -8.010193625184903e-4))
    q = fma(q, z, Float8(repeating: 5.188327685732524e-3))
    q = fma(q, z, Float8(repeating: -2.685381193529856e-2))
    q = fma(q, z, Float8(repeating: 1.128358514861418e-1))
    q = fma(q, z, Float8(repeating: -3.761262582423300e-1))
    q = fma(q, z, Float8(repeating: 1.128379165726710))
    return large.replacing(with: x * q, where: ax .< 1)
}

/// 1 / (1 + e^−x).
@inline(__always)
public func vsigmoid(_ x: Float8) -> Float8 {
    1 / (1 + vexp(-x))
}

// MARK: - Map kernels over raw buffers

/// Runs `body(range)` over `0..<count` split into one contiguous chunk per thread when the work is
/// large enough to repay starting a parallel loop; chunk edges fall on multiples of `align`.
@inline(__always)
func parallelChunks(
    _ count: Int, minimum: Int = 1 << 16, align: Int = 8, _ body: @escaping (Range<Int>) -> Void
) {
    let threads = Threads.count
    guard threads > 1 && count >= minimum else {
        body(0..<count)
        return
    }
    let chunk = ((count + threads - 1) / threads + align - 1) / align * align
    // The chunks write disjoint ranges, and forEach returns only when all are done.
    Parallel.forEach(threads) { t, _ in
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
protocol Map1Kernel {
    func callAsFunction(_ x: Float8) -> Float8
}

/// An element-wise function of two vectors.
protocol Map2Kernel {
    func callAsFunction(_ a: Float8, _ b: Float8) -> Float8
}

/// out[i] = f(a[i]), eight lanes at a time; the tail is padded into one vector.
@inline(__always)
func map1<K: Map1Kernel>(_ a: UnsafeBufferPointer<Float>, _ out: UnsafeMutableBufferPointer<Float>, _ f: K) {
    let n = a.count
    check(out.count == n, "map: output size \(out.count) != input size \(n)")
    guard n > 0 else { return }
    let pa = a.baseAddress!, po = out.baseAddress!
    parallelChunks(n) { range in
        var i = range.lowerBound
        while i + 8 <= range.upperBound {
            let v = UnsafeRawPointer(pa + i).loadUnaligned(as: Float8.self)
            UnsafeMutableRawPointer(po + i).storeBytes(of: f(v), as: Float8.self)
            i += 8
        }
        if i < range.upperBound {
            var v = Float8(repeating: 0)
            for j in 0..<(range.upperBound - i) { v[j] = pa[i + j] }
            let r = f(v)
            for j in 0..<(range.upperBound - i) { po[i + j] = r[j] }
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
        while i + 8 <= range.upperBound {
            let va = UnsafeRawPointer(pa + i).loadUnaligned(as: Float8.self)
            let vb = UnsafeRawPointer(pb + i).loadUnaligned(as: Float8.self)
            UnsafeMutableRawPointer(po + i).storeBytes(of: f(va, vb), as: Float8.self)
            i += 8
        }
        if i < range.upperBound {
            var va = Float8(repeating: 0), vb = Float8(repeating: 0)
            for j in 0..<(range.upperBound - i) {
                va[j] = pa[i + j]
                vb[j] = pb[i + j]
            }
            let r = f(va, vb)
            for j in 0..<(range.upperBound - i) { po[i + j] = r[j] }
        }
    }
}

/// Scalar versions through the same vector code, so a lone value matches a vectorised one bit for bit.
public func fastExp(_ x: Float) -> Float { vexp(Float8(repeating: x))[0] }
public func fastTanh(_ x: Float) -> Float { vtanh(Float8(repeating: x))[0] }
public func fastErf(_ x: Float) -> Float { verf(Float8(repeating: x))[0] }
