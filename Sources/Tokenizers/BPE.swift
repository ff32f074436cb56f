// Byte-level BPE merging in O(n log n) per word, with a bounded, thread-safe cache of merged words.
//
// The algorithm is HF's `Word::merge_all` (models/bpe/word.rs): put every adjacent pair that has a
// merge rank in a min-heap ordered by (rank, position); pop, skip entries made stale by earlier merges,
// merge, and push the two pairs the merged symbol now forms. This picks the same merge as GPT-2's
// `encoder.py` loop (lowest rank, leftmost first) without rescanning the word, so a 1 MB word costs
// O(n log n), not O(n²).
import Foundation

struct BPEModel: Sendable {
    let merges: MergeTable
    /// Vocabulary id of each single byte's symbol.
    let byteIDs: [UInt32]

    /// Reusable per-call buffers.
    struct Scratch {
        var ids: [UInt32] = []
        var len: [Int32] = []
        var prev: [Int32] = []
        var next: [Int32] = []
        var heap: [UInt64] = []
    }

    /// Appends the ids of the BPE tokens of `p[0..<n]` (n ≥ 1) to `out`.
    func merge(_ p: UnsafePointer<UInt8>, _ n: Int, into out: inout [UInt32], _ s: inout Scratch) {
        if n == 1 {
            out.append(byteIDs[Int(p[0])])
            return
        }
        s.ids.removeAll(keepingCapacity: true); s.len.removeAll(keepingCapacity: true)
        s.prev.removeAll(keepingCapacity: true); s.next.removeAll(keepingCapacity: true)
        s.heap.removeAll(keepingCapacity: true)
        for i in 0..<n {
            s.ids.append(byteIDs[Int(p[i])])
            s.len.append(1)
            s.prev.append(Int32(i - 1))
            s.next.append(i + 1 < n ? Int32(i + 1) : -1)
        }
        for i in 0..<(n - 1) {
            let m = merges.lookup(s.ids[i], s.ids[i + 1])
            if m != UInt64.max { s.heap.append(m & 0xFFFF_FFFF_0000_0000 | UInt64(i)) }
        }
        Heap.heapify(&s.heap)
        while let top = Heap.pop(&s.heap) {
            let rank = top >> 32
            let pos = Int(top & 0xFFFF_FFFF)
            if s.len[pos] == 0 { continue }
            let right = Int(s.next[pos])
            if right < 0 { continue }
            // Stale if the pair at `pos` is no longer the one this entry was pushed for.
            let m = merges.lookup(s.ids[pos], s.ids[right])
            if m == UInt64.max || m >> 32 != rank { continue }
            s.ids[pos] = UInt32(m & 0xFFFF_FFFF)
            s.len[pos] += s.len[right]
            s.len[right] = 0
            let after = Int(s.next[right])
            s.next[pos] = Int32(after)
            if after >= 0 { s.prev[after] = Int32(pos) }
            let before = Int(s.prev[pos])
            if before >= 0 {
                let m2 = merges.lookup(s.ids[before], s.ids[pos])
                if m2 != UInt64.max { Heap.push(&s.heap, m2 & 0xFFFF_FFFF_0000_0000 | UInt64(before)) }
            }
            if after >= 0 {
                let m2 = merges.lookup(s.ids[pos], s.ids[after])
                if m2 != UInt64.max { Heap.push(&s.heap, m2 & 0xFFFF_FFFF_0000_0000 | UInt64(pos)) }
            }
        }
        var i = 0
        while i >= 0 {
            out.append(s.ids[i])
            i = Int(s.next[i])
        }
    }
}

/// A binary min-heap of UInt64 keys (rank in the high half, position in the low half).
enum Heap {
    static func heapify(_ h: inout [UInt64]) {
        var i = h.count / 2 - 1
        while i >= 0 {
            siftDown(&h, i)
            i -= 1
        }
    }

    static func push(_ h: inout [UInt64], _ v: UInt64) {
        h.append(v)
        var i = h.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if h[parent] <= h[i] { break }
            h.swapAt(parent, i)
            i = parent
        }
    }

    static func pop(_ h: inout [UInt64]) -> UInt64? {
        guard let last = h.popLast() else { return nil }
        if h.isEmpty { return last }
        let top = h[0]
        h[0] = last
        siftDown(&h, 0)
        return top
    }

    private static func siftDown(_ h: inout [UInt64], _ start: Int) {
        var i = start
        let n = h.count
        while true {
            let l = 2 * i + 1
            if l >= n { return }
            var m = l
            if l + 1 < n && h[l + 1] < h[l] { m = l + 1 }
            if h[i] <= h[m] { return }
            h.swapAt(i, m)
            i = m
        }
    }
}

/// Merged words, keyed on their bytes. Words longer than `maxWordBytes` are not cached, and once
/// `capacity` words are in, new ones are not added (HF's cache also stops inserting when full), so the
/// memory stays bounded whatever the input.
struct BPECache: Sendable {
    static let maxWordBytes = 64
    private var table: SequenceTable<UInt8>
    /// [count, id, id, …] runs; the table's values are run starts.
    private var store: [UInt32] = []

    init(capacity: Int) { table = SequenceTable(capacity: capacity) }

    /// Appends the cached ids of `p[0..<n]` (whose hash is `h`) to `out`; false on a miss.
    func lookup(hash h: UInt64, _ p: UnsafePointer<UInt8>, _ n: Int, into out: inout [UInt32]) -> Bool {
        let v = table.find(hash: h, p, n)
        if v < 0 { return false }
        let start = Int(v)
        let count = Int(store[start])
        store.withUnsafeBufferPointer { out.append(contentsOf: $0[(start + 1)...(start + count)]) }
        return true
    }

    mutating func insert(_ p: UnsafePointer<UInt8>, _ n: Int, ids: ArraySlice<UInt32>) {
        if table.isFull { return }
        let start = Int32(store.count)
        if table.insert(p, n, value: start) == nil {
            store.append(UInt32(ids.count))
            store.append(contentsOf: ids)
        }
    }
}

/// The shared cache behind a lock: uncontended locking costs far less than re-merging a word. An NSLock (a pthread
/// mutex), not Synchronization's Mutex: ThreadSanitizer does not see a contended Mutex's hand-off (its futex path is
/// in the uninstrumented libswiftSynchronization) and reported the cache used from four threads as a race
/// (Tests/Sanitizers/README.md, finding 6), which would hide a real one.
final class SharedBPECache: @unchecked Sendable {
    private let lock = NSLock()
    private var cache: BPECache  // only under `lock`
    let enabled: Bool

    init(capacity: Int) {
        cache = BPECache(capacity: max(capacity, 1))
        enabled = capacity > 0
    }

    func lookup(hash h: UInt64, _ p: UnsafePointer<UInt8>, _ n: Int, into out: inout [UInt32]) -> Bool {
        guard enabled else { return false }
        return lock.withLock { cache.lookup(hash: h, p, n, into: &out) }
    }

    func insert(_ p: UnsafePointer<UInt8>, _ n: Int, ids: ArraySlice<UInt32>) {
        guard enabled else { return }
        lock.withLock { cache.insert(p, n, ids: ids) }
    }
}
