// Broadcasting add/sub/mul/div, negation and tensor–scalar arithmetic, each beside its VJP.

/// A binary element-wise kernel, specialised per op so inner loops contain no indirect calls.

protocol BinaryKernel {
    static func apply(_ a: Float8, _ b: Float8) -> Float8
}
enum AddKernel: BinaryKernel {
    @inline(__always) static func apply(_ a: Float8, _ b: Float8) -> Float8 { a + b }
}
enum SubKernel: BinaryKernel {
    @inline(__always) static func apply(_ a: Float8, _ b: Float8) -> Float8 { a - b }
}
enum MulKernel: BinaryKernel {
    @inline(__always) static func apply(_ a: Float8, _ b: Float8) -> Float8 { a * b }
}
enum DivKernel: BinaryKernel {
    @inline(__always) static func apply(_ a: Float8, _ b: Float8) -> Float8 { a / b }
}

/// One innermost run of a broadcasting binary op: strides are 0 (broadcast), 1, or anything else.
@inline(__always)
private func binaryRun<K: BinaryKernel>(
    _: K.Type, _ pa: UnsafePointer<Float>, _ sa: Int, _ pb: UnsafePointer<Float>, _ sb: Int,
    _ po: UnsafeMutablePointer<Float>, _ n: Int
) {
    var i = 0
    if sa == 1 && sb == 1 {
        while i + 8 <= n {
            let r = K.apply(
                UnsafeRawPointer(pa + i).loadUnaligned(as: Float8.self),
                UnsafeRawPointer(pb + i).loadUnaligned(as: Float8.self))
            UnsafeMutableRawPointer(po + i).storeBytes(of: r, as: Float8.self)
            i += 8
        }
    } else if sa == 1 && sb == 0 {
        let vb = Float8(repeating: pb[0])
        while i + 8 <= n {
            let r = K.apply(UnsafeRawPointer(pa + i).loadUnaligned(as: Float8.self), vb)
            UnsafeMutableRawPointer(po + i).storeBytes(of: r, as: Float8.self)
            i += 8
        }
    } else if sa == 0 && sb == 1 {
        let va = Float8(repeating: pa[0])
        while i + 8 <= n {
            let r = K.apply(va, UnsafeRawPointer(pb + i).loadUnaligned(as: Float8.self))
            UnsafeMutableRawPointer(po + i).storeBytes(of: r, as: Float8.self)
            i += 8
        }
    }
    while i < n {
        po[i] = K.apply(Float8(repeating: pa[i * sa]), Float8(repeating: pb[i * sb]))[0]
        i += 1
    }
}

/// Applies `K` with numpy broadcasting.
private func broadcastBinary<K: BinaryKernel>(_ k: K.Type, _ a: Tensor, _ b: Tensor, _ name: String) -> Tensor {
    if a.shape == b.shape {
        return Tensor(shape: a.shape) { out in
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    if out.count > 0 {
                        binaryRun(k, pa.baseAddress!, 1, pb.baseAddress!, 1, out.baseAddress!, out.count)
                    }
                }
            }
        }
    }
    let shape = broadcastShape(a.shape, b.shape, name)
    let space = StridedSpace(
        shape: shape,
        strides: [contiguousStrides(shape), broadcastStrides(a.shape, to: shape), broadcastStrides(b.shape, to: shape)])
    return Tensor(shape: shape) { out in
        guard out.count > 0 else { return }
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                space.forEachRun { off, n, inner in
                    check(inner[0] == 1, "broadcast: output must be contiguous")
                    binaryRun(
                        k, pa.baseAddress! + off[1], inner[1], pb.baseAddress! + off[2], inner[2],
                        out.baseAddress! + off[0], n)
                }
            }
        }
    }
}

extension Tensor {
    /// Sums a broadcast cotangent back down to `shape` (the VJP of broadcasting).
    public func unbroadcast(to target: [Int]) -> Tensor {
        if shape == target { return self }
        let pad = rank - target.count
        check(pad >= 0, "unbroadcast: cannot reduce \(shape) to \(target)")
        var axes = Array(0..<pad)
        for i in 0..<target.count where target[i] == 1 && shape[pad + i] != 1 { axes.append(pad + i) }
        return sum(axes: axes, keepDims: true).reshaped(target)
    }

    func adding(_ other: Tensor) -> Tensor { self + other }

    public static func + (a: Tensor, b: Tensor) -> Tensor {
        broadcastBinary(AddKernel.self, a, b, "add").recorded(from: a, b) { g, needA, needB in
            (needA ? g.unbroadcast(to: a.shape) : nil, needB ? g.unbroadcast(to: b.shape) : nil)
        }
    }

    public static func - (a: Tensor, b: Tensor) -> Tensor {
        broadcastBinary(SubKernel.self, a, b, "sub").recorded(from: a, b) { g, needA, needB in
            (needA ? g.unbroadcast(to: a.shape) : nil, needB ? (-g).unbroadcast(to: b.shape) : nil)
        }
    }

    public static func * (a: Tensor, b: Tensor) -> Tensor {
        let (ad, bd) = (a.detached, b.detached)
        return broadcastBinary(MulKernel.self, a, b, "mul").recorded(from: a, b) { g, needA, needB in
            (needA ? (g * bd).unbroadcast(to: a.shape) : nil, needB ? (g * ad).unbroadcast(to: b.shape) : nil)
        }
    }

    public static func / (a: Tensor, b: Tensor) -> Tensor {
        let (ad, bd) = (a.detached, b.detached)
        return broadcastBinary(DivKernel.self, a, b, "div").recorded(from: a, b) { g, needA, needB in
            let ga = needA ? (g / bd).unbroadcast(to: a.shape) : nil
            let gb = needB ? (-(g * ad) / (bd * bd)).unbroadcast(to: b.shape) : nil
            return (ga, gb)
        }
    }

    public static prefix func - (a: Tensor) -> Tensor {
        a.mapScalars(Affine(scale: -1, shift: 0)).recorded(from: a) { g in -g }
    }

    // MARK: Tensor–scalar

    /// out = f(self) element-wise, untracked (the building block of the element-wise ops).
    func mapScalars<K: Map1Kernel>(_ f: K) -> Tensor {
        Tensor(shape: shape) { out in
            withUnsafeBufferPointer { a in map1(a, out, f) }
        }
    }

    public static func + (a: Tensor, s: Float) -> Tensor {
        a.mapScalars(Affine(scale: 1, shift: s)).recorded(from: a) { g in g }
    }
    public static func + (s: Float, a: Tensor) -> Tensor { a + s }
    public static func - (a: Tensor, s: Float) -> Tensor { a + (-s) }
    public static func - (s: Float, a: Tensor) -> Tensor {
        a.mapScalars(Affine(scale: -1, shift: s)).recorded(from: a) { g in -g }
    }
    public static func * (a: Tensor, s: Float) -> Tensor {
        a.mapScalars(Affine(scale: s, shift: 0)).recorded(from: a) { g in g * s }
    }
    public static func * (s: Float, a: Tensor) -> Tensor { a * s }
    public static func / (a: Tensor, s: Float) -> Tensor {
        a.mapScalars(DivideBy(s: s)).recorded(from: a) { g in g / s }
    }
    public static func / (s: Float, a: Tensor) -> Tensor {
        let ad = a.detached
        return a.mapScalars(Reciprocal(s: s)).recorded(from: a) { g in g * (-s) / (ad * ad) }  // d(s/x) = −s/x²
    }
}

/// x·scale + shift (negation, tensor–scalar add, sub and mul).
struct Affine: Map1Kernel {
    let scale: Float, shift: Float
    @inline(__always) func callAsFunction(_ x: Float8) -> Float8 { x * scale + shift }
}
/// x / s, kept as a division so results round exactly like PyTorch's `x / s`.
struct DivideBy: Map1Kernel {
    let s: Float
    @inline(__always) func callAsFunction(_ x: Float8) -> Float8 { x / s }
}
/// s / x.
struct Reciprocal: Map1Kernel {
    let s: Float
    @inline(__always) func callAsFunction(_ x: Float8) -> Float8 { Float8(repeating: s) / x }
}
