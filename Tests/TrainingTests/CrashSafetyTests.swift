// Crash safety of `loupe finetune` as a process: kill -9 at seeded moments then --resume, the run lock, a full disk.
import Foundation
import Testing
import Tensor
import Training
import Transformer

@Suite(.serialized) struct CrashSafetyTests {
    /// Ten kills at seeded moments: five at random times over a run's length, three as soon as an evaluation that
    /// improved is logged (the line says "saved best.h5"; last.h5 is written next), two 0–4 ms after the log
    /// line of step k (last.h5 is written then, for 10 ms or more). The moments are found from the output, not
    /// from the files, so they do not depend on how the files are written. After each: the files that exist load, metrics.jsonl has only whole records, nothing claims a
    /// best.h5 that is not on disk; then `--resume` (a new run when no last.h5 was written yet) ends with best.h5
    /// and last.h5 bit-identical to an uninterrupted run's and the same evaluations in metrics.jsonl.
    @Test func killNineAtTenMomentsThenResumeEndsAsAnUninterruptedRun() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = SmallRun(dir)
        let straight = dir.appendingPathComponent("straight")
        let started = Date()
        let s = try LoupeProcess(data.newRun(straight), in: dir)
        let r = s.wait()
        try #require(r.status == 0 && !r.signalled, "the uninterrupted run failed: \(s.errors)")
        let duration = Date().timeIntervalSince(started)
        let expected = metricsRows(straight)
        #expect(expected.map { Int($0[0]) } == [4, 6, 8, 12])
        let bestSteps = expected.filter { $0[4] == 1 }.map { Int($0[0]) }

        var moments = SplitMix64(seed: 17)  // the same kill moments on every run
        var killedWhileWriting = 0
        for i in 0..<10 {
            let out = dir.appendingPathComponent("killed-\(i)")
            let child = try LoupeProcess(data.newRun(out), in: dir)
            let moment: String
            if i % 2 == 0 {
                let delay = duration * (0.1 + 0.9 * moments.unit())
                moment = String(format: "kill %d after %.3f s", i, delay)
                usleep(UInt32(delay * 1e6))
            } else if i % 4 == 1 {  // i = 1, 5, 9
                let step = bestSteps[Int(moments.next() % UInt64(bestSteps.count))]
                moment = "kill \(i) at the log line of step \(step)'s evaluation"
                waitForLine("eval step \(step) (", of: child)
            } else {  // i = 3, 7: last.h5 is written after each of the 12 steps
                let step = 1 + Int(moments.next() % 12), delay = UInt32(moments.next() % 4000)
                moment = "kill \(i) \(delay) µs after the log line of step \(step)"
                waitForLine(" step \(step)/12 ", of: child)
                usleep(delay)
            }
            child.kill()
            _ = child.wait()
            if temporaries(in: out).contains(where: { $0.hasPrefix(".best.h5.tmp-") || $0.hasPrefix(".last.h5.tmp-") }) {
                killedWhileWriting += 1
            }
            checkKilledRun(out, output: child.output, expected: expected, moment)

            let resumable = FileManager.default.fileExists(atPath: out.appendingPathComponent("last.h5").path)
            let rest = try LoupeProcess(resumable ? data.resume(out) : data.newRun(out) + ["--overwrite"], in: dir)
            let e = rest.wait()
            #expect(e.status == 0 && !e.signalled, "\(moment): the resumed run failed: \(rest.errors)")
            for file in ["best.h5", "last.h5"] {
                #expect(
                    try tensorDifference(straight.appendingPathComponent(file), out.appendingPathComponent(file)) == nil,
                    "\(moment)")
            }
            #expect(equalRows(metricsRows(out), expected), "\(moment): metrics.jsonl differs after the resume")
            #expect(temporaries(in: out).isEmpty, "\(moment): temporary files left after the resume")
        }
        // At least one kill landed inside a checkpoint write (the moments after log lines aim for all five).
        #expect(killedWhileWriting >= 1, "no kill landed while a checkpoint was being written")
    }

    /// A second trainer on a run directory in use fails before touching it, naming the directory and the holder's
    /// pid, whether it starts a new run (even with --overwrite) or resumes; kill -9 of the holder frees the lock.
    @Test func aSecondTrainerOnTheSameDirectoryFailsAtOnce() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = SmallRun(dir)
        let out = dir.appendingPathComponent("run")
        let holder = try LoupeProcess(data.newRun(out, epochs: 1000), in: dir)
        defer {
            holder.kill()
            _ = holder.wait()
        }
        waitForLine(" step 2/", of: holder)  // training has started
        let rowsBefore = metricsRows(out)
        for arguments in [data.newRun(out) + ["--overwrite"], data.resume(out)] {
            let second = try LoupeProcess(arguments, in: dir)
            let r = second.wait()
            #expect(r.status == 1 && !r.signalled)
            let message = second.errors.trimmingCharacters(in: .newlines)
            #expect(!message.contains("\n"), "a one-line error, got: \(message)")
            #expect(
                message.contains(out.path) && message.contains("pid \(holder.process.processIdentifier)"),
                "\(message)")
        }
        #expect(holder.process.isRunning, "the holder stopped")
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("last.h5").path))
        #expect(equalRows(Array(metricsRows(out).prefix(rowsBefore.count)), rowsBefore))
        holder.kill()
        _ = holder.wait()
        let lock = try RunLock(out)  // released by the kernel with the killed holder's descriptors
        lock.release()
    }

    /// A full disk (a file-size limit: writes fail with EFBIG, as ENOSPC would) while writing best.h5 or last.h5,
    /// at several sizes: a one-line error naming the file, exit status 1 and no crash (libhdf5 used to segfault at
    /// exit), the file it names unchanged, both checkpoints loadable, and a resume without the limit still works.
    @Test func aFullDiskLeavesThePreviousCheckpointsIntact() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = SmallRun(dir)
        let out = dir.appendingPathComponent("run")
        // A run stopped by a kill once step 4's evaluation is written (best.h5, last.h5 and a metrics row exist).
        let first = try LoupeProcess(data.newRun(out), in: dir)
        while first.process.isRunning && metricsRows(out).isEmpty { usleep(1000) }
        first.kill()
        _ = first.wait()
        let best = out.appendingPathComponent("best.h5"), last = out.appendingPathComponent("last.h5")
        let lastBytes = try #require(FileManager.default.contents(atPath: last.path))
        // Resumed from step 3 or 4, the first write is best.h5 (step 4's evaluation) or last.h5 (step 5); below
        // about 3.5 MB best.h5 cannot be written, below about 9.5 MB last.h5 cannot.
        // Under ThreadSanitizer (scripts/sanitize sets LOUPE_SANITIZER) a file-size limit under about 1 MB kills
        // its runtime before `main` (`ulimit -f 293; loupe --version`: "ThreadSanitizer: nested bug", exit 66; at
        // 1,000 KB it starts): the two smallest limits are left out there.
        let tsan = ProcessInfo.processInfo.environment["LOUPE_SANITIZER"] == "thread"
        let limits = [4096, 300_000, 1_000_000, lastBytes.count / 2, lastBytes.count - 2048]
        for limit in limits where !tsan || limit >= 1_000_000 {
            let bestBytes = FileManager.default.contents(atPath: best.path)
            let full = try LoupeProcess(data.resume(out), in: dir, fileSizeLimit: limit)
            let r = full.wait()
            let message = full.errors.trimmingCharacters(in: .newlines)
            #expect(r.status == 1 && !r.signalled, "limit \(limit): exit \(r.status)\(r.signalled ? " (signal)" : "")")
            #expect(!message.contains("\n"), "limit \(limit): a one-line error, got: \(message)")
            let named = [best, last].first { message.contains($0.path + ": cannot write") }
            #expect(named != nil, "limit \(limit): \(message)")
            #expect(FileManager.default.contents(atPath: last.path) == lastBytes, "limit \(limit): last.h5 changed")
            if named == best {
                #expect(FileManager.default.contents(atPath: best.path) == bestBytes, "limit \(limit): best.h5 changed")
            }
            #expect(temporaries(in: out).isEmpty, "limit \(limit): temporary files left")
            _ = metricsRows(out)  // whole lines
            for file in [best, last] { _ = try Checkpoint.load(file) }
        }
        let rest = try LoupeProcess(data.resume(out), in: dir)
        #expect(rest.wait().status == 0, "\(rest.errors)")
    }
}

/// The hidden temporary files of writes in progress (or left by a kill) in `dir`.
func temporaries(in dir: URL) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.contains(".tmp-") }
}

/// Returns once `child` has written a line containing `text` to stdout, or has exited (or after 60 s).
func waitForLine(_ text: String, of child: LoupeProcess) {
    let deadline = Date().addingTimeInterval(60)
    while child.process.isRunning && Date() < deadline {
        if child.output.contains(text) { return }
        usleep(200)
    }
}

/// What must hold after any kill: whole lines in metrics.jsonl that begin the uninterrupted run's, loadable
/// checkpoints, and no evaluation said to have saved best.h5 (a `best` row, a "saved best.h5" line) unless
/// best.h5 holds that evaluation's weights or later ones.
func checkKilledRun(_ out: URL, output: String, expected: [[Double]], _ moment: String) {
    let rows = metricsRows(out)
    #expect(equalRows(Array(expected.prefix(rows.count)), rows), "\(moment): metrics.jsonl is not a prefix")
    let best = out.appendingPathComponent("best.h5"), last = out.appendingPathComponent("last.h5")
    for file in [best, last] where FileManager.default.fileExists(atPath: file.path) {
        do { _ = try Checkpoint.load(file) } catch { Issue.record("\(moment): \(file.lastPathComponent): \(error)") }
    }
    if FileManager.default.fileExists(atPath: last.path) {
        #expect((try? HDF5Reader(last).stringAttribute("state", of: "/training")) != nil, "\(moment): no state")
    }
    var claimed = rows.filter { $0[4] == 1 }.map { Int($0[0]) }
    for line in output.split(separator: "\n") where line.contains("saved best.h5") {
        if let step = line.split(separator: " ").dropFirst(2).first.flatMap({ Int($0) }) { claimed.append(step) }
    }
    guard let latest = claimed.max() else { return }
    let held = (try? bestStep(best)) ?? nil
    #expect(held.map { $0 >= latest } == true, "\(moment): step \(latest) is said to be in best.h5, which holds \(String(describing: held))")
}

/// Rows equal, a missing loss (NaN) equal to a missing loss.
func equalRows(_ a: [[Double]], _ b: [[Double]]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { x, y in x.map(\.bitPattern) == y.map(\.bitPattern) }
}
