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

/// e^x, Cephes expf: x = n·ln2 + r, |r| ≤ ln2/2, degree-6 polynomial, 2^n by exponent bits.
/// Relative error ≈ 1 ulp; saturates to 0 below -87.3 and to +inf above 88.7.
@inline(__always)
public func vexp(_ x: Float8) -> Float8 {
    let hi = Float8(repeating: 88.72283935546875), lo = Float8(repeating: -87.33654022216797)
    var xc = x.clamped(lowerBound: lo, upperBound: hi)
    // n = round(x / ln2)
    let fx = (xc * 1.44269504088896341 + 0.5).rounded(.down)
    xc = xc - fx * 0.693359375 + fx * 2.12194440e-4  // Cody–Waite split of ln2
    let z = xc * xc
    var y = Float8(repeating: 1.9875691500e-4)
    y = y * xc + 1.3981999507e-3
    y = y * xc + 8.3334519073e-3
    y = y * xc + 4.1665795894e-2
    y = y * xc + 1.6666665459e-1
    y = y * xc + 5.0000001201e-1
    y = y * z + xc + 1
    // Scale by 2^n. n is read off the mantissa of fx + 1.5·2^23 (no float→int conversion), and
    // applied as 2^(n−1)·2 so that n = 128 (x near 88.7) stays finite.
    let magic = Float8(repeating: 12582912)
    let n = unsafeBitCast(fx + magic, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self)
    let scale = unsafeBitCast((n &+ 126) &<< 23, to: Float8.self)
    var r = y * scale * 2
    r.replace(with: Float8(repeating: .infinity), where: x .> hi)
    r.replace(with: Float8(repeating: 0), where: x .< lo)
    r.replace(with: x, where: x .!= x)  // NaN in, NaN out
    return r
}

/// tanh: odd polynomial for |x| < 0.625 (Cephes tanhf), else 1 − 2/(e^{2|x|} + 1) with the sign.
@inline(__always)
public func vtanh(_ x: Float8) -> Float8 {
    let ax = vabs(x)
    // Large branch.
    let e = vexp(ax * 2)
    var big = 1 - 2 / (e + 1)
    big.replace(with: -big, where: x .< 0)
    // Small branch.
    let z = x * x
    var p = Float8(repeating: -5.70498872745e-3)
    p = p * z + 2.06390887954e-2
    p = p * z - 5.37397155531e-2
    p = p * z + 1.33314422036e-1
    p = p * z - 3.33332819422e-1
    let small = x + x * z * p
    var r = big
    r.replace(with: small, where: ax .< 0.625)
    r.replace(with: x, where: x .!= x)
    return r
}

/// erf, Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7), the form PyTorch's vectorised CPU erf uses.
@inline(__always)
public func verf(_ x: Float8) -> Float8 {
    let ax = vabs(x)
    let t = 1 / (ax * 0.3275911 + 1)
    var p = Float8(repeating: 1.061405429)
    p = p * t - 1.453152027
    p = p * t + 1.421413741
    p = p * t - 0.284496736
    p = p * t + 0.254829592
    var r = 1 - p * t * vexp(-ax * ax)
    r.replace(with: -r, where: x .< 0)
    r.replace(with: x, where: x .!= x)
    return r
}

/// 1 / (1 + e^−x), computed without overflow for large |x|.
@inline(__always)
public func vsigmoid(_ x: Float8) -> Float8 {
    1 / (1 + vexp(-x))
}

// MARK: - Map kernels over raw buffers

/// out[i] = f(a[i]), eight lanes at a time; the tail is padded into one vector.
@inline(__always)
func map1(
    _ a: UnsafeBufferPointer<Float>, _ out: UnsafeMutableBufferPointer<Float>, _ f: (Float8) -> Float8
) {
    let n = a.count
    precondition(out.count == n)
    guard n > 0 else { return }
    let pa = a.baseAddress!, po = out.baseAddress!
    var i = 0
    while i + 8 <= n {
        let v = UnsafeRawPointer(pa + i).loadUnaligned(as: Float8.self)
        UnsafeMutableRawPointer(po + i).storeBytes(of: f(v), as: Float8.self)
        i += 8
    }
    if i < n {
        var v = Float8(repeating: 0)
        for j in 0..<(n - i) { v[j] = pa[i + j] }
        let r = f(v)
        for j in 0..<(n - i) { po[i + j] = r[j] }
    }
}

/// out[i] = f(a[i], b[i]) over equal-length buffers.
@inline(__always)
func map2(
    _ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>, _ out: UnsafeMutableBufferPointer<Float>,
    _ f: (Float8, Float8) -> Float8
) {
    let n = a.count
    precondition(b.count == n && out.count == n)
    guard n > 0 else { return }
    let pa = a.baseAddress!, pb = b.baseAddress!, po = out.baseAddress!
    var i = 0
    while i + 8 <= n {
        let va = UnsafeRawPointer(pa + i).loadUnaligned(as: Float8.self)
        let vb = UnsafeRawPointer(pb + i).loadUnaligned(as: Float8.self)
        UnsafeMutableRawPointer(po + i).storeBytes(of: f(va, vb), as: Float8.self)
        i += 8
    }
    if i < n {
        var va = Float8(repeating: 0), vb = Float8(repeating: 0)
        for j in 0..<(n - i) {
            va[j] = pa[i + j]
            vb[j] = pb[i + j]
        }
        let r = f(va, vb)
        for j in 0..<(n - i) { po[i + j] = r[j] }
    }
}

/// Scalar versions through the same vector code, so a lone value matches a vectorised one bit for bit.
public func fastExp(_ x: Float) -> Float { vexp(Float8(repeating: x))[0] }
public func fastTanh(_ x: Float) -> Float { vtanh(Float8(repeating: x))[0] }
public func fastErf(_ x: Float) -> Float { verf(Float8(repeating: x))[0] }
