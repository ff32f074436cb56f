// The Float32 tensor value type: contiguous row-major storage with copy-on-write semantics.

/// A dense Float32 tensor of any rank, stored contiguously in row-major order.
///
/// `Tensor` is a value type: its storage is a Swift array, so copies share memory until one of them
/// is mutated (copy-on-write). A tensor produced while a `GradientTape` records, from inputs the tape
/// tracks, carries a handle to its node on that tape; `GradientTape.gradients(of:wrt:)` uses it.
public struct Tensor: Sendable {
    /// The extent of each axis; `[]` for a scalar.
    public internal(set) var shape: [Int]
    internal var storage: [Float]
    /// Where this value sits on a gradient tape, if it was recorded.
    internal var handle: TapeHandle?

    /// Creates a tensor from row-major scalars. The count must equal the product of `shape`.
    public init(shape: [Int], scalars: [Float]) {
        check(shape.allSatisfy { $0 >= 0 }, "Tensor: negative extent in shape \(shape)")
        check(
            shapeCount(shape) == scalars.count,
            "Tensor: shape \(shape) needs \(shapeCount(shape)) scalars, got \(scalars.count)")
        self.shape = shape
        self.storage = scalars
        self.handle = nil
    }

    /// Creates a scalar (rank-0) tensor.
    public init(_ value: Float) { self.init(shape: [], scalars: [value]) }

    /// Creates a 1-D tensor.
    public init(_ values: [Float]) { self.init(shape: [values.count], scalars: values) }

    /// Creates a 2-D tensor from rows of equal length.
    public init(_ rows: [[Float]]) {
        let cols = rows.first?.count ?? 0
        check(rows.allSatisfy { $0.count == cols }, "Tensor: ragged rows")
        self.init(shape: [rows.count, cols], scalars: rows.flatMap { $0 })
    }

    /// Creates a tensor whose storage is filled by `body`, which must initialise every element.

    public init(
        shape: [Int], unsafeUninitialized body: (UnsafeMutableBufferPointer<Float>) throws -> Void
    ) rethrows {
        let n = shapeCount(shape)
        self.shape = shape
        self.storage = try [Float](unsafeUninitializedCapacity: n) { buffer, count in
            try body(buffer)
            count = n
        }
        self.handle = nil
    }

    public static func zeros(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, scalars: [Float](repeating: 0, count: shapeCount(shape)))
    }
    public static func ones(_ shape: [Int]) -> Tensor { full(shape, 1) }
    public static func full(_ shape: [Int], _ value: Float) -> Tensor {
        Tensor(shape: shape, scalars: [Float](repeating: value, count: shapeCount(shape)))
    }
    public static func zeros(like t: Tensor) -> Tensor { zeros(t.shape) }

    /// `[0, 1, ..., n-1]` as floats.
    public static func arange(_ n: Int) -> Tensor { Tensor((0..<n).map(Float.init)) }

    /// Number of elements.
    public var count: Int { storage.count }
    /// Number of axes.
    public var rank: Int { shape.count }
    /// The elements in row-major order.
    public var scalars: [Float] { storage }
    /// The only element of a one-element tensor.
    public var item: Float {
        check(count == 1, "item: tensor of shape \(shape) has \(count) elements, not 1")
        return storage[0]
    }

    /// Element access for tests and small host-side code (not for kernels).
    public subscript(indices: Int...) -> Float {
        get { storage[offset(of: indices)] }
        set {
            let o = offset(of: indices)
            storage[o] = newValue
            handle = nil  // an edited value is no longer the one the tape saw
        }
    }

    func offset(of indices: [Int]) -> Int {
        check(
            indices.count == shape.count,
            "index \(indices) has \(indices.count) axes, shape \(shape) has \(shape.count)")
        var o = 0
        for (i, (ix, n)) in zip(indices, shape).enumerated() {
            check(ix >= 0 && ix < n, "index \(ix) out of range for axis \(i) of shape \(shape)")
            o = o * n + ix
        }
        return o
    }

    /// A copy that is not connected to any tape (PyTorch's `detach()`).
    public var detached: Tensor {
        var t = self
        t.handle = nil
        return t
    }

    /// Whether this value was recorded on a gradient tape.
    public var isTracked: Bool { handle != nil }

    /// Read-only raw access to the elements (row-major).

    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try storage.withUnsafeBufferPointer(body)
    }

    /// Mutable raw access; detaches the value from its tape, since its contents change.

    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (inout UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        handle = nil
        return try storage.withUnsafeMutableBufferPointer(body)
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = storage.prefix(8).map { String($0) }.joined(separator: ", ")
        return "Tensor(shape: \(shape), [\(head)\(count > 8 ? ", ..." : "")])"
    }
}

/// Product of the extents; 1 for a scalar.

public func shapeCount(_ shape: [Int]) -> Int {
    var n = 1
    for d in shape { n *= d }
    return n
}

/// Row-major strides of a contiguous tensor of this shape.

func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var s = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[i] = s
        s *= shape[i]
    }
    return strides
}

/// Resolves a possibly negative axis (`-1` = last) against a rank, stopping with a clear message.

func normalizeAxis(_ axis: Int, rank: Int, _ op: String) -> Int {
    let a = axis < 0 ? axis + rank : axis
    check(a >= 0 && a < max(rank, 1), "\(op): axis \(axis) out of range for rank \(rank)")
    return a
}

/// Stops the program with `message` when `condition` is false. Unlike `precondition`, whose message
/// is dropped in optimised builds, the message (naming the shapes involved) is always printed.
@inline(__always)
func check(
    _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
    file: StaticString = #fileID, line: UInt = #line
) {
    if !condition() { fatalError(message(), file: file, line: line) }
}
