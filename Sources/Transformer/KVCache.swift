// GPT-2's key/value cache: every layer's past keys and values, grown in place as decoding appends.
import Tensor

/// Cached keys and values of every layer, plus the attention mask seen so far. Storage is preallocated with
/// room to grow (doubling), so a decoding step appends its keys and values in place instead of copying the
/// whole past: O(T) per step, not O(T²) over a generation.
public struct KVCache: Sendable {
    /// Per layer [2, B, NH, capacity, D]: keys then values; positions 0..<length of each (b, h) are filled.
    var storage: [[Float]] = []
    var capacity = 0
    var batch = 0, heads = 0, headSize = 0
    /// [B, P]: 1 for real tokens, 0 for (left) padding.
    public var attentionMask: [Int] = []
    /// Cached positions P.
    public internal(set) var length = 0

    public init() {}

    /// Every layer's keys and values as [B, NH, P, D] tensors (copies); setting replaces the cache contents.
    public var layers: [(Tensor, Tensor)] {
        get { storage.indices.map { past(layer: $0) } }
        set {
            storage = []
            (capacity, length) = (0, 0)
            guard let first = newValue.first?.0 else { return }
            let s = first.shape  // [B, NH, P, D]
            (batch, heads, headSize) = (s[0], s[1], s[3])
            reserve(s[2], layers: newValue.count, batch: s[0], heads: s[1], headSize: s[3], limit: s[2])
            for (l, kv) in newValue.enumerated() { store(layer: l, keys: kv.0, values: kv.1, from: 0) }
            length = s[2]
        }
    }

    /// Where element (b, h, position, j) of a layer's keys (or values) lies in `withLayer`'s buffers.
    var layout: AttentionKernel.Layout {
        AttentionKernel.Layout(batch: heads * capacity * headSize, head: capacity * headSize, row: headSize)
    }

    /// Makes room for `total` positions, keeping the cached ones: the first reservation allocates, later ones
    /// grow to at least double (at most `limit`, the model's positions, unless more are asked for).
    mutating func reserve(_ total: Int, layers: Int, batch b: Int, heads nh: Int, headSize d: Int, limit: Int) {
        if storage.isEmpty {
            (batch, heads, headSize) = (b, nh, d)
        } else {
            if (batch, heads, headSize) != (b, nh, d) || storage.count != layers {
                fatalError(
                    "KVCache: the cache holds \(storage.count) layers of [\(batch), \(heads), P, \(headSize)], "
                        + "this forward needs \(layers) layers of [\(b), \(nh), P, \(d)]")
            }
            if total <= capacity { return }
        }
        let newCapacity = Swift.max(total, Swift.min(limit, Swift.max(64, 2 * total)))
        let old = (storage, capacity, layout)
        capacity = newCapacity
        let size = 2 * b * nh * newCapacity * d
        storage = (0..<layers).map { l in
            var fresh = [Float](repeating: 0, count: size)
            guard !old.0.isEmpty, length > 0 else { return fresh }
            let new = layout
            fresh.withUnsafeMutableBufferPointer { dst in
                old.0[l].withUnsafeBufferPointer { src in
                    for half in 0..<2 {
                        for bh in 0..<(b * nh) {
                            let (bb, hh) = (bh / nh, bh % nh)
                            (dst.baseAddress! + half * (size / 2) + bb * new.batch + hh * new.head).update(
                                from: src.baseAddress! + half * (src.count / 2) + bb * old.2.batch + hh * old.2.head,
                                count: length * d)
                        }
                    }
                }
            }
            return fresh
        }
    }

    /// Calls `body(keys, values, layout)` with layer l's buffers.
    mutating func withLayer<R>(
        _ l: Int, _ body: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, AttentionKernel.Layout) -> R
    ) -> R {
        let (half, layout) = (storage[l].count / 2, layout)
        return storage[l].withUnsafeMutableBufferPointer { body($0.baseAddress!, $0.baseAddress! + half, layout) }
    }

    /// Copies T new positions of keys and values from a packed [B, T, 3, NH, D] projection (k, v point at its
    /// key and value thirds) to positions P..<P+T of a layer's buffers.
    static func append(
        _ k: UnsafePointer<Float>, _ v: UnsafePointer<Float>, batch b: Int, new t: Int, heads nh: Int,
        headSize d: Int, at p: Int, keys: UnsafeMutablePointer<Float>, values: UnsafeMutablePointer<Float>,
        _ layout: AttentionKernel.Layout
    ) {
        let h = nh * d
        for bb in 0..<b {
            for i in 0..<t {
                let src = (bb * t + i) * 3 * h
                for hh in 0..<nh {
                    let dst = bb * layout.batch + hh * layout.head + (p + i) * layout.row
                    (keys + dst).update(from: k + src + hh * d, count: d)
                    (values + dst).update(from: v + src + hh * d, count: d)
                }
            }
        }
    }

    /// Appends layer l's new keys and values from a packed Q|K|V projection [B, T, 3H] at positions P..<P+T (room
    /// reserved), then attends over all P + T: `multiHeadAttention`'s context [B, T, H] and probabilities.
    mutating func attend(
        layer l: Int, _ qkv: Tensor, heads nh: Int, mask: AttentionMask?, probabilities: Bool, dropoutMask: Tensor?
    ) -> (Tensor, Tensor?) {
        let (b, t, p) = (qkv.shape[0], qkv.shape[1], length)
        let h = qkv.shape[2] / 3
        return withLayer(l) { keys, values, layout in
            qkv.withUnsafeBufferPointer { q in
                if q.count > 0 {
                    KVCache.append(
                        q.baseAddress! + h, q.baseAddress! + 2 * h, batch: b, new: t, heads: nh, headSize: h / nh,
                        at: p, keys: keys, values: values, layout)
                }
            }
            return multiHeadAttention(
                qkv, keys: .cached(keys: keys, values: values, layout, count: p + t), heads: nh, mask: mask,
                probabilities: probabilities, dropoutMask: dropoutMask)
        }
    }

    /// Layer l's cached keys and values as [B, NH, P, D] tensors.
    func past(layer l: Int) -> (Tensor, Tensor) {
        let (b, nh, d, p, layout) = (batch, heads, headSize, length, layout)
        let half = storage[l].count / 2
        func read(_ offset: Int) -> Tensor {
            Tensor(shape: [b, nh, p, d]) { out in
                guard out.count > 0 else { return }
                storage[l].withUnsafeBufferPointer { src in
                    for bh in 0..<(b * nh) {
                        (out.baseAddress! + bh * p * d).update(
                            from: src.baseAddress! + offset + (bh / nh) * layout.batch + (bh % nh) * layout.head,
                            count: p * d)
                    }
                }
            }
        }
        return (read(0), read(half))
    }

    /// Stores positions `from`..<S of [B, NH, S, D] keys and values in layer l.
    mutating func store(layer l: Int, keys: Tensor, values: Tensor, from p: Int) {
        let (b, nh, d, s) = (batch, heads, headSize, keys.shape[2])
        withLayer(l) { kp, vp, layout in
            for (src, dst) in [(keys, kp), (values, vp)] {
                src.withUnsafeBufferPointer { sp in
                    for bh in 0..<(b * nh) {
                        (dst + (bh / nh) * layout.batch + (bh % nh) * layout.head + p * d).update(
                            from: sp.baseAddress! + (bh * s + p) * d, count: (s - p) * d)
                    }
                }
            }
        }
    }
}
