// Element-wise functions (exp, log, sqrt, rsqrt, pow, tanh, sigmoid, relu, GELU), each beside its VJP.
import Foundation

extension Tensor {
    /// out = f(self, other) element-wise over equal shapes, untracked (used by backward kernels).
    func zipScalars<K: Map2Kernel>(_ other: Tensor, _ f: K) -> Tensor {
        check(shape == other.shape, "zip: shapes \(shape) and \(other.shape) differ")
        return Tensor(shape: shape) { out in
            withUnsafeBufferPointer { a in other.withUnsafeBufferPointer { b in map2(a, b, out, f) } }
        }
    }
}

/// e^x. VJP: g·e^x (reuses the output).
public func exp(_ x: Tensor) -> Tensor {
    let y = x.mapScalars(Kernel.Exp())
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
    let y = x.mapScalars(Kernel.Sqrt())
    return y.recorded(from: x) { g in g.zipScalars(y, Kernel.SqrtBackward()) }
}

/// 1/√x. VJP: −½·g·y³.
public func rsqrt(_ x: Tensor) -> Tensor {
    let y = x.mapScalars(Kernel.Rsqrt())
    return y.recorded(from: x) { g in g.zipScalars(y, Kernel.RsqrtBackward()) }
}

/// x^p for a scalar exponent. VJP: g·p·x^(p−1).
public func pow(_ x: Tensor, _ p: Float) -> Tensor {
    func power(_ t: Tensor, _ e: Float) -> Tensor {
        if e == 2 { return t.zipScalars(t, Kernel.Multiply()) }
        if e == 1 { return t.detached }
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
    let y = x.mapScalars(Kernel.Tanh())
    return y.recorded(from: x) { g in g.zipScalars(y, Kernel.TanhBackward()) }
}

/// tanh whose VJP is DeepLIFT's rescale multiplier against `reference` (the same op's input on the baseline, same
/// shape): g·(tanh x − tanh r)/(x − r), or tanh's own derivative where |x − r| < 1e-10, as Captum's `nonlinear`
/// hook (Shrikumar et al. 2017, "Learning Important Features Through Propagating Activation Differences", §3.5.1).
public func tanh(_ x: Tensor, rescaledAgainst reference: Tensor) -> Tensor {
    check(reference.shape == x.shape, "tanh: reference \(reference.shape) for input \(x.shape)")
    let (y, xd, r) = (x.mapScalars(Kernel.Tanh()), x.detached, reference.detached)
    let yr = r.mapScalars(Kernel.Tanh())
    return y.recorded(from: x) { g in  // a pooler's [B, H]: small, so plain arrays
        let (gv, xv, rv, yv, yrv) = (g.scalars, xd.scalars, r.scalars, y.scalars, yr.scalars)
        return Tensor(shape: g.shape, scalars: gv.indices.map { i in
            let d = xv[i] - rv[i]
            return gv[i] * (abs(d) < 1e-10 ? 1 - yv[i] * yv[i] : (yv[i] - yrv[i]) / d)
        })
    }
}

/// Logistic sigmoid. VJP: g·y·(1 − y).
public func sigmoid(_ x: Tensor) -> Tensor {
    let y = x.mapScalars(Kernel.Sigmoid())
    return y.recorded(from: x) { g in g.zipScalars(y, Kernel.SigmoidBackward()) }
}

/// max(x, 0). VJP: g where x > 0 (PyTorch: the gradient at 0 is 0).
public func relu(_ x: Tensor) -> Tensor {
    let y = x.mapScalars(Kernel.Relu())
    return y.recorded(from: x) { g in g.zipScalars(y, Kernel.ReluBackward()) }
}

/// Which GELU: the exact erf form (BERT) or the tanh approximation (GPT-2), as in
/// PyTorch's `F.gelu(x, approximate=...)`.
public enum GELUApproximation: String, Sendable, Codable {
    case none
    case tanh
}

/// The element-wise kernels of this file; forward and backward side by side.
enum Kernel {
    struct Exp: WideMap1Kernel { @inline(__always) func callAsFunction(_ x: FloatV) -> FloatV { vexp(x) } }
    struct Sqrt: WideMap1Kernel { @inline(__always) func callAsFunction(_ x: FloatV) -> FloatV { x.squareRoot() } }
    struct SqrtBackward: WideMap2Kernel {  // (g, y = √x) ↦ g / 2y
        @inline(__always) func callAsFunction(_ g: FloatV, _ y: FloatV) -> FloatV { g * 0.5 / y }
    }
    struct Rsqrt: WideMap1Kernel { @inline(__always) func callAsFunction(_ x: FloatV) -> FloatV { 1 / x.squareRoot() } }
    struct RsqrtBackward: WideMap2Kernel {  // (g, y = x^−½) ↦ −½·g·y³
        @inline(__always) func callAsFunction(_ g: FloatV, _ y: FloatV) -> FloatV { -0.5 * g * y * y * y }
    }
    struct Multiply: WideMap2Kernel {
        @inline(__always) func callAsFunction(_ a: FloatV, _ b: FloatV) -> FloatV { a * b }
    }
    struct Tanh: WideMap1Kernel { @inline(__always) func callAsFunction(_ x: FloatV) -> FloatV { vtanh(x) } }
    struct TanhBackward: WideMap2Kernel {  // (g, y) ↦ g·(1 − y²)
        @inline(__always) func callAsFunction(_ g: FloatV, _ y: FloatV) -> FloatV { g * (1 - y * y) }
    }
    struct Sigmoid: WideMap1Kernel { @inline(__always) func callAsFunction(_ x: FloatV) -> FloatV { vsigmoid(x) } }
    struct SigmoidBackward: WideMap2Kernel {  // (g, y) ↦ g·y·(1 − y)
        @inline(__always) func callAsFunction(_ g: FloatV, _ y: FloatV) -> FloatV { g * y * (1 - y) }
    }
    struct Relu: WideMap1Kernel {
        @inline(__always) func callAsFunction(_ x: FloatV) -> FloatV { x.replacing(with: 0, where: x .< 0) }
    }
    struct ReluBackward: WideMap2Kernel {  // (g, y) ↦ g where y > 0 (PyTorch: 0 at the kink)
        @inline(__always) func callAsFunction(_ g: FloatV, _ y: FloatV) -> FloatV {
            FloatV(repeating: 0).replacing(with: g, where: y .> 0)
        }
    }

    // GELU erf form: x·Φ(x) = ½x(1 + erf(x/√2)); derivative Φ(x) + x·φ(x), φ(x) = e^{−x²/2}/√(2π).
    struct GeluErf: WideMap1Kernel {
        @inline(__always) func callAsFunction(_ x: FloatV) -> FloatV { x * vphi(x) }
    }
    struct GeluErfBackward: WideMap2Kernel {  // (x, g)
        @inline(__always) func callAsFunction(_ x: FloatV, _ g: FloatV) -> FloatV {
            let cdf = vphi(x)
            let pdf = vexp(-0.5 * x * x) * 0.3989422804014327
            return g * fma(x, pdf, cdf)
        }
    }

    // GELU tanh form (Hendrycks & Gimpel 2016, §2; PyTorch `approximate='tanh'`):
    // ½x(1 + tanh(u)), u = √(2/π)(x + 0.044715x³).
    // ½(1 + tanh(u)) = σ(2u) = 1/(1 + e^{−2u}), so the forward is x/(1 + e^{−2u}): one exp and one division
    // instead of tanh's exp, division and polynomial. Where −2u > 88, σ(2u) < 1e-38 is taken as 0 (x ≲ −10: the
    // result is ∓0, and NaN for −inf as in PyTorch); x above ~10 gives x.
    // (The division stays: a division-free reciprocal, vrcp14ps + one Newton step, gains nothing on one thread,
    // and the clang intrinsic stays out of line in the copy of the loop that runs on the worker pool.)
    struct GeluTanh: WideMap1Kernel {
        @inline(__always) func callAsFunction(_ x: FloatV) -> FloatV {
            // y = −2u = x·(−2√(2/π) − 2√(2/π)·0.044715·x²)
            var y =
                x
                * fma(
                    FloatV(repeating: -2 * 0.7978845608028654 * 0.044715), x * x,
                    FloatV(repeating: -2 * 0.7978845608028654))
            let zero = y .> 88
            y.replace(with: 88, where: zero)  // keeps 1 + e^y finite
            return (x / (1 + vexpBoundedAbove(y))).replacing(with: 0, where: zero)
        }
    }
    struct GeluTanhBackward: WideMap2Kernel {  // (x, g)
        @inline(__always) func callAsFunction(_ x: FloatV, _ g: FloatV) -> FloatV {
            let x2 = x * x
            let u = 0.7978845608028654 * fma(0.044715 * x2, x, x)
            let t = vtanh(u)
            let du = 0.7978845608028654 * fma(FloatV(repeating: 3 * 0.044715), x2, FloatV(repeating: 1))
            return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)
        }
    }
}

/// Gaussian error linear unit.
public func gelu(_ x: Tensor, approximate: GELUApproximation = .none) -> Tensor {
    let xd = x.detached
    switch approximate {
    case .none:
        return x.mapScalars(Kernel.GeluErf()).recorded(from: x) { g in xd.zipScalars(g, Kernel.GeluErfBackward()) }
    case .tanh:
        return x.mapScalars(Kernel.GeluTanh()).recorded(from: x) { g in xd.zipScalars(g, Kernel.GeluTanhBackward()) }
    }
}
