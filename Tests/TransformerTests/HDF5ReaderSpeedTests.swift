// Loupe's HDF5 parser against libhdf5 on a BERT-base-sized file (~440 MB): reading every tensor must not be slower.
// Opt-in (LOUPE_HDF5_BENCH=1): writing the file takes ~10 s and the disk space; the numbers go to stdout.

import CHDF5
import Foundation
import Testing
import Transformer

@Suite("HDF5 reader speed")
struct HDF5ReaderSpeedTests {
    /// The float32 tensors of bert-base-uncased (12 layers, hidden 768, FFN 3072, vocabulary 30,522): 110 M floats.
    static let bertBaseShapes: [(String, [Int])] = {
        var shapes: [(String, [Int])] = [
            ("embeddings.word_embeddings.weight", [30522, 768]), ("embeddings.position_embeddings.weight", [512, 768]),
            ("embeddings.token_type_embeddings.weight", [2, 768]), ("embeddings.LayerNorm.weight", [768]),
            ("embeddings.LayerNorm.bias", [768]), ("pooler.dense.weight", [768, 768]), ("pooler.dense.bias", [768]),
        ]
        for l in 0..<12 {
            let p = "encoder.layer.\(l)."
            for m in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"] {
                shapes += [(p + m + ".weight", [768, 768]), (p + m + ".bias", [768])]
            }
            shapes += [
                (p + "attention.output.LayerNorm.weight", [768]), (p + "attention.output.LayerNorm.bias", [768]),
                (p + "intermediate.dense.weight", [3072, 768]), (p + "intermediate.dense.bias", [3072]),
                (p + "output.dense.weight", [768, 3072]), (p + "output.dense.bias", [768]),
                (p + "output.LayerNorm.weight", [768]), (p + "output.LayerNorm.bias", [768]),
            ]
        }
        return shapes
    }()

    @Test(.enabled(if: ProcessInfo.processInfo.environment["LOUPE_HDF5_BENCH"] == "1"))
    func bertBaseSizedFile() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporary(dir) }
        let url = dir.appendingPathComponent("base.h5")
        let fid = H5Fcreate(url.path, loupe_H5F_ACC_TRUNC(), hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
        try #require(fid >= 0)
        let g = H5Gcreate2(fid, "weights", hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
        var total = 0
        for (i, (name, shape)) in Self.bertBaseShapes.enumerated() {
            let values = [Float](unsafeUninitializedCapacity: shape.reduce(1, *)) { b, n in
                for j in 0..<b.count { b[j] = Float((j &* 2_654_435_761 &+ i) % 1000) / 1000 - 0.5 }
                n = b.count
            }
            total += values.count
            var dims = shape.map { hsize_t($0) }
            let space = H5Screate_simple(Int32(dims.count), &dims, nil)
            let did = H5Dcreate2(g, name, loupe_H5T_IEEE_F32LE(), space, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
            H5Dwrite(did, loupe_H5T_NATIVE_FLOAT(), hid_t(H5S_ALL), hid_t(H5S_ALL), hid_t(H5P_DEFAULT), values)
            H5Dclose(did)
            H5Sclose(space)
        }
        H5Gclose(g)
        H5Fclose(fid)
        let names = Self.bertBaseShapes.map { "/weights/" + $0.0 }
        var loupe: [Double] = [], libhdf5: [Double] = []
        for _ in 0..<5 {
            var start = Date()
            let reader = try HDF5Reader(url)
            var sumA: Float = 0
            #expect(try reader.memberNames(ofGroup: "/weights").count == names.count)
            for n in names { sumA += try reader.tensor(n).scalars[0] }  // the oracle's order: the same float sum
            loupe.append(Date().timeIntervalSince(start))
            start = Date()
            let oracle = try LibHDF5Oracle(url.path)
            var sumB: Float = 0
            for (n, (_, shape)) in zip(names, Self.bertBaseShapes) {
                _ = try oracle.datasetInfo(n)
                sumB += try oracle.floats(n, count: shape.reduce(1, *))[0]
            }
            libhdf5.append(Date().timeIntervalSince(start))
            #expect(sumA == sumB)
        }
        let size = try FileManager.default.attributesOfItem(atPath: url.path)[.size] as! Int
        print("HDF5 speed: \(names.count) tensors, \(total) floats, \(size) bytes; Loupe parser \(loupe) s, libhdf5 \(libhdf5) s")
        #expect(loupe.min()! <= libhdf5.min()! * 1.1)
    }
}
