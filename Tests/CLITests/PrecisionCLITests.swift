// `--precision`: int8 / bf16 predictions close to fp32, CPU features checked at run time (oneDNN's ISA capped through
// ONEDNN_MAX_CPU_ISA to play an older CPU), the kernel named by `bench model`.
import Foundation
import Testing

@Suite struct PrecisionCLITests {
    let model = "Tests/Fixtures/bert_tiny_cls.h5"
    let texts = ["--text", "a fine film", "--text", "bad .", "--text", "the movie was a charming and often affecting journey ."]

    func probabilities(_ extra: [String], model: String? = nil, environment: [String: String] = [:]) throws -> [Double] {
        let r = try run(["predict", "--model", model ?? self.model, "--format", "json"] + texts + extra, environment: environment)
        #expect(r.status == 0, "\(r.stderr)")
        let p = try objects(r.stdout).map { (($0["probabilities"] as? [String: Any])?["positive"] as? Double) ?? .nan }
        // One probability per text, or the comparisons below would pass over nothing.
        try #require(p.count == texts.count / 2, "\(p.count) predictions for \(texts.count / 2) texts: \(r.stdout)")
        return p
    }

    /// int8 with VNNI (8-bit weights) and on AVX2 (7-bit weights, as ONNX Runtime's reduce_range, since AVX2's
    /// 16-bit pair sums would saturate): probabilities within 0.03 of fp32 on the random fixture.
    @Test(arguments: ["", "AVX2"]) func int8PredictionsAreCloseToFp32(isa: String) throws {
        let reference = try probabilities([])
        let env = isa.isEmpty ? [:] : ["ONEDNN_MAX_CPU_ISA": isa]
        let int8 = try probabilities(["--precision", "int8"], environment: env)
        #expect(int8 != reference)  // it did run in int8
        for (a, b) in zip(int8, reference) { #expect(abs(a - b) < 0.03, "int8 \(a) vs fp32 \(b)") }
    }

    /// bf16 where the CPU lacks it: one line naming the file and what oneDNN sees, exit status 1.
    @Test func bf16WithoutTheInstructionsIsAClearError() throws {
        let r = try run(
            ["predict", "--model", model, "--text", "a fine film", "--precision", "bf16"],
            environment: ["ONEDNN_MAX_CPU_ISA": "AVX512_CORE_VNNI"])
        #expect(r.status != 0 && r.stdout.isEmpty)
        #expect(r.stderr.contains("bert_tiny_cls.h5: bf16 needs a CPU with AVX512_BF16 or AMX; oneDNN sees avx512_core_vnni"))
    }

    @Test func benchReportsTheKernel() throws {
        let r = try run(["bench", "model", "--model", model, "--seq", "16", "--runs", "2", "--precision", "int8", "--format", "json"])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(report["precision"] as? String == "int8")
        let kernel = try #require(report["kernel"] as? String)
        #expect(!kernel.isEmpty && !kernel.hasPrefix("ref"), "\(kernel)")
    }

    /// `loupe quantize`: a version 2 file with the block weights in int8, which commands then run in int8 by default
    /// (the same probabilities as `--precision int8` on the float file) and in fp32 when asked.
    @Test func quantizedFileRunsInInt8ByDefault() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-quantize-\(getpid()).h5").path
        let q = try run(["quantize", model, out, "--format", "json"])
        #expect(q.status == 0, "\(q.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(q.stdout.utf8)) as? [String: Any])
        #expect(report["precision"] as? String == "int8" && report["int8Tensors"] as? Int == 12)  // 2 layers × 6
        #expect((report["outputBytes"] as? Int ?? .max) < (report["inputBytes"] as? Int ?? 0))
        let fromFile = try probabilities([], model: out)
        let int8 = try probabilities(["--precision", "int8"])
        for (a, b) in zip(fromFile, int8) { #expect(abs(a - b) < 1e-5, "file \(a) vs --precision int8 \(b)") }
        let fp32 = try probabilities(["--precision", "fp32"], model: out)
        #expect(fp32 != fromFile)
        let bench = try run(["bench", "model", "--model", out, "--seq", "16", "--runs", "1", "--format", "json"])
        let info = try #require(try JSONSerialization.jsonObject(with: Data(bench.stdout.utf8)) as? [String: Any])
        #expect(info["precision"] as? String == "int8")
        let missing = try run(["quantize", "Tests/Fixtures/no-such.h5", out])
        #expect(missing.status != 0 && missing.stderr.contains("no-such.h5"))
    }

    @Test func unknownPrecisionIsRefused() throws {
        let r = try run(["predict", "--model", model, "--text", "x", "--precision", "fp8"])
        #expect(r.status != 0 && r.stderr.contains("fp8"))
    }
}
