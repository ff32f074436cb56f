// Element-wise functions (exp, log, sqrt, rsqrt, pow, tanh, sigmoid, relu, GELU), each beside its VJP.
import Foundation

extension Tensor {
    /// out = f(self, other) element-wise over equal shapes, untracked (used by backward kernels).
    func zipScalars(_ other: Tensor, _ f: (Float8, Float8) -> Float8) -> Tensor {
        precondition(shape == other.shape, "zip: shapes \(shape) and \(other.shape) differ")
        return Tensor(shape: shape) { out in
            withUnsafeBufferPointer { a in other.withUnsafeBufferPointer { b in map2(a, b, out, f) } }
        }
    }
}

/// e^x. VJP: g·e^x (reuses the output).
public func exp(_ x: Tensor) -> Tensor {
    let y = x.mapScalars(vexp)
    let yd = y
    return y.recorded(from: x) { g in g * yd }
}

/// Natural logarithm. VJP: g / x.
public func log(_ x: Tensor) -> Tensor {
    var y = Tensor.zeros(x.shape)
    y.withUnsafeMutableBufferPointer { out in
        x.withUnsafeBufferPointer { a in
            for i in 0..<a.count { out[i] = logf(a[i]) }
        }
    }
    let xd = x.detached
    return y.recorded(from: x) { g in g / xd }
}

/// √x. VJP: g / (2√x).
public func sqrt(_ x: Tensor) -> Tensor {
    let y = x.mapScalars { $0.squareRoot() }
    return y.recorded(from: x) { g in g.zipScalars(y) { g, y in g * 0.5 / y } }
}

/// 1/√x. VJP: −½·g·y³.
public func rsqrt(_ x: Tensor) -> Tensor {
    let y = x.mapScalars { 1 / $0.squareRoot() }
    return y.recorded(from: x) { g in g.zipScalars(y) { g, y in -0.5 * g * y * y * y } }
}

/// x^p for a scalar exponent. VJP: g·p·x^(p−1).
public func pow(_ x: Tensor, _ p: Float) -> Tensor {
    func power(_ t: Tensor, _ e: Float) -> Tensor {
        if e == 2 { return t.mapScalars { $0 * $0 } }
        if e == 1 { return t.mapScalars { $0 } }
        var y = Tensor.zeros(t.shape)
        y.withUnsafeMutableBufferPointer { out in
            t.withUnsafeBufferPointer { a in
                for i in 0..<a.count { out[i] = powf(a[i], e) }
            }
        }
        return y
    }
    let xd = x.detached
    return power(x, p).recorded(from: x) { g in
        p == 0 ? Tensor.zeros(g.shape) : g * power(xd, p - 1) * p
    }
}

/// tanh. VJP: g·(1 − y²).
public func tanh(_ x: Tensor) -> Tensor {
    let y = x.mapScalars(vtanh)
    return y.recorded(from: x) { g in g.zipScalars(y) { g, y in g * (1 - y * y) } }
}

/// Logistic sigmoid. VJP: g·y·(1 − y).
public func sigmoid(_ x: Tensor) -> Tensor {
    let y = x.mapScalars(vsigmoid)
    return y.recorded(from: x) { g in g.zipScalars(y) { g, y in g * y * (1 - y) } }
}

/// max(x, 0). VJP: g where x > 0 (PyTorch: the gradient at 0 is 0).
public func relu(_ x: Tensor) -> Tensor {
    let y = x.mapScalars { $0.replacing(with: 0, where: $0 .< 0) }
    return y.recorded(from: x) { g in
        g.zipScalars(y) { g, y in Float8(repeating: 0).replacing(with: g, where: y .> 0) }
    }
}

/// Which GELU: the exact erf form (BERT) or the tanh approximation (GPT-2), as in
/// PyTorch's `F.gelu(x, approximate=...)`.
public enum GELUApproximation: String, Sendable, Codable {
    case none
    case tanh
}

// GELU erf form: x·Φ(x) = ½x(1 + erf(x/√2)); dΦ-part: Φ(x) + x·φ(x), φ(x) = e^{−x²/2}/√(2π).
@inline(__always) func geluErfForward(_ x: Float8) -> Float8 {
    0.5 * x * (1 + verf(x * 0.7071067811865476))
}
@inline(__always) func geluErfBackward(_ x: Float8, _ g: Float8) -> Float8 {
    let cdf = 0.5 * (1 + verf(x * 0.7071067811865476))
    let pdf = vexp(-0.5 * x * x) * 0.3989422804014327
    return g * (cdf + x * pdf)
}

// GELU tanh form (Hendrycks & Gimpel 2016, eq. in §2; PyTorch `approximate='tanh'`):
// ½x(1 + tanh(u)), u = √(2/π)(x + 0.044715x³).
@inline(__always) func geluTanhForward(_ x: Float8) -> Float8 {
    let u = 0.7978845608028654 * (x + 0.044715 * x * x * x)
    return 0.5 * x * (1 + vtanh(u))
}
@inline(__always) func geluTanhBackward(_ x: Float8, _ g: Float8) -> Float8 {
    let x2 = x * x
    let u = 0.7978845608028654 * (x + 0.044715 * x2 * x)
    let t = vtanh(u)
    let du = 0.7978845608028654 * (1 + 3 * 0.044715 * x2)
    return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)
}

/// Gaussian error linear unit.
public func gelu(_ x: Tensor, approximate: GELUApproximation = .none) -> Tensor {
    let xd = x.detached
    switch approximate {
    case .none:
        return x.mapScalars(geluErfForward).recorded(from: x) { g in xd.zipScalars(g, geluErfBackward) }
    case .tanh:
        return x.mapScalars(geluTanhForward).recorded(from: x) { g in xd.zipScalars(g, geluTanhBackward) }
    }
}
