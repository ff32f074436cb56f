// Every differentiable Tensor op: Float32 forward vs a Float64 reference, and its VJP vs Float64 central differences
// (element-wise, shape and reduction ops here; products, normalisations and NN ops in GradientCheckNNTests.swift).
import Foundation
import Testing
import Tensor

// MARK: - Element-wise arithmetic with broadcasting

enum BinaryOp: String, CaseIterable, Sendable { case add, sub, mul, div }

struct ShapePair: Sendable, CustomTestStringConvertible {
    let a: [Int], b: [Int]
    var testDescription: String { "\(a) with \(b)" }
}

private let broadcastPairs: [ShapePair] = [
    ShapePair(a: [2, 3], b: [2, 3]), ShapePair(a: [4, 9], b: [4, 9]),  // same shape; 36 = SIMD runs + tail
    ShapePair(a: [2, 3], b: [3]), ShapePair(a: [3], b: [2, 3]),  // row vector either side
    ShapePair(a: [2, 1, 4], b: [3, 1]), ShapePair(a: [3, 1], b: [2, 1, 9]),  // both sides broadcast
    ShapePair(a: [2, 1, 9], b: [3, 9]),
    ShapePair(a: [], b: [2, 3]), ShapePair(a: [2, 3], b: []), ShapePair(a: [1], b: [2, 3]),
    ShapePair(a: [2, 3], b: [1]),
]

@Suite struct GradientCheckArithmetic {
    @Test(arguments: BinaryOp.allCases, broadcastPairs)
    func binary(op: BinaryOp, shapes: ShapePair) {
        var r = Inputs(seed: 11)
        let a = r.uniform(shapes.a)
        let b = op == .div ? r.awayFromZero(shapes.b, 0.5, 2) : r.uniform(shapes.b)
        checkOp("\(op) \(shapes.testDescription)", [a, b]) { x in
            switch op {
            case .add: x[0] + x[1]
            case .sub: x[0] - x[1]
            case .mul: x[0] * x[1]
            case .div: x[0] / x[1]
            }
        } reference: { x in
            switch op {
            case .add: x[0] + x[1]
            case .sub: x[0] - x[1]
            case .mul: x[0] * x[1]
            case .div: x[0] / x[1]
            }
        }
    }

    /// The same tensor on both sides of a binary op: both contributions must accumulate.
    @Test func sameTensorBothOperands() {
        var r = Inputs(seed: 12)
        let a = r.awayFromZero([3, 5], 0.5, 2)
        checkOp("x*x", [a]) {
            $0[0] * $0[0]
        } reference: {
            $0[0] * $0[0]
        }
        checkOp("x/x + x-x", [a]) {
            $0[0] / $0[0] + ($0[0] - $0[0])
        } reference: {
            $0[0] / $0[0] + ($0[0] - $0[0])
        }
    }
}

// MARK: - Unary functions and tensor–scalar arithmetic

enum UnaryOp: String, CaseIterable, Sendable {
    case neg, plus2, twoPlus, minus2, twoMinus, times3, threeTimes, over4, fiveOver
    case exp, log, sqrt, rsqrt, pow2, pow3, powHalf, powMinus1, pow1, pow0, tanh, sigmoid, relu, gelu, geluTanh
}

/// Inputs in the op's domain: positive for log/sqrt/rsqrt/x^0.5, away from 0 for poles and the relu kink.
private func unaryInput(_ op: UnaryOp, _ shape: [Int], _ r: inout Inputs) -> Tensor {
    switch op {
    case .log, .sqrt, .rsqrt, .powHalf: r.uniform(shape, 0.2, 3)
    case .fiveOver, .powMinus1, .relu: r.awayFromZero(shape, 0.25, 2)
    case .tanh, .sigmoid, .gelu, .geluTanh, .exp: r.uniform(shape, -3, 3)  // both tanh branches (|x| ≶ 0.625)
    default: r.uniform(shape)
    }
}

private func unaryOurs(_ op: UnaryOp, _ x: Tensor) -> Tensor {
    switch op {
    case .neg: -x
    case .plus2: x + 2
    case .twoPlus: 2 + x
    case .minus2: x - 2
    case .twoMinus: 2 - x
    case .times3: x * 3
    case .threeTimes: 3 * x
    case .over4: x / 4
    case .fiveOver: 5 / x
    case .exp: exp(x)
    case .log: log(x)
    case .sqrt: sqrt(x)
    case .rsqrt: rsqrt(x)
    case .pow2: pow(x, 2)
    case .pow3: pow(x, 3)
    case .powHalf: pow(x, 0.5)
    case .powMinus1: pow(x, -1)
    case .pow1: pow(x, 1)
    case .pow0: pow(x, 0)
    case .tanh: tanh(x)
    case .sigmoid: sigmoid(x)
    case .relu: relu(x)
    case .gelu: gelu(x)
    case .geluTanh: gelu(x, approximate: .tanh)
    }
}

private func unaryRef(_ op: UnaryOp, _ x: Double) -> Double {
    switch op {
    case .neg: -x
    case .plus2, .twoPlus: x + 2
    case .minus2: x - 2
    case .twoMinus: 2 - x
    case .times3, .threeTimes: x * 3
    case .over4: x / 4
    case .fiveOver: 5 / x
    case .exp: Foundation.exp(x)
    case .log: Foundation.log(x)
    case .sqrt: x.squareRoot()
    case .rsqrt: 1 / x.squareRoot()
    case .pow2: x * x
    case .pow3: x * x * x
    case .powHalf: Foundation.pow(x, 0.5)
    case .powMinus1: 1 / x
    case .pow1: x
    case .pow0: 1
    case .tanh: Foundation.tanh(x)
    case .sigmoid: Ref.sigmoid(x)
    case .relu: Swift.max(x, 0)
    case .gelu: Ref.gelu(x)
    case .geluTanh: Ref.geluTanh(x)
    }
}

@Suite struct GradientCheckUnary {
    @Test(arguments: UnaryOp.allCases, [[], [13], [2, 3, 5]] as [[Int]])
    func unary(op: UnaryOp, shape: [Int]) {
        var r = Inputs(seed: 21)
        checkOp("\(op) \(shape)", [unaryInput(op, shape, &r)]) {
            unaryOurs(op, $0[0])
        } reference: {
            Ref.map($0[0]) { unaryRef(op, $0) }
        }
    }
}

// MARK: - Shape ops

@Suite struct GradientCheckShape {
    @Test func reshapeSqueezeUnsqueeze() {
        var r = Inputs(seed: 31)
        let x = r.uniform([2, 3, 4])
        for s in [[4, 6], [24], [2, 12, 1]] {
            checkOp("reshaped \(s)", [x]) {
                $0[0].reshaped(s)
            } reference: {
                Ref.reshape($0[0], s)
            }
        }
        checkOp("reshaped [-1, 2]", [x]) {
            $0[0].reshaped([-1, 2])
        } reference: {
            Ref.reshape($0[0], [12, 2])
        }
        checkOp("flattened", [x]) {
            $0[0].flattened()
        } reference: {
            Ref.reshape($0[0], [24])
        }
        checkOp("unsqueezed 1", [x]) {
            $0[0].unsqueezed(axis: 1)
        } reference: {
            Ref.reshape($0[0], [2, 1, 3, 4])
        }
        checkOp("unsqueezed -1", [x]) {
            $0[0].unsqueezed(axis: -1)
        } reference: {
            Ref.reshape($0[0], [2, 3, 4, 1])
        }
        let y = r.uniform([2, 1, 3])
        checkOp("squeezed 1", [y]) {
            $0[0].squeezed(axis: 1)
        } reference: {
            Ref.reshape($0[0], [2, 3])
        }
        let z = r.uniform([3, 1])
        checkOp("squeezed -1", [z]) {
            $0[0].squeezed(axis: -1)
        } reference: {
            Ref.reshape($0[0], [3])
        }
        // Each op must stay differentiable after another shape op changed the layout.
        checkOp("unsqueeze∘permute∘squeeze", [y]) {
            ($0[0].squeezed(axis: 1).transposed() * 2).unsqueezed(axis: 0)
        } reference: {
            Ref.reshape(Ref.transpose(Ref.reshape($0[0], [2, 3])) * 2, [1, 3, 2])
        }
    }

    @Test func permuteTranspose() {
        var r = Inputs(seed: 32)
        let x = r.uniform([2, 3, 4])
        for p in [[2, 0, 1], [1, 0, 2], [0, 2, 1], [1, 2, 0], [-1, 0, 1]] {
            checkOp("permuted \(p)", [x]) {
                $0[0].permuted(p)
            } reference: {
                Ref.permute($0[0], p.map { normAxis($0, 3) })
            }
        }
        let x4 = r.uniform([2, 3, 1, 4])
        checkOp("permuted 4-D", [x4]) {
            $0[0].permuted([3, 1, 0, 2])
        } reference: {
            Ref.permute($0[0], [3, 1, 0, 2])
        }
        checkOp("transposed()", [x]) {
            $0[0].transposed()
        } reference: {
            Ref.transpose($0[0])
        }
        checkOp("transposed(0, 2)", [x]) {
            $0[0].transposed(0, 2)
        } reference: {
            Ref.transpose($0[0], 0, 2)
        }
        checkOp("transposed 2-D", [r.uniform([3, 5])]) {
            $0[0].transposed()
        } reference: {
            Ref.transpose($0[0])
        }
    }

    @Test(arguments: [
        ShapePair(a: [3, 1], b: [2, 3, 4]), ShapePair(a: [4], b: [3, 4]), ShapePair(a: [], b: [2, 2]),
        ShapePair(a: [1, 1], b: [2, 3]), ShapePair(a: [2, 1, 3], b: [2, 4, 3]), ShapePair(a: [1, 9], b: [2, 3, 9]),
    ])
    func broadcast(shapes: ShapePair) {
        var r = Inputs(seed: 33)
        checkOp("broadcast \(shapes.testDescription)", [r.uniform(shapes.a)]) {
            $0[0].broadcast(to: shapes.b)
        } reference: {
            Ref.broadcast($0[0], to: shapes.b)
        }
    }

    @Test func slice() {
        var r = Inputs(seed: 34)
        let x = r.uniform([3, 4, 5])
        for (axis, range) in [(0, 1..<3), (1, 0..<2), (1, 3..<4), (-1, 1..<4), (2, 0..<5), (0, 0..<1)] {
            checkOp("slice axis \(axis) \(range)", [x]) {
                $0[0].slice(axis: axis, range)
            } reference: {
                Ref.slice($0[0], axis: axis, range)
            }
        }
    }

    @Test func concatenate() {
        var r = Inputs(seed: 35)
        let cases: [(shapes: [[Int]], axis: Int)] = [
            ([[2, 3], [1, 3]], 0), ([[2, 1, 4], [2, 3, 4]], 1), ([[2, 3, 1], [2, 3, 2], [2, 3, 4]], -1),
            ([[2, 3], [2, 3]], 1), ([[1, 2, 2], [3, 2, 2]], -3),
        ]
        for c in cases {
            checkOp("concatenate \(c.shapes) axis \(c.axis)", c.shapes.map { r.uniform($0) }) {
                Tensor.concatenate($0, axis: c.axis)
            } reference: {
                Ref.concatenate($0, axis: c.axis)
            }
        }
        // One part untracked (a constant): the others still get their slices of the cotangent.
        let constant = r.uniform([2, 2])
        checkOp("concatenate with a constant", [r.uniform([2, 3])]) {
            Tensor.concatenate([$0[0], constant], axis: 1)
        } reference: {
            Ref.concatenate([$0[0], Array64(constant)], axis: 1)
        }
    }

    @Test func stack() {
        var r = Inputs(seed: 36)
        let parts = (0..<3).map { _ in r.uniform([2, 3]) }
        for axis in [0, 1, 2, -1] {
            checkOp("stack axis \(axis)", parts) {
                Tensor.stack($0, axis: axis)
            } reference: {
                Ref.stack($0, axis: axis)
            }
        }
    }

    @Test func split() {
        var r = Inputs(seed: 37)
        let x = r.uniform([2, 5, 3])
        // Pieces recombined in another order with different weights: each piece's cotangent must land in its slot.
        checkOp("split sizes [1,3,1] axis 1", [x]) { x in
            let p = x[0].split(sizes: [1, 3, 1], axis: 1)
            return Tensor.concatenate([p[2] * 3, p[0] * -2, p[1] * p[1]], axis: 1)
        } reference: { x in
            let (p0, p1, p2) = (
                Ref.slice(x[0], axis: 1, 0..<1), Ref.slice(x[0], axis: 1, 1..<4), Ref.slice(x[0], axis: 1, 4..<5)
            )
            return Ref.concatenate([p2 * 3, p0 * -2, p1 * p1], axis: 1)
        }
        let y = r.uniform([3, 4])
        checkOp("split count 2 axis -1", [y]) { x in
            let p = x[0].split(count: 2, axis: -1)
            return p[0] * 2 - p[1] * p[0]
        } reference: { x in
            let (p0, p1) = (Ref.slice(x[0], axis: 1, 0..<2), Ref.slice(x[0], axis: 1, 2..<4))
            return p0 * 2 - p1 * p0
        }
        // An unused piece gets a zero gradient.
        checkOp("split count 3 axis 0, middle unused", [r.uniform([6, 2])]) { x in
            let p = x[0].split(count: 3, axis: 0)
            return p[0] + p[2] * 0.5
        } reference: { x in
            Ref.slice(x[0], axis: 0, 0..<2) + Ref.slice(x[0], axis: 0, 4..<6) * 0.5
        }
    }
}

// MARK: - Reductions

enum ReduceKind: String, CaseIterable, Sendable { case sum, mean, max }

struct ReduceCase: Sendable, CustomTestStringConvertible {
    let shape: [Int], axes: [Int]?, keepDims: Bool
    var testDescription: String { "\(shape) axes \(axes.map { "\($0)" } ?? "all") keepDims \(keepDims)" }
}

private let reduceCases: [ReduceCase] = [
    ReduceCase(shape: [2, 3, 4], axes: nil, keepDims: false), ReduceCase(shape: [2, 3, 4], axes: nil, keepDims: true),
    ReduceCase(shape: [2, 3, 4], axes: [1], keepDims: false), ReduceCase(shape: [2, 3, 4], axes: [1], keepDims: true),
    ReduceCase(shape: [2, 3, 4], axes: [0, 2], keepDims: false),
    ReduceCase(shape: [2, 3, 4], axes: [0, 2], keepDims: true),
    ReduceCase(shape: [2, 3, 4], axes: [-1], keepDims: false),
    ReduceCase(shape: [2, 3, 4], axes: [-2], keepDims: true),
    ReduceCase(shape: [2, 3, 4], axes: [-3, -1], keepDims: true),
    ReduceCase(shape: [2, 3, 4], axes: [0, 1, 2], keepDims: false),
    ReduceCase(shape: [3, 20], axes: [-1], keepDims: false),  // contiguous runs ≥ 16: the 8-lane path
    ReduceCase(shape: [20, 3], axes: [0], keepDims: true), ReduceCase(shape: [7], axes: [0], keepDims: false),
    ReduceCase(shape: [2, 1, 3], axes: [1], keepDims: false),
]

@Suite struct GradientCheckReduce {
    @Test(arguments: ReduceKind.allCases, reduceCases)
    func reduce(kind: ReduceKind, c: ReduceCase) {
        var r = Inputs(seed: 41)
        let x = kind == .max ? r.distinct(c.shape) : r.uniform(c.shape)  // no ties for max
        checkOp("\(kind) \(c.testDescription)", [x]) { x in
            switch kind {
            case .sum: x[0].sum(axes: c.axes, keepDims: c.keepDims)
            case .mean: x[0].mean(axes: c.axes, keepDims: c.keepDims)
            case .max: x[0].max(axes: c.axes, keepDims: c.keepDims)
            }
        } reference: { x in
            switch kind {
            case .sum: Ref.sum(x[0], axes: c.axes, keepDims: c.keepDims)
            case .mean: Ref.mean(x[0], axes: c.axes, keepDims: c.keepDims)
            case .max: Ref.max(x[0], axes: c.axes, keepDims: c.keepDims)
            }
        }
    }

    /// Not differentiable at ties; the documented rule (PyTorch amax) shares the cotangent equally among them.
    @Test func maxSharesCotangentAmongTies() {
        let tape = GradientTape()
        let (x, y) = tape.record {
            let x = tape.watch(Tensor([[1, 3, 3, 2], [5, 0, 5, 5]]))
            return (x, x.max(axes: [1]))
        }
        #expect(y.scalars == [3, 5])
        let g = tape.gradients(of: y, wrt: [x], seed: Tensor([2, 3]))[0]
        #expect(g.shape == [2, 4])
        expectClose(g.scalars, [0, 1, 1, 0, 1, 0, 1, 1], tol: 1e-6, scale: { _ in 1 }, "max ties", shape: [2, 4])
    }

    @Test func singleAxisOverloads() {
        var r = Inputs(seed: 42)
        let x = r.distinct([3, 4])
        checkOp("sum(axis: 0)", [x]) {
            $0[0].sum(axis: 0)
        } reference: {
            Ref.sum($0[0], axes: [0], keepDims: false)
        }
        checkOp("mean(axis: -1, keepDims)", [x]) {
            $0[0].mean(axis: -1, keepDims: true)
        } reference: {
            Ref.mean($0[0], axes: [-1], keepDims: true)
        }
        checkOp("max(axis: 1)", [x]) {
            $0[0].max(axis: 1)
        } reference: {
            Ref.max($0[0], axes: [1], keepDims: false)
        }
    }
}
