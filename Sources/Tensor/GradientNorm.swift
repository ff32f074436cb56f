// Clipping's global norm: a Float Σx² per gradient in element order, eight gradients at a time in SIMD lanes.
//
// The norm is defined by the scalar loop (`OptimizerKernels.sumOfSquaresReference` per buffer, the buffers' sums
// added in order into a Double), so a buffer's additions cannot be reordered or split. One buffer alone is a
// chain of dependent adds, each waiting the add's latency (4 cycles here): all-MiniLM-L6-v2's 11 M dense gradient
// entries took ≈ 3 % of a fine-tuning run that way. Eight buffers side by side, one per lane, make eight
// independent chains (lane l adds its buffer's squares in element order, the very operations of the scalar loop,
// so each sum keeps its bits); a lane whose buffer ends takes the next buffer of its queue. Buffers of ≥ 2 M
// entries, embedding tables whose gradients are mostly zero rows, keep the scalar loop that skips zero blocks.

extension OptimizerKernels {
    /// Buffers at least this long are summed alone by the zero-skipping loop, not in lanes.
    public static let aloneCount = 1 << 21

    /// The global L2 norm of `gradients` as the scalar reference computes it: a Float Σx² per buffer (in
    /// element order), added in buffer order into a Double; bit-identical to that, with the buffers on all threads.
    public static func globalNorm(_ gradients: [UnsafeBufferPointer<Float>], serial: Bool = false) -> Float {
        let k = gradients.count
        guard k > 0 else { return 0 }
        let sums = UnsafeMutableBufferPointer<Float>.allocate(capacity: k)
        defer { sums.deallocate() }
        sums.initialize(repeating: 0)
        // Work items: each long buffer alone, then the others in one lane queue per thread, balanced by size
        // (largest first, each to the lightest queue), so the long ones start at once and the queues fill in.
        let order = gradients.indices.sorted { gradients[$0].count > gradients[$1].count }
        let alone = order.filter { gradients[$0].count >= aloneCount }
        let serial = serial || gradients.reduce(0) { $0 + $1.count } < 1 << 15
        let queueCount = serial ? 1 : Threads.count
        var queues = [[Int]](repeating: [], count: queueCount), load = [Int](repeating: 0, count: queueCount)
        for i in order where gradients[i].count < aloneCount {
            let q = load.indices.min { load[$0] < load[$1] }!
            queues[q].append(i)
            load[q] += gradients[i].count
        }
        let items = alone.map { [$0] } + queues.filter { !$0.isEmpty }
        let box = NormBox(gradients: gradients, sums: sums)
        Parallel.forEach(items.count, serial: serial) { item, _ in
            let buffers = items[item]
            if buffers.count == 1 && box.gradients[buffers[0]].count >= aloneCount {
                let b = box.gradients[buffers[0]]
                box.sums[buffers[0]] = sumOfSquares(b.baseAddress!, b.count, from: 0)
            } else {
                laneSums(buffers, box)
            }
        }
        var t: Double = 0
        for s in sums { t += Double(s) }
        return Float(t.squareRoot())
    }

    /// Σx² of each buffer in `queue` into `box.sums`, eight buffers at once: lane l runs one buffer's scalar
    /// additions; between segments, lanes whose buffer has ended store its sum and take the next.
    private static func laneSums(_ queue: [Int], _ box: NormBox) {
        var next = 0
        var owner = SIMD8<Int>(repeating: -1)  // the buffer in each lane, −1 when idle
        var position = SIMD8<Int>(repeating: 0), remaining = SIMD8<Int>(repeating: 0)
        var s = SIMD8<Float>(repeating: 0)
        while true {
            for l in 0..<8 where owner[l] < 0 && next < queue.count {
                owner[l] = queue[next]
                (position[l], remaining[l], s[l]) = (0, box.gradients[queue[next]].count, 0)
                next += 1
            }
            var step = Int.max, lead = -1
            for l in 0..<8 where owner[l] >= 0 && remaining[l] < step { (step, lead) = (remaining[l], l) }
            if lead < 0 { return }
            if step > 0 {  // (an empty buffer may have no base address: it only retires below)
                // Idle lanes read the leading lane's elements (valid for `step` reads); their sums are discarded.
                var base = [UnsafePointer<Float>](repeating: box.gradients[owner[lead]].baseAddress!, count: 8)
                for l in 0..<8 where owner[l] >= 0 { base[l] = box.gradients[owner[l]].baseAddress! + position[l] }
                s = sumOfSquares8(base[0], base[1], base[2], base[3], base[4], base[5], base[6], base[7], step, s)
            }
            for l in 0..<8 where owner[l] >= 0 {
                position[l] += step
                remaining[l] -= step
                if remaining[l] == 0 {
                    box.sums[owner[l]] = s[l]
                    owner[l] = -1
                }
            }
        }
    }

    /// s[l] += Σ p_l[j]² for j in 0..<n, element by element in each lane (the scalar loop's operations).
    @inline(__always)
    private static func sumOfSquares8(
        _ p0: UnsafePointer<Float>, _ p1: UnsafePointer<Float>, _ p2: UnsafePointer<Float>,
        _ p3: UnsafePointer<Float>, _ p4: UnsafePointer<Float>, _ p5: UnsafePointer<Float>,
        _ p6: UnsafePointer<Float>, _ p7: UnsafePointer<Float>, _ n: Int, _ start: SIMD8<Float>
    ) -> SIMD8<Float> {
        var s = start
        for j in 0..<n {
            let x = SIMD8<Float>(p0[j], p1[j], p2[j], p3[j], p4[j], p5[j], p6[j], p7[j])
            s = s + x * x
        }
        return s
    }
}

/// The gradients and their sums, carried into the pool's closure; each item writes its own buffers' sums.
private struct NormBox: @unchecked Sendable {
    let gradients: [UnsafeBufferPointer<Float>]
    let sums: UnsafeMutableBufferPointer<Float>
}
