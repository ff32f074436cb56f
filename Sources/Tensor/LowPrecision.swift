// Reduced-precision matrix products through oneDNN: int8 (ONNX Runtime's dynamic quantisation) and bfloat16 weights.
//
// int8 follows ONNX Runtime's `quantize_dynamic` (QInt8 weights, `DynamicQuantizeLinear` activations): each output
// channel j of W gets a symmetric s8 scale sⱼ = max|W[:, j]| / 127; each product's input is quantised to u8 with a
// zero point per row (per token), where ONNX Runtime uses one per tensor: it costs nothing here, since the zero-point
// term is folded in our own epilogue, and it keeps all-MiniLM-L6-v2's SST-2 dev embeddings at cosine ≥ 0.9938 to
// fp32, where one scale per tensor let the worst sentence fall to 0.971. oneDNN multiplies u8 × s8 → s32 and
// `loupe_dequantize` turns the block back into float32 (the zero-point term folded there, as MLAS does), on the
// thread that computed it, before the caller's bias and activation. bf16 converts W once and the input per product
// (round to nearest even), f32 out.
//
// Threads: like `sgemm`, a product is split in column blocks, one per pool thread, each block its own weights and
// one single-threaded oneDNN call (its OpenMP team is 1: OpenBLAS's, OpenMP's and Loupe's threads spinning at once
// slowed calls 5–40× in issue 15's measurements). A primitive per (rows, block), created on first use
// and kept; scales and zero points are never runtime attributes (oneDNN then falls back to a slower unpacked kernel).
import COneDNN
import Foundation

/// The arithmetic of inference products. Gradients and training always use float32.
public enum Precision: String, Codable, Sendable, CaseIterable {
    case fp32, bf16, int8
}

/// Why a precision cannot run here, or oneDNN refused a shape.
public enum LowPrecisionError: Error, Equatable, CustomStringConvertible {
    /// This CPU (as oneDNN sees it) lacks the instructions; `isa` is oneDNN's name for what it has.
    case unsupported(Precision, isa: String)
    /// oneDNN failed; `shape` is "m×k·k×n".
    case onednn(String, shape: String)
    /// A weight column (output channel) holds a NaN or an infinity, which int8 cannot represent.
    case nonFiniteWeight(column: Int)

    public var description: String {
        switch self {
        case .unsupported(let p, let isa):
            return p == .bf16
                ? "bf16 needs a CPU with AVX512_BF16 or AMX; oneDNN sees \(isa) here, where int8 and fp32 run"
                : "\(p.rawValue) is not supported by oneDNN on this CPU (\(isa))"
        case .onednn(let message, let shape): return "\(message) for the product \(shape)"
        case .nonFiniteWeight(let column):
            return "weight column \(column) holds a NaN or an infinity, which int8 cannot represent"
        }
    }
}

/// What oneDNN offers on this machine.
public enum LowPrecisionSupport {
    /// oneDNN's effective ISA, by its `dnnl_cpu_isa_t` value.
    public static var isa: String {
        switch loupe_onednn_isa() {
        case 0x1: return "sse41"
        case 0x3: return "avx"
        case 0x7: return "avx2"
        case 0x27: return "avx512_core"
        case 0x67: return "avx512_core_vnni"
        case 0xe7: return "avx512_core_bf16"
        case 0x3e7: return "avx512_core_amx"
        case 0x407: return "avx2_vnni"
        case let v: return String(format: "isa 0x%x", v)
        }
    }
    public static var version: String { String(cString: loupe_onednn_version()) }
    /// u8 × s8 without saturation needs VNNI (vpdpbusd); without it pairs of products go through 16-bit sums, so
    /// weights use 7 bits, as ONNX Runtime's `reduce_range` does.
    public static var hasVNNI: Bool { [0x67, 0xe7, 0x3e7, 0x407].contains(loupe_onednn_isa()) }
    public static var hasBF16: Bool { [0xe7, 0x3e7].contains(loupe_onednn_isa()) }

    /// Throws when `precision` cannot run on this CPU.
    public static func check(_ precision: Precision) throws(LowPrecisionError) {
        if precision == .bf16 && !hasBF16 { throw .unsupported(.bf16, isa: isa) }
        if precision == .int8 && loupe_onednn_isa() < 0x7 { throw .unsupported(.int8, isa: isa) }
    }
}

/// Symmetric int8 weights per output channel (ONNX Runtime's QInt8 weights): scale = max|w| / levels, no zero point.
/// One definition for the in-memory products and for saved int8 files (`loupe quantize`), so that a file's integers
/// are exactly the ones its products use: re-quantising w = q·scale gives q back, since |q·scale/scale′ − q| ≤ 127·2⁻²³.
public enum SymmetricInt8 {
    /// 127 levels each side, or 63 where u8 × s8 products sum pairs in 16 bits (no VNNI), as ONNX Runtime's
    /// `reduce_range`.
    public static var levels: Float { LowPrecisionSupport.hasVNNI ? 127 : 63 }
    /// The scale of a channel whose largest magnitude is `amax` (1 for an all-zero channel).
    public static func scale(amax: Float, levels: Float) -> Float { amax > 0 ? amax / levels : 1 }
    /// round(w / scale) (half to even), clamped to ±levels.
    public static func quantize(_ w: Float, scale: Float, levels: Float) -> Int8 {
        Int8(Swift.max(-levels, Swift.min(levels, (w / scale).rounded(.toNearestOrEven))))
    }
}

/// One oneDNN primitive (freed when the last user lets go, so evicting it from a cache mid-call is safe).
final class OneDNNGemm: @unchecked Sendable {
    let handle: OpaquePointer
    init(_ handle: OpaquePointer) { self.handle = handle }
    deinit { loupe_gemm_destroy(handle) }
    var impl: String { String(cString: loupe_gemm_impl(handle)) }
}

/// Packed weights of one column block in the layout of `layout`'s primitive.
final class PackedBlock: @unchecked Sendable {
    let layout: OneDNNGemm
    let bytes: UnsafeMutableRawPointer
    init(layout: OneDNNGemm, bytes: UnsafeMutableRawPointer) { (self.layout, self.bytes) = (layout, bytes) }
    deinit { bytes.deallocate() }
}

/// A weight matrix W (k inputs × n outputs) in int8 or bf16, for y = x·W, packed per shape for oneDNN.
public final class LowPrecisionMatrix: @unchecked Sendable {
    public let precision: Precision
    public let k: Int, n: Int
    /// Column blocks [start, start + width), one per pool thread.
    let blocks: [Range<Int>]
    /// int8: per output channel, the scale and the sum of the quantised column (for the zero-point term).
    let columnScale: [Float], columnSum: [Int32]
    private struct Key: Hashable { let m, block: Int }
    private let cache = Locked<(primitives: [Key: OneDNNGemm], packed: [[PackedBlock]])>(([:], []))
    private static let maxPrimitives = 256
    /// Rows per oneDNN call: a 128-row tile of s32 results (≤ 128 × 1,536 × 4 bytes) fits the 1 MB L2 cache of a core
    /// here with room for its float32 rows. BERT-base 8×128 int8 ran 7 % faster in tiles than in one call for all rows
    /// (forward ÷ raw sgemm in the same process, 3 rounds: 128-row tiles 0.328, 64-row 0.329, 32-row 0.343, one call
    /// 0.354); at 1×128 (one tile) splitting further in 64-row calls gained nothing measurable.
    static let tileRows = 128

    /// `weight(i, j)` = W[i, j] (input i, output j), read once. Throws when the CPU cannot run `precision` or
    /// oneDNN refuses the shape (a first primitive is made here, so failures show at load, not mid-request).
    public init(
        precision: Precision, k: Int, n: Int, weight: (_ input: Int, _ output: Int) -> Float
    ) throws(LowPrecisionError) {
        precondition(precision != .fp32 && k > 0 && n > 0, "LowPrecisionMatrix: int8 or bf16, positive sizes")
        try LowPrecisionSupport.check(precision)
        (self.precision, self.k, self.n) = (precision, k, n)
        let parts = n >= 32 * Threads.count ? Threads.count : 1
        let chunk = ((n + parts - 1) / parts + 15) / 16 * 16
        blocks = stride(from: 0, to: n, by: chunk).map { $0..<Swift.min($0 + chunk, n) }
        var scales = [Float](repeating: 1, count: precision == .int8 ? n : 0)
        var sums = [Int32](repeating: 0, count: precision == .int8 ? n : 0)
        let qmax = SymmetricInt8.levels
        var plain: [UnsafeMutableRawPointer] = []
        var column = [Float](repeating: 0, count: k)
        for block in blocks {
            let bytes = UnsafeMutableRawPointer.allocate(
                byteCount: block.count * k * (precision == .int8 ? 1 : 2), alignment: 64)
            for j in block {
                for i in 0..<k { column[i] = weight(i, j) }
                let base = (j - block.lowerBound) * k
                if precision == .int8 {
                    guard column.allSatisfy(\.isFinite) else {
                        for p in plain { p.deallocate() }
                        bytes.deallocate()
                        throw .nonFiniteWeight(column: j)
                    }
                    let s = SymmetricInt8.scale(amax: column.reduce(Float(0)) { Swift.max($0, abs($1)) }, levels: qmax)
                    var sum: Int32 = 0
                    let q = bytes.assumingMemoryBound(to: Int8.self) + base
                    for i in 0..<k {
                        let v = SymmetricInt8.quantize(column[i], scale: s, levels: qmax)
                        q[i] = v
                        sum += Int32(v)
                    }
                    (scales[j], sums[j]) = (s, sum)
                } else {
                    column.withUnsafeBufferPointer {
                        loupe_to_bf16($0.baseAddress!, 1, Int64(k), Int64(k), bytes.assumingMemoryBound(to: UInt16.self) + base)
                    }
                }
            }
            plain.append(bytes)
        }
        (columnScale, columnSum) = (scales, sums)
        // Packed now for one-row products, then the plain copies go (every shape measured here, M from 1 to 4,096,
        // used the same packed layout; a shape that wants another is re-packed from this one).
        defer { for p in plain { p.deallocate() } }
        cache.withLock { $0.packed = Array(repeating: [], count: blocks.count) }
        for (block, bytes) in plain.enumerated() { try pack(block: block, plain: bytes) }
    }

    /// The oneDNN implementation of a product of `m` rows (e.g. "brg:avx512_core_vnni").
    public func kernel(rows m: Int) throws(LowPrecisionError) -> String { try gemm(m: m, block: 0).gemm.impl }

    /// A new primitive for `m` rows of block `block`.
    private func primitive(m: Int, block: Int) throws(LowPrecisionError) -> OneDNNGemm {
        var err = [CChar](repeating: 0, count: 256)
        let width = blocks[block].count
        guard let h = loupe_gemm_create(
            precision == .int8 ? LOUPE_GEMM_INT8 : LOUPE_GEMM_BF16, Int64(m), Int64(k), Int64(width), Int64(k), &err,
            err.count)
        else { throw .onednn(String(cString: err), shape: "\(m)×\(k)·\(k)×\(width)") }
        return OneDNNGemm(h)
    }

    /// Packs a block's plain weights [width × k] (element (i, j) at j·k + i) for one-row products.
    private func pack(block: Int, plain: UnsafeRawPointer) throws(LowPrecisionError) {
        let g = try primitive(m: 1, block: block)
        var err = [CChar](repeating: 0, count: 256)
        let bytes = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(loupe_gemm_weights_size(g.handle), 1), alignment: 64)
        guard loupe_gemm_pack(g.handle, plain, 1, Int64(k), bytes, &err, err.count) == 0 else {
            bytes.deallocate()
            throw .onednn(String(cString: err), shape: "1×\(k)·\(k)×\(blocks[block].count)")
        }
        cache.withLock { c in
            c.primitives[Key(m: 1, block: block)] = g
            c.packed[block].append(PackedBlock(layout: g, bytes: bytes))
        }
    }

    /// The primitive and packed weights of one block for m rows.
    private func gemm(m: Int, block: Int) throws(LowPrecisionError) -> (gemm: OneDNNGemm, packed: PackedBlock) {
        let key = Key(m: m, block: block)
        func packedFor(_ g: OneDNNGemm, in packed: [PackedBlock]) -> PackedBlock? {
            packed.first { loupe_gemm_same_weights($0.layout.handle, g.handle) != 0 }
        }
        if let hit = cache.withLock({ c in c.primitives[key].map { ($0, packedFor($0, in: c.packed[block])!) } }) {
            return hit
        }
        let g = try primitive(m: m, block: block)
        let (existing, first) = cache.withLock { c in (packedFor(g, in: c.packed[block]), c.packed[block][0]) }
        let packed: PackedBlock
        if let existing {
            packed = existing
        } else {
            var err = [CChar](repeating: 0, count: 256)
            let bytes = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(loupe_gemm_weights_size(g.handle), 1), alignment: 64)
            guard loupe_gemm_repack(g.handle, first.layout.handle, first.bytes, bytes, &err, err.count) == 0 else {
                bytes.deallocate()
                throw .onednn(String(cString: err), shape: "\(m)×\(k)·\(k)×\(blocks[block].count)")
            }
            packed = PackedBlock(layout: g, bytes: bytes)
        }
        cache.withLock { c in
            if c.primitives.count >= Self.maxPrimitives { c.primitives = c.primitives.filter { $0.key.m == 1 } }
            c.primitives[key] = g
            if !c.packed[block].contains(where: { $0 === packed }) { c.packed[block].append(packed) }
        }
        return (g, packed)
    }

    /// y[m×n] (row stride ldy) = x[m×k] (row stride lda)·W (+ bias[n]) in this precision, then `epilogue(rows,
    /// columns)` on each block right after it is computed (an activation). The bias is added in the dequantising pass.
    /// Products worth splitting run one block per pool thread.
    public func multiply(
        _ x: UnsafePointer<Float>, m: Int, lda: Int, into y: UnsafeMutablePointer<Float>, ldy: Int,
        bias: UnsafePointer<Float>? = nil, epilogue: ((_ rows: Range<Int>, _ columns: Range<Int>) -> Void)? = nil
    ) {
        guard m > 0 else { return }
        let inputBytes = m * k * (precision == .int8 ? 1 : 2)
        // [m] row scales, [m] row zero points (each m rounded up to 16), then the quantised rows.
        let header = (m + 15) / 16 * 16 * 2
        Scratch.with(header + (inputBytes + 3) / 4) { raw in
            let aScale = UnsafePointer(raw)
            let zp = UnsafeMutableRawPointer(raw + header / 2).assumingMemoryBound(to: Int32.self)
            let a = UnsafeMutableRawPointer(raw + header)
            // Rows are quantised independently, so the pool splits them (≈ 4 element operations each).
            let int8 = precision == .int8, k = self.k
            Parallel.forRows(m, cost: 4 * k) { rows in
                let (r, count) = (rows.lowerBound, Int64(rows.count))
                if int8 {
                    loupe_quantize_u8(
                        x + r * lda, count, Int64(k), Int64(lda), a.assumingMemoryBound(to: UInt8.self) + r * k,
                        raw + r, zp + r)
                } else {
                    loupe_to_bf16(x + r * lda, count, Int64(k), Int64(lda), a.assumingMemoryBound(to: UInt16.self) + r * k)
                }
            }
            let elementBytes = precision == .int8 ? 1 : 2
            let tile = Swift.min(m, Self.tileRows)
            let run = { (block: Int) in
                let columns = self.blocks[block]
                // Row tiles: each tile's product lands in a dense buffer (oneDNN's fast kernels write no strided C)
                // small enough to stay in the core's L2 cache, then goes into y, dequantised (int8) or copied
                // (bf16), with the bias, followed by the caller's epilogue.
                let full: (gemm: OneDNNGemm, packed: PackedBlock), rest: (gemm: OneDNNGemm, packed: PackedBlock)?
                do {
                    full = try self.gemm(m: tile, block: block)
                    rest = m % tile == 0 ? nil : try self.gemm(m: m % tile, block: block)
                } catch {
                    preconditionFailure("oneDNN: \(error)")  // the same shape family was made at load; not input
                }
                let dense = tile * columns.count
                let scratchpad = Swift.max(
                    loupe_gemm_scratchpad_size(full.gemm.handle), rest.map { loupe_gemm_scratchpad_size($0.gemm.handle) } ?? 0)
                Scratch.with(dense + (scratchpad + 3) / 4) { buffer in
                    for t0 in stride(from: 0, to: m, by: tile) {
                        let (g, packed) = t0 + tile <= m ? full : rest!
                        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 256) { err in
                            let status = loupe_gemm_execute(
                                g.handle, a + t0 * k * elementBytes, packed.bytes, buffer, buffer + dense, err.baseAddress,
                                err.count)
                            precondition(status == 0, "oneDNN: \(String(cString: err.baseAddress!))")
                        }
                        // A few rows at a time, so that the epilogue's pass (GELU) reads rows the dequantising pass
                        // has just written, still in L1/L2.
                        let chunk = Swift.max(1, 16_384 / columns.count)
                        for r0 in stride(from: t0, to: Swift.min(t0 + tile, m), by: chunk) {
                            let rows = r0..<Swift.min(r0 + chunk, t0 + tile, m)
                            let from = buffer + (r0 - t0) * columns.count
                            let (to, count) = (y + r0 * ldy + columns.lowerBound, Int64(rows.count))
                            let blockBias = bias.map { $0 + columns.lowerBound }
                            if self.precision == .int8 {
                                self.columnScale.withUnsafeBufferPointer { s in
                                    self.columnSum.withUnsafeBufferPointer { q in
                                        loupe_dequantize(
                                            UnsafeRawPointer(from).assumingMemoryBound(to: Int32.self), count,
                                            Int64(columns.count), to, Int64(ldy), aScale + r0, zp + r0,
                                            s.baseAddress! + columns.lowerBound, q.baseAddress! + columns.lowerBound,
                                            blockBias)
                                    }
                                }
                            } else {
                                loupe_copy_rows(from, count, Int64(columns.count), to, Int64(ldy), blockBias)
                            }
                            epilogue?(rows, columns)
                        }
                    }
                }
            }
            if blocks.count > 1 && m * n * k >= 1 << 17 {
                Parallel.withSingleThreadedBLAS { Parallel.forEach(blocks.count) { block, _ in run(block) } }
            } else {
                for block in blocks.indices { run(block) }
            }
        }
    }
}
