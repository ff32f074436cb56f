// Weight files with int8 block weights (format version 2, `loupe quantize`): round trips, the integers int8 inference
// uses, the default precision, and the refusals of malformed int8 tensors.
import CHDF5
import Foundation
import Tensor
import Testing
import Transformer

@Suite struct Int8FileTests {
    static func temporary(_ name: String) -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-int8-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name)
    }

    /// Quantise a fixture, write it, read it back: version 2, every rank-2 block weight int8 (and nothing else), the
    /// values q·scale within half a step of the originals, read back bit for bit; writing the loaded file again gives
    /// the same bytes, so the stored integers survive a load (round(q·s / s) = q).
    @Test(arguments: ["bert_tiny_cls.h5", "gpt2_tiny.h5"])
    func quantizedFileRoundTrips(name: String) throws {
        let original = try Checkpoint.load(fixture(name))
        #expect(original.storedPrecision == .fp32 && original.int8Scales.isEmpty)
        let quantized = try original.quantizedInt8()
        let blockWeights = original.tensors.filter { key, t in
            t.shape.count == 2 && (key.hasPrefix("encoder.layer.") || key.hasPrefix("h."))
        }
        #expect(Set(quantized.int8Scales.keys) == Set(blockWeights.keys) && !blockWeights.isEmpty)
        for (key, w) in blockWeights {
            let (q, s) = (quantized.tensors[key]!.scalars, quantized.int8Scales[key]!.scalars)
            let axis = key.hasPrefix("h.") ? 1 : 0, cols = w.shape[1]
            #expect(s.count == w.shape[axis] && q.count == w.count, "\(key)")
            let worst = zip(w.scalars, q).enumerated().map { n, p in
                abs(p.0 - p.1) / s[axis == 0 ? n / cols : n % cols]
            }.max()!
            #expect(worst <= 0.5 + 1e-4, "\(key): off by \(worst) steps")
        }
        for (key, t) in original.tensors where blockWeights[key] == nil {
            #expect(quantized.tensors[key]!.scalars == t.scalars, "\(key) must stay float32")
        }

        let first = Self.temporary("first-" + name), second = Self.temporary("second-" + name)
        try LoupeFileWriter.write(quantized, to: first)
        let loaded = try Checkpoint.load(first)
        #expect(loaded.storedPrecision == .int8)
        #expect(loaded.int8Scales.mapValues(\.scalars) == quantized.int8Scales.mapValues(\.scalars))
        #expect(loaded.tensors.mapValues(\.scalars) == quantized.tensors.mapValues(\.scalars))
        try LoupeFileWriter.write(loaded, to: second)
        #expect(try Data(contentsOf: first) == Data(contentsOf: second))
        #expect(try LoadedModel.load(first).storedPrecision == .int8)
        #expect(try LoadedModel.load(fixture(name)).storedPrecision == .fp32)  // version 1 files load as before
    }

    /// int8 inference from the file equals int8 inference from the float file: the same integers (the per-channel
    /// scale re-derived from q·s may differ in its last bit, so outputs agree to float32 rounding, not bit for bit).
    @Test func int8InferenceUsesTheStoredIntegers() throws {
        let url = Self.temporary("cls-int8.h5")
        try LoupeFileWriter.write(try Checkpoint.load(fixture("bert_tiny_cls.h5")).quantizedInt8(), to: url)
        let fromFloat = try LoadedModel.load(fixture("bert_tiny_cls.h5")).withPrecision(.int8)
        let fromFile = try LoadedModel.load(url).withPrecision(.int8)
        let texts = ["the movie was a charming and often affecting journey .", "bad .", "an odd , dull film"]
        let (batch, _, _) = try fromFloat.encode(texts)
        guard case .bert(let a) = fromFloat.network, case .bert(let b) = fromFile.network else {
            Issue.record("not BERT")
            return
        }
        let (x, y) = (a(batch).logits!.scalars, b(batch).logits!.scalars)
        let scale = x.map(abs).max()!
        #expect(x.count == y.count && !x.isEmpty)
        let worst = zip(x, y).map { abs($0 - $1) }.max()!
        #expect(worst <= 1e-5 * scale, "logits \(x) vs \(y)")
    }

    /// A weight int8 cannot hold (a NaN) is refused naming the tensor and its output channel, before anything is written.
    @Test func nonFiniteWeightIsRefused() throws {
        let c = try Checkpoint.load(fixture("bert_tiny_cls.h5"))
        let key = "encoder.layer.1.output.dense.weight"  // [128, 512]: output channel = row
        var tensors = c.tensors, values = c.tensors[key]!.scalars
        values[5 * 512 + 7] = .nan
        tensors[key] = Tensor(shape: [128, 512], scalars: values)
        let broken = try Checkpoint(config: c.config, task: c.task, labels: c.labels, tokenizer: c.tokenizer, tensors: tensors)
        #expect(throws: WeightError.badInt8Tensor(
            file: broken.url.path, key: "bert." + key,
            detail: "output channel 5 holds a NaN or an infinity, which int8 cannot represent")) {
            _ = try broken.quantizedInt8()
        }
    }

    /// Malformed int8 tensors are refused naming the tensor: no scales, scales of the wrong shape or sign, an int8
    /// tensor outside the blocks, and an int8 tensor in a version 1 file.
    @Test func malformedInt8TensorsAreRefused() throws {
        let good = Self.temporary("good.h5")
        try LoupeFileWriter.write(try Checkpoint.load(fixture("bert_tiny_cls.h5")).quantizedInt8(), to: good)
        let name = "bert.encoder.layer.0.attention.self.query.weight"  // [128, 128]: 128 scales
        func mutant(_ tag: String, _ edit: (hid_t) -> Void) throws -> URL {
            let url = Self.temporary("bad-\(tag).h5")
            try? FileManager.default.removeItem(at: url)
            try FileManager.default.copyItem(at: good, to: url)
            let fid = H5Fopen(url.path, loupe_H5F_ACC_RDWR(), hid_t(H5P_DEFAULT))
            #expect(fid >= 0)
            edit(fid)
            H5Fclose(fid)
            return url
        }
        func replace(_ fid: hid_t, _ path: String, floats: [Float]? = nil, int8: [Int8]? = nil, shape: [Int]) {
            H5Ldelete(fid, path, hid_t(H5P_DEFAULT))
            let dims = shape.map { hsize_t($0) }
            let space = H5Screate_simple(Int32(dims.count), dims, nil)
            let type = floats != nil ? loupe_H5T_IEEE_F32LE() : loupe_H5T_STD_I8LE()
            let lcpl = H5Pcreate(loupe_H5P_LINK_CREATE())
            H5Pset_create_intermediate_group(lcpl, 1)
            let did = H5Dcreate2(fid, path, type, space, lcpl, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
            if let floats { H5Dwrite(did, loupe_H5T_NATIVE_FLOAT(), hid_t(H5S_ALL), hid_t(H5S_ALL), hid_t(H5P_DEFAULT), floats) }
            if let int8 { H5Dwrite(did, loupe_H5T_NATIVE_INT8(), hid_t(H5S_ALL), hid_t(H5S_ALL), hid_t(H5P_DEFAULT), int8) }
            H5Dclose(did)
            H5Pclose(lcpl)
            H5Sclose(space)
        }
        func refusal(_ url: URL) -> WeightError? {
            do { _ = try Checkpoint.load(url) } catch { return error }
            return nil
        }
        let noScales = try mutant("noscales") { H5Ldelete($0, "/weight_scales/" + name, hid_t(H5P_DEFAULT)) }
        #expect(refusal(noScales) == .badInt8Tensor(file: noScales.path, key: name, detail: "no scales at /weight_scales/\(name)"))
        let wrongShape = try mutant("shape") { replace($0, "/weight_scales/" + name, floats: [1, 2, 3], shape: [3]) }
        #expect(refusal(wrongShape)?.key == name)
        #expect(refusal(wrongShape)?.description.contains("expected [128]") == true)
        let negative = try mutant("negative") {
            replace($0, "/weight_scales/" + name, floats: [Float](repeating: -1, count: 128), shape: [128])
        }
        #expect(refusal(negative)?.description.contains("finite and positive") == true)
        let embeddings = "bert.embeddings.token_type_embeddings.weight"  // [2, 128]
        let outside = try mutant("outside") { replace($0, "/weights/" + embeddings, int8: [Int8](repeating: 1, count: 256), shape: [2, 128]) }
        #expect(refusal(outside)?.key == embeddings)
        let version1 = try mutant("v1") { fid in
            var one: Int64 = 1
            let aid = H5Aopen(fid, "version", hid_t(H5P_DEFAULT))
            H5Awrite(aid, loupe_H5T_NATIVE_INT64(), &one)
            H5Aclose(aid)
        }
        let v1 = refusal(version1)
        #expect(v1?.key?.hasPrefix("bert.encoder.layer.") == true && v1?.description.contains("dtype int8") == true)
    }
}
