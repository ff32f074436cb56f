// Real weights (all-MiniLM-L6-v2), when CI provides them: directory and converted .h5 digests, and memory use.

import Foundation
import Tensor
import Testing
import Transformer

#if canImport(Glibc)
    import Glibc
#endif

/// The checkpoint directory is `miniLMDirectory` (LOUPE_MINILM_DIR or .checkpoints/, see WeightsTestSupport);
/// `LOUPE_MINILM_H5` = that directory converted with weights-scripts/convert.py. A variable that is set but
/// points at nothing usable fails.
@Suite("Weights: real all-MiniLM-L6-v2", .serialized)
struct WeightsMiniLMTests {
    static let environment = ProcessInfo.processInfo.environment

    static func digests() throws -> MiniLMDigests { try decodeJSON(MiniLMDigests.self, fixture("minilm_digests.json")) }

    /// Everything minilm_digests.json promises about the converted file, checked on any loaded form of it.
    func expectMiniLM(_ cp: Checkpoint, _ d: MiniLMDigests) {
        let x = d.expected_file
        #expect(cp.architecture.rawValue == x.architecture && cp.task.rawValue == x.task)
        #expect(cp.pooling?.rawValue == x.pooling && cp.pooling == .mean)
        #expect(cp.normalize == (x.normalize == "l2") && cp.normalize)
        #expect(cp.labels == nil)
        let t = cp.tokenizer
        #expect(
            t.vocab.count == x.vocab_size
                && t.type.rawValue == x.tokenizer["type"].map { if case .string(let s) = $0 { s } else { "" } })
        #expect(x.tokenizer["do_lower_case"] == .int(t.doLowerCase ? 1 : 0))
        #expect(x.tokenizer["tokenize_chinese_chars"] == .int(t.tokenizeChineseChars ? 1 : 0))
        #expect(x.tokenizer["strip_accents"] == .string(t.stripAccents.map { $0 ? "true" : "false" } ?? "none"))
        #expect(x.tokenizer["model_max_length"] == .int(t.modelMaxLength))
        #expect(x.tokenizer["max_seq_length"] == t.maxSeqLength.map { .int($0) })
        for (name, value) in [
            ("unk_token", t.unkToken), ("cls_token", t.clsToken), ("sep_token", t.sepToken),
            ("pad_token", t.padToken), ("mask_token", t.maskToken),
        ] {
            #expect(x.tokenizer[name] == value.map { .string($0) }, "\(name)")
        }
        expectDigests(cp, d.tensors, count: d.tensor_count)
    }

    @Test(
        "all-MiniLM-L6-v2: the Hugging Face directory opens directly, memory-mapped (no read() of the weights), bit-identical",
        .enabled(if: miniLMAvailable))
    func directory() throws {
        let dir = miniLMDirectory
        let d = try Self.digests()
        let fileBytes = try #require(
            try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent("model.safetensors").path)[
                .size]
                as? Int)

        // No read(2) of the weights: this thread's read() byte count (/proc/thread-self/io rchar; per thread, so
        // tests running in parallel do not disturb it) grows only by the small config and vocab files. Reading
        // model.safetensors into the heap (e.g. Data(contentsOf:)) would add its 87 MiB.
        let readBefore = try threadReadBytes()
        var cp = try Checkpoint.load(dir)
        let readBytes = try threadReadBytes() - readBefore
        #expect(readBytes < fileBytes / 8, "read() \(readBytes) bytes while loading")

        // Peak resident memory of a load, from a reset high-water mark (Linux clear_refs "5"): converting from
        // the mapping and releasing each converted range keeps it near the Float32 tensors; the file pages or
        // a copy held next to them would add up to a whole file. RSS is process-wide, so a test running in
        // parallel can inflate one measurement: the best of up to three loads counts.
        let tensorBytes = cp.tensors.values.reduce(0) { $0 + 4 * $1.count }
        var peaks: [Int] = []
        for _ in 0..<3 {
            cp = try Checkpoint.load(fixture("bert_micro_hf"))  // drop the previous MiniLM tensors first
            let before = try resetPeakRSS()
            cp = try Checkpoint.load(dir)
            peaks.append(try peakRSS() - before)
            if peaks.last! < tensorBytes + fileBytes / 2 { break }
        }
        #expect(
            peaks.min()! < tensorBytes + fileBytes / 2,
            "peak RSS growth per load \(peaks.map { $0 >> 20 }) MiB, tensors \(tensorBytes >> 20) MiB")

        #expect(cp.source == .huggingFaceDirectory && cp.storedPrefix == "")
        #expect(cp.notes == ["dropped embeddings.position_ids (buffer: arange(max_position_embeddings))"])
        expectMiniLM(cp, d)
    }

    @Test(
        "LOUPE_MINILM_H5: the converted file loads bit-identically, equal to the directory",
        .enabled(if: environment["LOUPE_MINILM_H5"] != nil))
    func convertedFile() throws {
        let url = URL(fileURLWithPath: try #require(Self.environment["LOUPE_MINILM_H5"]))
        let cp = try Checkpoint.load(url)
        #expect(cp.source == .loupeHDF5)
        expectMiniLM(cp, try Self.digests())
        if let dir = Self.environment["LOUPE_MINILM_DIR"] {
            let hf = try Checkpoint.load(URL(fileURLWithPath: dir))
            #expect(hf.tokenizer == cp.tokenizer)
            #expect(hf.config == cp.config)
        }
    }
}

/// VmRSS / VmHWM of this process in bytes, from /proc/self/status.
private func procStatus(_ field: String) throws -> Int {
    let text = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
    guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }),
        let kb = Int(line.split(separator: " ").dropFirst().first ?? "")
    else { throw MeasureError("no \(field) in /proc/self/status") }
    return kb * 1024
}

/// Bytes this thread has passed to read(2) and similar calls (`rchar` of /proc/thread-self/io).
private func threadReadBytes() throws -> Int {
    let text = try String(contentsOfFile: "/proc/thread-self/io", encoding: .utf8)
    guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("rchar:") }),
        let n = Int(line.split(separator: " ").last ?? "")
    else { throw MeasureError("no rchar in /proc/thread-self/io") }
    return n
}

/// Resets the peak-RSS mark to the current RSS and returns it.
private func resetPeakRSS() throws -> Int {
    guard let f = fopen("/proc/self/clear_refs", "w") else {
        throw MeasureError("cannot open /proc/self/clear_refs to reset the peak RSS (Linux >= 4.0 needed)")
    }
    fputs("5", f)
    fclose(f)
    return try procStatus("VmHWM")
}

private func peakRSS() throws -> Int { try procStatus("VmHWM") }

struct MeasureError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
