// `--precision`: int8 / bf16 predictions close to fp32, CPU features checked at run time (oneDNN's ISA capped through
// ONEDNN_MAX_CPU_ISA to play an older CPU), the kernel named by `bench model`.
import Foundation
import Testing

@Suite struct PrecisionCLITests {
    let model = "Tests/Fixtures/bert_tiny_cls.h5"
    let texts = ["--text", "a fine film", "--text", "bad .", "--text", "the movie was a charming and often affecting journey ."]

    func probabilities(_ extra: [String], environment: [String: String] = [:]) throws -> [Double] {
        let r = try run(["predict", "--model", model, "--format", "json"] + texts + extra, environment: environment)
        #expect(r.status == 0, "\(r.stderr)")
        return try objects(r.stdout).map { (($0["probabilities"] as? [String: Any])?["positive"] as? Double) ?? .nan }
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

    @Test func unknownPrecisionIsRefused() throws {
        let r = try run(["predict", "--model", model, "--text", "x", "--precision", "fp8"])
        #expect(r.status != 0 && r.stderr.contains("fp8"))
    }
}
