// Loupe's HDF5 parser on files libhdf5 writes in its newest format (superblock 3, v2 object headers, link
// messages) and on the features it refuses (chunked, compressed, dense groups, big-endian floats).

import CHDF5
import Foundation
import Testing
import Transformer

/// Writes an HDF5 file with libhdf5: `latest` selects H5F_LIBVER_LATEST (superblock 3, v2 headers).
private func writeFile(_ url: URL, latest: Bool, _ body: (hid_t) throws -> Void) throws {
    let fapl = H5Pcreate(loupe_H5P_FILE_ACCESS())
    defer { H5Pclose(fapl) }
    // H5F_LIBVER_V110 is 1.10's H5F_LIBVER_LATEST (a macro Swift does not import).
    if latest { H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110) }
    let fid = H5Fcreate(url.path, loupe_H5F_ACC_TRUNC(), hid_t(H5P_DEFAULT), fapl)
    try #require(fid >= 0)
    defer { H5Fclose(fid) }
    try body(fid)
}

/// A dataset `name` in `loc` of file type `type`, shape `dims`, written from `bytes` in the memory type `memory`
/// (default: the file type); `dcpl` sets the layout.
private func dataset(
    _ loc: hid_t, _ name: String, type: hid_t, dims: [Int], memory: hid_t? = nil, dcpl: hid_t = hid_t(H5P_DEFAULT),
    _ bytes: UnsafeRawPointer?
) {
    var d = dims.map { hsize_t($0) }
    let space = H5Screate_simple(Int32(d.count), &d, nil)
    defer { H5Sclose(space) }
    let did = H5Dcreate2(loc, name, type, space, hid_t(H5P_DEFAULT), dcpl, hid_t(H5P_DEFAULT))
    defer { H5Dclose(did) }
    if let bytes { H5Dwrite(did, memory ?? type, hid_t(H5S_ALL), hid_t(H5S_ALL), hid_t(H5P_DEFAULT), bytes) }
}

private func vlenUTF8() -> hid_t {
    let t = H5Tcopy(loupe_H5T_C_S1())
    H5Tset_size(t, loupe_H5T_VARIABLE())
    H5Tset_cset(t, H5T_CSET_UTF8)
    return t
}

/// A scalar vlen string attribute.
private func stringAttribute(_ loc: hid_t, _ name: String, _ value: String) {
    let t = vlenUTF8()
    defer { H5Tclose(t) }
    let space = H5Screate(H5S_SCALAR)
    defer { H5Sclose(space) }
    let aid = H5Acreate2(loc, name, t, space, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
    defer { H5Aclose(aid) }
    value.withCString { s in
        var p: UnsafePointer<CChar>? = s
        _ = H5Awrite(aid, t, &p)
    }
}

/// The contents every format variant holds: attributes, float32 / half / int8 / int64 / vlen string datasets.
private func writeContents(_ fid: hid_t, compact: Bool) {
    stringAttribute(fid, "format", "loupe ü")
    var n: Int64 = -42
    let scalar = H5Screate(H5S_SCALAR)
    let aid = H5Acreate2(fid, "n", loupe_H5T_STD_I64LE(), scalar, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
    H5Awrite(aid, loupe_H5T_NATIVE_INT64(), &n)
    H5Aclose(aid)
    H5Sclose(scalar)
    let g = H5Gcreate2(fid, "g", hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
    defer { H5Gclose(g) }
    stringAttribute(g, "type", "wordpiece")
    let dcpl = H5Pcreate(loupe_H5P_DATASET_CREATE())
    defer { H5Pclose(dcpl) }
    if compact { H5Pset_layout(dcpl, H5D_COMPACT) }
    let floats: [Float] = (0..<12).map { Float($0) * 0.37 - 2 }
    dataset(g, "f32", type: loupe_H5T_IEEE_F32LE(), dims: [3, 4], memory: loupe_H5T_NATIVE_FLOAT(), dcpl: dcpl, floats)
    // IEEE half, as h5py builds it (set_fields, set_size, set_ebias), converted by libhdf5 from float.
    let half = H5Tcopy(loupe_H5T_IEEE_F32LE())
    H5Tset_fields(half, 15, 10, 5, 0, 10)
    H5Tset_size(half, 2)
    H5Tset_ebias(half, 15)
    defer { H5Tclose(half) }
    dataset(g, "f16", type: half, dims: [12], memory: loupe_H5T_NATIVE_FLOAT(), dcpl: dcpl, floats)
    let int8: [Int8] = [-128, -1, 0, 1, 127]
    dataset(g, "i8", type: loupe_H5T_STD_I8LE(), dims: [5], memory: loupe_H5T_NATIVE_INT8(), dcpl: dcpl, int8)
    let int64: [Int64] = [Int64.min, -1, 0, Int64.max]
    dataset(fid, "i64", type: loupe_H5T_STD_I64LE(), dims: [2, 2], memory: loupe_H5T_NATIVE_INT64(), dcpl: dcpl, int64)
    let words = ["[PAD]", "héllo", "", "日本"]
    let t = vlenUTF8()
    defer { H5Tclose(t) }
    let cstrings = words.map { strdup($0) }
    defer { cstrings.forEach { free($0) } }
    dataset(g, "vocab", type: t, dims: [words.count], cstrings)
}

@Suite("HDF5 reader formats")
struct HDF5ReaderFormatTests {
    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func readsWhatLibHDF5Writes(latest: Bool, compact: Bool) throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporary(dir) }
        let url = dir.appendingPathComponent("f.h5")
        try writeFile(url, latest: latest) { writeContents($0, compact: compact) }
        let c = try compareWithLibHDF5(url)
        #expect(c.floatDatasets == 2 && c.integerDatasets == 2 && c.stringDatasets == 1 && c.attributes == 3)
        let reader = try HDF5Reader(url)
        #expect(try reader.strings("/g/vocab") == ["[PAD]", "héllo", "", "日本"])
        #expect(try reader.int64Attribute("n") == -42)
        let superblock = try Data(contentsOf: url)[8]
        #expect(superblock == (latest ? 3 : 0))
    }

    /// Unsupported features give one-line errors naming the file and the object.
    @Test func refusesWhatItDoesNotRead() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporary(dir) }
        let url = dir.appendingPathComponent("f.h5")
        let values = [Float](repeating: 1, count: 64)
        try writeFile(url, latest: true) { fid in
            let dcpl = H5Pcreate(loupe_H5P_DATASET_CREATE())
            defer { H5Pclose(dcpl) }
            var chunk: [hsize_t] = [8]
            H5Pset_chunk(dcpl, 1, &chunk)
            dataset(fid, "chunked", type: loupe_H5T_IEEE_F32LE(), dims: [64], memory: loupe_H5T_NATIVE_FLOAT(), dcpl: dcpl, values)
            let be = H5Tcopy(loupe_H5T_IEEE_F32LE())
            H5Tset_order(be, H5T_ORDER_BE)
            defer { H5Tclose(be) }
            dataset(fid, "bigendian", type: be, dims: [64], memory: loupe_H5T_NATIVE_FLOAT(), values)
            // More than 8 links: libhdf5's newest format moves them to a fractal heap ("dense" storage).
            let g = H5Gcreate2(fid, "dense", hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
            for i in 0..<20 { dataset(g, "d\(i)", type: loupe_H5T_IEEE_F32LE(), dims: [1], memory: loupe_H5T_NATIVE_FLOAT(), values) }
            H5Gclose(g)
        }
        let reader = try HDF5Reader(url)
        func message(_ body: () throws(WeightError) -> Void) -> String {
            do throws(WeightError) {
                try body()
                return "no error"
            } catch { return error.description }
        }
        let chunked = message { () throws(WeightError) in _ = try reader.tensor("/chunked") }
        #expect(chunked.hasPrefix(url.path + ": ") && chunked.contains("/chunked: chunked storage is not supported"))
        let bigEndian = message { () throws(WeightError) in _ = try reader.tensor("/bigendian") }
        #expect(bigEndian.contains("tensor /bigendian has dtype float32 (big-endian or not IEEE 754)"))
        let dense = message { () throws(WeightError) in _ = try reader.memberNames(ofGroup: "/dense") }
        #expect(dense.contains("/dense: dense link storage"), "\(dense)")
        for m in [chunked, bigEndian, dense] { #expect(!m.contains("\n")) }
    }
}
