// Peak memory of loading the real all-MiniLM-L6-v2, measured in a `loupe` subprocess rather than in this process.
import Foundation
import TestData
import Testing

@Suite struct MiniLMMemoryTests {
    /// `loupe bench model` reports its own peak RSS right after the load (VmHWM of its own memory map, so tests
    /// running beside it in this process cannot inflate it). Converting each tensor from the memory-mapped file and
    /// releasing the converted range keeps the load's growth over a tiny model's near the float32 tensors; holding
    /// the file's pages or a heap copy of it beside them would add up to a whole file (87 MiB). Bound: tensors plus
    /// half the file, as the in-process check it replaces.
    @Test func loadingTheDirectoryStaysNearItsTensors() throws {
        let dir = try TestData.miniLM()
        let fileBytes = try #require(
            try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent("model.safetensors").path)[.size]
                as? Int)
        struct Digests: Decodable {
            struct Tensor: Decodable { let shape: [Int] }
            let tensors: [String: Tensor]
        }
        let digests = try JSONDecoder().decode(
            Digests.self, from: Data(contentsOf: root.appendingPathComponent("Tests/Fixtures/minilm_digests.json")))
        let tensorBytes = digests.tensors.values.reduce(0) { $0 + 4 * $1.shape.reduce(1, *) }
        #expect(tensorBytes > 80_000_000, "minilm_digests.json lists \(tensorBytes) bytes of tensors")

        func afterLoadMiB(_ model: URL) throws -> Double {
            let r = try run([
                "bench", "model", "--model", model.path, "--seq", "8", "--runs", "1", "--warmup", "0",
                "--decode-tokens", "0", "--format", "json",
            ])
            try #require(r.status == 0, "loupe bench model \(model.lastPathComponent): \(r.stderr)")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            return try #require(report["rssAfterLoadMB"] as? Double, "no rssAfterLoadMB in \(r.stdout)")
        }
        let tiny = try afterLoadMiB(root.appendingPathComponent("Tests/Fixtures/bert_micro_hf"))
        let mini = try afterLoadMiB(dir)
        let growth = (mini - tiny) * 1_048_576
        let bound = Double(tensorBytes + fileBytes / 2)
        let report =
            "loading grew the peak by \(Int(growth) >> 20) MiB (tiny model \(Int(tiny)) MiB, MiniLM \(Int(mini)) MiB); "
            + "tensors \(tensorBytes >> 20) MiB, bound \(Int(bound) >> 20) MiB"
        #expect(growth < bound, "\(report)")
        #expect(growth > Double(tensorBytes) / 2, "the tensors themselves (\(tensorBytes >> 20) MiB) do not show")
    }
}
