// Loupe's shared state used from several threads at once, for ThreadSanitizer: the pool, scratch, tapes, workspace.
//
// Each test starts a few POSIX threads on one shared object and checks what they computed against a run on one
// thread. The checks catch a wrong answer; ThreadSanitizer (scripts/sanitize thread) catches an unsynchronised
// access even when the answer came out right. Threads are joined with pthread_join, an edge ThreadSanitizer sees
// (a DispatchSemaphore's futex wait is not one), so results read after the join are not reported as races.
import Foundation
import Tensor
import Testing
import Transformer
import Workbench

let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Fixtures")

/// One result per thread, each written by its own thread only.
final class Slots<T>: @unchecked Sendable {
    let values: UnsafeMutablePointer<T?>
    let count: Int
    init(_ count: Int) {
        self.count = count
        values = .allocate(capacity: count)
        values.initialize(repeating: nil, count: count)
    }
    deinit {
        values.deinitialize(count: count)
        values.deallocate()
    }
    var all: [T?] { (0..<count).map { values[$0] } }
}

/// Runs `body(i)` for i in 0..<n on n threads at once and returns when all have ended.
func onThreads(_ n: Int, _ body: @escaping @Sendable (Int) -> Void) {
    final class Start {
        let body: @Sendable (Int) -> Void
        let index: Int
        init(_ body: @escaping @Sendable (Int) -> Void, _ index: Int) { (self.body, self.index) = (body, index) }
    }
    var threads: [pthread_t] = []
    for i in 0..<n {
        var thread = pthread_t()
        let start = Unmanaged.passRetained(Start(body, i)).toOpaque()
        let rc = pthread_create(
            &thread, nil,
            { raw in
                let s = Unmanaged<Start>.fromOpaque(raw!).takeRetainedValue()
                s.body(s.index)
                return nil
            }, start)
        precondition(rc == 0, "pthread_create: \(rc)")
        threads.append(thread)
    }
    for t in threads { pthread_join(t, nil) }
}

@Suite(.serialized) struct SharedStateTests {
    /// Four threads run products and element-wise passes big enough for the pool at the same time: one of them
    /// holds the pool, the others' loops run inline (Parallel.swift), and all must get the one-thread bits.
    @Test func poolUsedFromFourThreadsAtOnce() {
        let x = Tensor.randomNormal([96, 128], seed: 1), w = Tensor.randomNormal([128, 160], seed: 2)
        @Sendable func pass() -> [Float] { softmax(gelu(matmul(x, w)) * 0.5).scalars }
        let expected = pass()
        let results = Slots<[Float]>(4)
        onThreads(4) { t in
            var last: [Float] = []
            for _ in 0..<12 { last = pass() }
            results.values[t] = last
        }
        for (t, r) in results.all.enumerated() { #expect(r == expected, "thread \(t)") }
    }

    /// Each thread records on its own tape (the active tape is task-local) while the others use the pool.
    @Test func gradientTapesOnFourThreads() {
        let x = Tensor.randomNormal([64, 96], seed: 3), w = Tensor.randomNormal([96, 80], seed: 4)
        @Sendable func gradient() -> [Float] {
            let tape = GradientTape()
            let (watched, loss) = tape.record {
                let v = tape.watch(w)
                return (v, gelu(matmul(x, v)).sum())
            }
            return tape.gradients(of: loss, wrt: [watched])[0].scalars
        }
        let expected = gradient()
        let results = Slots<[Float]>(4)
        onThreads(4) { t in results.values[t] = (0..<6).map { _ in gradient() }.last }
        for (t, r) in results.all.enumerated() { #expect(r == expected, "thread \(t)") }
    }

    /// Scratch buffers are handed to one caller at a time: each thread fills its buffer with its own number and
    /// finds it unchanged after yielding, through many take/return rounds of varied sizes.
    @Test func scratchBuffersAreNeverShared() {
        let clashes = Slots<Int>(6)
        onThreads(6) { t in
            var bad = 0
            for round in 0..<300 {
                let n = 1000 + (round * 7919 + t * 104_729) % 50_000
                Scratch.with(n) { p in
                    p.update(repeating: Float(t), count: n)
                    sched_yield()
                    for i in stride(from: 0, to: n, by: 97) where p[i] != Float(t) { bad += 1 }
                }
            }
            clashes.values[t] = bad
        }
        #expect(clashes.all.map { $0 ?? -1 } == Array(repeating: 0, count: 6))
    }

    /// A workspace as the server uses it: one thread runs the model on new texts (the server's one compute
    /// thread), two read cached predictions, one adds examples and reads the dataset and the cache's counters.
    @Test func workspaceSharedByFourThreads() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-tsan-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try Workbench.loadModel(fixtures.appendingPathComponent("bert_tiny_cls.h5").path)
        let cached = Example.list(["a gorgeous, witty movie", "a dull film", "it was fine", "not good at all"])
        let workspace = try Workspace(models: ["bert": model], datasets: ["d": cached], directory: dir)
        let options = PredictRequest(examples: [])
        let expected = try workspace.predict(model: "bert", examples: cached, options: options)
        let fresh = (0..<12).map { Example(id: "new-\($0)", text: "review number \($0) of a long film") }

        let reads = Slots<[Prediction]>(4), added = Slots<[String]>(4), failures = Slots<String>(4)
        onThreads(4) { t in
            do {
                switch t {
                case 0: reads.values[0] = try workspace.predict(model: "bert", examples: fresh, options: options)
                case 3:
                    var ids: [String] = []
                    for i in 0..<20 {
                        ids += try workspace.add([Example(id: "", text: "added \(i)")], to: "d").map(\.id)
                        _ = try workspace.examples("d")
                        _ = workspace.cacheStatistics
                    }
                    added.values[3] = ids
                default:
                    for _ in 0..<20 { reads.values[t] = try workspace.predict(model: "bert", examples: cached, options: options) }
                }
            } catch { failures.values[t] = "\(error)" }
        }
        #expect(failures.all.compactMap { $0 }.isEmpty, "\(failures.all.compactMap { $0 })")
        #expect(reads.values[1] == expected && reads.values[2] == expected)
        let serial = try Workbench.predict(PredictRequest(examples: fresh), model: model)
        #expect(reads.values[0] == serial)
        let ids = added.values[3] ?? []
        #expect(ids.count == 20 && Set(ids).count == 20)
        #expect(try workspace.examples("d").count == cached.count + 20)
    }

    /// One GPT-2 tokenizer (its BPE cache behind a lock) encodes different texts on four threads at once.
    @Test func tokenizerSharedByFourThreads() throws {
        let model = try Workbench.loadModel(fixtures.appendingPathComponent("gpt2_tiny.h5").path)
        let texts = (0..<4).map { t in (0..<40).map { "word\($0 * 31 % 97) thread\(t) ünïcode \($0)" }.joined(separator: " ") }
        let expected = texts.map { Workbench.tokenize(TokenizeRequest(examples: Example.list([$0])), model: model) }
        let results = Slots<[Tokenization]>(4)
        onThreads(4) { t in
            for _ in 0..<10 { results.values[t] = Workbench.tokenize(TokenizeRequest(examples: Example.list([texts[t]])), model: model) }
        }
        for t in 0..<4 { #expect(results.values[t] == expected[t], "thread \(t)") }
    }
}
