// Open-addressing hash tables keyed on integer sequences and on id pairs: the tokenizers' hot lookups.
//
// Swift's `Dictionary<String, Int>` would hash with SipHash and needs a `String` per probe. WordPiece
// probes many prefixes of one word, so `SequenceTable` uses an incremental FNV-1a hash: the hashes of
// all prefixes come out of one pass, and a probe is one multiply plus a key compare on a hash match.

/// Incremental FNV-1a over integer units (scalars or bytes).
enum SequenceHash {
    static let seed: UInt64 = 0xCBF2_9CE4_8422_2325
    @inline(__always)
    static func step<E: FixedWidthInteger>(_ h: UInt64, _ e: E) -> UInt64 {
        (h ^ UInt64(truncatingIfNeeded: e)) &* 0x0000_0100_0000_01B3
    }
    static func hash<E: FixedWidthInteger>(_ p: UnsafePointer<E>, _ n: Int) -> UInt64 {
        var h = seed
        for i in 0..<n { h = step(h, p[i]) }
        return h
    }
}

/// Maps sequences of `E` to `Int32` values. Keys live in one arena; slots hold entry indices.
struct SequenceTable<E: FixedWidthInteger>: Sendable where E: Sendable {
    private var slots: [Int32]
    private var slotHash: [UInt64]
    private var keyStart: [Int32] = []
    private var keyCount: [Int32] = []
    private(set) var values: [Int32] = []
    private var arena: [E] = []
    private let shift: UInt64
    private let mask: Int
    /// Longest key, in units: WordPiece never needs to probe longer substrings.
    private(set) var maxKeyLength = 0

    /// A table with room for `capacity` entries at load factor 1/2.
    init(capacity: Int) {
        var bits = 4
        while (1 << bits) < 2 * max(capacity, 1) { bits += 1 }
        slots = [Int32](repeating: -1, count: 1 << bits)
        slotHash = [UInt64](repeating: 0, count: 1 << bits)
        shift = UInt64(64 - bits)
        mask = (1 << bits) - 1
    }

    var count: Int { values.count }
    /// True when another insert would exceed the load factor the table was sized for.
    var isFull: Bool { 2 * (values.count + 1) > slots.count }

    @inline(__always)
    private func home(_ h: UInt64) -> Int { Int(truncatingIfNeeded: (h &* 0x9E37_79B9_7F4A_7C15) >> shift) }

    /// The value for the key `p[0..<n]` whose `SequenceHash` is `h`, or -1.
    @inline(__always)
    func find(hash h: UInt64, _ p: UnsafePointer<E>, _ n: Int) -> Int32 {
        var s = home(h)
        return slots.withUnsafeBufferPointer { slots in
            slotHash.withUnsafeBufferPointer { hashes in
                while true {
                    let e = slots[s]
                    if e < 0 { return -1 }
                    if hashes[s] == h && keyCount[Int(e)] == n && keyEquals(Int(e), p, n) { return values[Int(e)] }
                    s = (s + 1) & mask
                }
            }
        }
    }

    @inline(__always)
    private func keyEquals(_ e: Int, _ p: UnsafePointer<E>, _ n: Int) -> Bool {
        let start = Int(keyStart[e])
        return arena.withUnsafeBufferPointer { a in
            for i in 0..<n where a[start + i] != p[i] { return false }
            return true
        }
    }

    /// Inserts a key unless present; returns the existing value if it was, else nil. Callers must check
    /// `isFull` first.
    @discardableResult
    mutating func insert(_ p: UnsafePointer<E>, _ n: Int, value: Int32) -> Int32? {
        let h = SequenceHash.hash(p, n)
        let found = find(hash: h, p, n)
        if found >= 0 { return found }
        var s = home(h)
        while slots[s] >= 0 { s = (s + 1) & mask }
        slots[s] = Int32(values.count)
        slotHash[s] = h
        keyStart.append(Int32(arena.count))
        keyCount.append(Int32(n))
        values.append(value)
        arena.append(contentsOf: UnsafeBufferPointer(start: p, count: n))
        maxKeyLength = max(maxKeyLength, n)
        return nil
    }

    @discardableResult
    mutating func insert(_ key: [E], value: Int32) -> Int32? {
        key.withUnsafeBufferPointer { b in
            // A zero-length key still needs a valid pointer.
            b.baseAddress.map { insert($0, b.count, value: value) } ?? insertEmpty(value: value)
        }
    }

    private mutating func insertEmpty(value: Int32) -> Int32? {
        var dummy = E.zero
        return insert(&dummy, 0, value: value)
    }

    func find(_ key: [E]) -> Int32 {
        key.withUnsafeBufferPointer { b in
            guard let p = b.baseAddress else {
                var dummy = E.zero
                return find(hash: SequenceHash.seed, &dummy, 0)
            }
            return find(hash: SequenceHash.hash(p, b.count), p, b.count)
        }
    }
}

/// Token → id with exact, scalar-by-scalar comparison. Swift's `String ==` and `Dictionary<String, _>`
/// use canonical equivalence ("é" == "e\u{301}"), which would merge distinct vocabulary entries.
struct TokenIndex: Sendable {
    private(set) var table: SequenceTable<UInt32>

    init(capacity: Int) { table = SequenceTable(capacity: capacity) }

    func id(_ token: String) -> Int? {
        let v = table.find(token.unicodeScalars.map(\.value))
        return v < 0 ? nil : Int(v)
    }

    /// Adds `token`; returns the id it already had, if any (then nothing changes).
    mutating func add(_ token: String, id: Int) -> Int? {
        table.insert(token.unicodeScalars.map(\.value), value: Int32(id)).map(Int.init)
    }
}

/// BPE merge ranks: (left id, right id) → (rank, merged id), the `MergeMap` of HF's BPE model.
struct MergeTable: Sendable {
    private var keys: [UInt64]
    private var vals: [UInt64]
    private let shift: UInt64
    private let mask: Int
    private static let empty = UInt64.max

    init(capacity: Int) {
        var bits = 4
        while (1 << bits) < 2 * max(capacity, 1) { bits += 1 }
        keys = [UInt64](repeating: MergeTable.empty, count: 1 << bits)
        vals = [UInt64](repeating: 0, count: 1 << bits)
        shift = UInt64(64 - bits)
        mask = (1 << bits) - 1
    }

    @inline(__always)
    private func home(_ k: UInt64) -> Int { Int(truncatingIfNeeded: (k &* 0x9E37_79B9_7F4A_7C15) >> shift) }

    /// Later inserts of the same pair overwrite earlier ones, as HF's `HashMap` collect does.
    mutating func insert(left: UInt32, right: UInt32, rank: UInt32, merged: UInt32) {
        let k = UInt64(left) << 32 | UInt64(right)
        var s = home(k)
        while keys[s] != MergeTable.empty && keys[s] != k { s = (s + 1) & mask }
        keys[s] = k
        vals[s] = UInt64(rank) << 32 | UInt64(merged)
    }

    /// `rank << 32 | merged`, or `UInt64.max` when the pair does not merge.
    @inline(__always)
    func lookup(_ left: UInt32, _ right: UInt32) -> UInt64 {
        let k = UInt64(left) << 32 | UInt64(right)
        var s = home(k)
        return keys.withUnsafeBufferPointer { keys in
            while true {
                let key = keys[s]
                if key == k { return vals[s] }
                if key == MergeTable.empty { return UInt64.max }
                s = (s + 1) & mask
            }
        }
    }
}
