// Inputs the libFuzzer harnesses (Fuzz/) found that once crashed a loader: each must now give a one-line error.
// Fuzz/README.md lists every finding; the inputs here are the minimised ones, inline or in Tests/Fixtures/fuzz/.

import CHDF5
import Foundation
import Testing
import Transformer

@Suite("Fuzz regressions: loaders")
struct FuzzRegressionTests {
    /// A copy of bert_micro.h5 whose root string attribute `name` is replaced by `value`.
    func microWithAttribute(_ name: String, _ value: String) throws -> URL {
        let dir = try makeTemporaryDirectory()
        let url = dir.appendingPathComponent("model.h5")
        try FileManager.default.copyItem(at: fixture("bert_micro.h5"), to: url)
        let fid = H5Fopen(url.path, loupe_H5F_ACC_RDWR(), hid_t(H5P_DEFAULT))
        try #require(fid >= 0)
        defer { H5Fclose(fid) }
        H5Adelete(fid, name)
        let type = H5Tcopy(loupe_H5T_C_S1())
        defer { H5Tclose(type) }
        H5Tset_size(type, loupe_H5T_VARIABLE())
        H5Tset_cset(type, H5T_CSET_UTF8)
        let space = H5Screate(H5S_SCALAR)
        defer { H5Sclose(space) }
        let aid = H5Acreate2(fid, name, type, space, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
        try #require(aid >= 0)
        defer { H5Aclose(aid) }
        try value.withCString { s in
            var p: UnsafePointer<CChar>? = s
            try #require(H5Awrite(aid, type, &p) >= 0)
        }
        return url
    }

    /// fuzz-config-json: a config of 513 '[' (the attribute's last byte the 513th) made JSONDecoder trap inside
    /// `ModelConfig.decode`, which a .h5 file's `config` attribute reaches without the JSON pre-check a Hugging Face
    /// directory's config.json gets. Now a typed badConfig; 512 (which JSONDecoder refuses itself) likewise.
    @Test(arguments: [513, 512, 600])
    func deeplyNestedConfigAttribute(depth: Int) throws {
        let url = try microWithAttribute("config", String(repeating: "[", count: depth))
        defer { removeTemporary(url.deletingLastPathComponent()) }
        let e = weightError { () throws(WeightError) in try Checkpoint.load(url) }
        guard case .badConfig(let file, let detail)? = e else { return #expect(Bool(false), "\(String(describing: e))") }
        #expect(file == url.path)
        #expect(!e!.description.contains("\n"), "\(e!)")
        #expect(detail.contains("JSON"), "\(detail)")
    }
}
