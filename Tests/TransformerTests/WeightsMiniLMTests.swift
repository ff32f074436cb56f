// Real weights (all-MiniLM-L6-v2, fetched by scripts/setup-debian): the directory loads to the published digests.
//
// Its peak memory is measured in a subprocess (CLITests' MiniLMMemoryTests, through `loupe bench model`): this
// process's RSS is shared with every suite running beside it. The converted-.h5 form is checked where it is made:
// make_goldens.py converts the checkpoint with convert.py, checks every tensor bit-identical to the safetensors and
// writes minilm_digests.json from that file, so the digests below already are convert.py's output.

import Foundation
import Tensor
import TestData
import Testing
import Transformer

/// A missing checkpoint fails these tests with how to get it (TestData's rule), never skips them.
@Suite("Weights: real all-MiniLM-L6-v2", .serialized)
struct WeightsMiniLMTests {
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

    @Test("all-MiniLM-L6-v2: the Hugging Face directory opens directly, memory-mapped (no read() of the weights), bit-identical")
    func directory() throws {
        let dir = try TestData.miniLM()
        let d = try Self.digests()
        let fileBytes = try #require(
            try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent("model.safetensors").path)[
                .size]
                as? Int)

        // No read(2) of the weights: this thread's read() byte count (/proc/thread-self/io rchar; per thread, so
        // tests running in parallel do not disturb it) grows only by the small config and vocab files. Reading
        // model.safetensors into the heap (e.g. Data(contentsOf:)) would add its 87 MiB.
        let readBefore = try threadReadBytes()
        let cp = try Checkpoint.load(dir)
        let readBytes = try threadReadBytes() - readBefore
        #expect(readBytes < fileBytes / 8, "read() \(readBytes) bytes while loading")

        #expect(cp.source == .huggingFaceDirectory && cp.storedPrefix == "")
        #expect(cp.notes == ["dropped embeddings.position_ids (buffer: arange(max_position_embeddings))"])
        expectMiniLM(cp, d)
    }
}

/// Bytes this thread has passed to read(2) and similar calls (`rchar` of /proc/thread-self/io).
private func threadReadBytes() throws -> Int {
    let text = try String(contentsOfFile: "/proc/thread-self/io", encoding: .utf8)
    guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("rchar:") }),
        let n = Int(line.split(separator: " ").last ?? "")
    else { throw MeasureError("no rchar in /proc/thread-self/io") }
    return n
}

struct MeasureError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
