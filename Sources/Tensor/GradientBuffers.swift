// Recycled zero-filled buffers for large gradients (embedding tables), reused from one training step to the next.

/// Zero-filled buffers for large gradients (an embedding table's: 30522 × 128 floats for BERT), recycled
/// between training steps. Allocating one per step costs a 15.6 MB memset plus a page fault per 4 KB page
/// (and unmapping it afterwards); a recycled buffer costs one read, and writes only the rows the step used.
/// Any tensor may be handed back: `recycle` zeroes every non-zero element itself, so a buffer taken from
/// here is all zeros whatever was done to it before.
public enum GradientBuffers {
    /// Buffers below this many elements are not kept (allocating them is cheap).
    public static let minimumCount = 1 << 20
    /// At most this many buffers are kept.
    static let capacity = 4
    private static let free = Locked<[[Float]]>([])

    /// `count` zeros: a recycled buffer when one of that size is free, else a new one.
    static func zeros(_ count: Int) -> [Float] {
        if count >= minimumCount {
            let kept = free.withLock { f -> [Float]? in
                guard let i = f.firstIndex(where: { $0.count == count }) else { return nil }
                return f.remove(at: i)
            }
            if let kept { return kept }
        }
        return [Float](repeating: 0, count: count)
    }

    /// Takes `t`'s storage for later gradients of the same size (when it has at least `minimumCount`
    /// elements), zeroing it; `t` is left empty. Smaller tensors are just emptied.
    public static func recycle(_ t: inout Tensor) {
        var storage = t.storage
        t = Tensor.zeros([0])
        guard storage.count >= minimumCount else { return }
        storage.withUnsafeMutableBufferPointer { OptimizerKernels.zero($0) }  // copies first if still shared
        free.withLock { f in
            if f.count < capacity { f.append(storage) }
        }
    }

    /// The number of buffers kept now (for tests).
    public static var keptCount: Int { free.withLock { $0.count } }
}
