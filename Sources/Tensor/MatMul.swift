// The single GEMM wrapper over OpenBLAS (sgemm, or sgemv when one side is a vector) and matmul with its VJP.
import CBLAS
import Foundation

/// OpenBLAS threads: `LOUPE_THREADS` if set to a positive integer, else all cores. Read once.
public enum Threads {
    public static let count: Int = {
        let env = ProcessInfo.processInfo.environment["LOUPE_THREADS"].flatMap { Int($0) }
        let n = env.flatMap { $0 > 0 ? $0 : nil } ?? ProcessInfo.processInfo.activeProcessorCount
        openblas_set_num_threads(Int32(n))
        return n
    }()
}

/// C[m×n] = alpha·op(A)[m×k]·op(B)[k×n] + beta·C, row-major; op(X) = Xᵀ when its flag is set.
/// Every matrix product in Loupe goes through here, so a faster backend changes one function.
/// When m or n is 1 the product is a matrix–vector product and runs as `cblas_sgemv`, which
/// streams the matrix once (GPT-2 decoding is bound by exactly that).
///
/// Threads: products worth splitting run on Loupe's pool (`Parallel`), one block of output columns
/// (rows, for a column vector) per thread, each block one single-threaded OpenBLAS call; one pool
/// instead of OpenBLAS's and Loupe's competing for two cores. The blocks depend only on the shape and
/// `Threads.count`, not on whether the pool is free (a busy pool runs them in turn on this thread):
/// OpenBLAS's last bits depend on the partition (a product split in two column blocks, or run on
/// 2 threads, can differ from one call), and bit-exact resumption of training needs the same bits
/// every time. `parallel: false` makes one call on this thread (for callers that
/// already run products side by side). `epilogue(rows, columns)` runs on each block of C right
/// after its product, on the thread that computed it, while the block is in cache (bias, GELU).
public func sgemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, parallel: Bool = true,
    epilogue: ((_ rows: Range<Int>, _ columns: Range<Int>) -> Void)? = nil
) {
    let threads = Threads.count
    if m == 0 || n == 0 { return }
    if k == 0 {
        for i in 0..<m {
            for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] }
        }
        epilogue?(0..<m, 0..<n)
        return
    }
    Parallel.withSingleThreadedBLAS {
        // ≥ 128 K multiply-adds (≈ 2 µs on one core) repay a parallel loop (≈ 1 µs while the pool spins).
        let split = parallel && threads > 1 && m * n * k >= 1 << 17
        if split && n >= 32 * threads {
            // Column blocks, multiples of 16 wide: each thread packs only its part of B.
            let chunk = ((n + threads - 1) / threads + 15) / 16 * 16
            Parallel.forEach((n + chunk - 1) / chunk) { part, _ in
                let j0 = part * chunk, w = Swift.min(chunk, n - j0)
                sgemmBlock(
                    transA: transA, transB: transB, m: m, n: w, k: k, alpha: alpha, a: a, lda: lda,
                    b: transB ? b + j0 * ldb : b + j0, ldb: ldb, beta: beta, c: c + j0, ldc: ldc)
                epilogue?(0..<m, j0..<(j0 + w))
            }
        } else if split && m >= 16 * threads {
            let chunk = ((m + threads - 1) / threads + 7) / 8 * 8
            Parallel.forEach((m + chunk - 1) / chunk) { part, _ in
                let i0 = part * chunk, h = Swift.min(chunk, m - i0)
                sgemmBlock(
                    transA: transA, transB: transB, m: h, n: n, k: k, alpha: alpha,
                    a: transA ? a + i0 : a + i0 * lda, lda: lda, b: b, ldb: ldb, beta: beta, c: c + i0 * ldc, ldc: ldc)
                epilogue?(i0..<(i0 + h), 0..<n)
            }
        } else {
            sgemmBlock(
                transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                beta: beta, c: c, ldc: ldc)
            epilogue?(0..<m, 0..<n)
        }
    }
}

/// One OpenBLAS call: sgemv for a row or column vector, sgemm otherwise (m, n, k > 0).
@inline(__always)
private func sgemmBlock(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    if m == 1 {
        // c[1×n] = a·op(B): with B stored [k×n], y = Bᵀa; with B stored [n×k], y = Ba.
        let incA = Int32(transA ? lda : 1)
        if transB {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), alpha, b, Int32(ldb), a, incA, beta, c, 1)
        } else {
            cblas_sgemv(CblasRowMajor, CblasTrans, Int32(k), Int32(n), alpha, b, Int32(ldb), a, incA, beta, c, 1)
        }
        return
    }
    if n == 1 {
        // c[m×1] = op(A)·b: with A stored [m×k], y = Ab; with A stored [k×m], y = Aᵀb.
        let incB = Int32(transB ? 1 : ldb)
        if transA {
            cblas_sgemv(
                CblasRowMajor, CblasTrans, Int32(k), Int32(m), alpha, a, Int32(lda), b, incB, beta, c, Int32(ldc))
        } else {
            cblas_sgemv(
                CblasRowMajor, CblasNoTrans, Int32(m), Int32(k), alpha, a, Int32(lda), b, incB, beta, c, Int32(ldc))
        }
        return
    }
    cblas_sgemm(
        CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// Matrix product of the last two axes with broadcasting over the leading (batch) axes, like
/// `torch.matmul` on operands of rank ≥ 2; `transposeA`/`transposeB` use Aᵀ/Bᵀ of the last two axes
/// without copying. VJP: dA = G·op(B)ᵀ and dB = op(A)ᵀ·G (transposed back when the flag is set),
/// summed over broadcast batch axes.
public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
    check(
        a.rank >= 2 && b.rank >= 2, "matmul: operands must have rank ≥ 2, got shapes \(a.shape) and \(b.shape)")
    // A batch of rows times one shared matrix is one large GEMM (and so is its weight gradient).
    if b.rank == 2 && a.rank > 2 && !transposeA {
        let k = a.shape[a.rank - 1]
        let flat = matmul(a.reshaped([-1, k]), b, transposeB: transposeB)
        return flat.reshaped(Array(a.shape.dropLast()) + [flat.shape[1]])
    }
    let out = batchedProduct(a, b, transposeA, transposeB)
    let (ad, bd) = (a.detached, b.detached)
    return out.recorded(from: a, b) { g, needA, needB in
        var ga: Tensor?
        var gb: Tensor?
        if needA {
            ga =
                transposeA
                ? batchedProduct(bd, g, transposeB, true)
                : batchedProduct(g, bd, false, !transposeB)
            ga = ga!.unbroadcast(to: ad.shape)
        }
        if needB {
            gb =
                transposeB
                ? batchedProduct(g, ad, true, transposeA)
                : batchedProduct(ad, g, !transposeA, false)
            gb = gb!.unbroadcast(to: bd.shape)
        }
        return (ga, gb)
    }
}

/// Untracked batched op(A)·op(B) with numpy broadcasting of the batch axes.
func batchedProduct(_ a: Tensor, _ b: Tensor, _ transA: Bool, _ transB: Bool) -> Tensor {
    let (ar, br) = (a.rank, b.rank)
    let m = transA ? a.shape[ar - 1] : a.shape[ar - 2]
    let ka = transA ? a.shape[ar - 2] : a.shape[ar - 1]
    let kb = transB ? b.shape[br - 1] : b.shape[br - 2]
    let n = transB ? b.shape[br - 2] : b.shape[br - 1]
    check(
        ka == kb,
        "matmul: shapes \(a.shape)\(transA ? "ᵀ" : "") and \(b.shape)\(transB ? "ᵀ" : "") are incompatible (\(ka) != \(kb))"
    )
    let aBatch = Array(a.shape.dropLast(2)), bBatch = Array(b.shape.dropLast(2))
    let batch = broadcastShape(aBatch, bBatch, "matmul batch")
    let batches = shapeCount(batch)
    let aStrides = broadcastStrides(aBatch, to: batch), bStrides = broadcastStrides(bBatch, to: batch)
    let outerStrides = contiguousStrides(batch)
    let (aMat, bMat) = (a.shape[ar - 2] * a.shape[ar - 1], b.shape[br - 2] * b.shape[br - 1])
    return Tensor(shape: batch + [m, n]) { out in
        guard out.count > 0 else { return }
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                for i in 0..<batches {
                    var (oa, ob, rest) = (0, 0, i)
                    for d in 0..<batch.count {
                        let ix = rest / outerStrides[d]
                        rest %= outerStrides[d]
                        oa += ix * aStrides[d]
                        ob += ix * bStrides[d]
                    }
                    if ka == 0 {
                        (out.baseAddress! + i * m * n).initialize(repeating: 0, count: m * n)
                        continue
                    }
                    sgemm(
                        transA: transA, transB: transB, m: m, n: n, k: ka,
                        a: pa.baseAddress! + oa * aMat, lda: a.shape[ar - 1],
                        b: pb.baseAddress! + ob * bMat, ldb: b.shape[br - 1],
                        c: out.baseAddress! + i * m * n, ldc: n)
                }
            }
        }
    }
}
