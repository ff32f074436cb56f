// The libhdf5-based reader Loupe used before its own parser (issue #17), kept only as the parity tests' oracle.

import CHDF5
import Foundation

private let h5Default = hid_t(H5P_DEFAULT)
private let h5All = hid_t(H5S_ALL)

/// What libhdf5 says about an HDF5 file: members, attributes, dataset types and values. Every failure is a
/// plain `OracleError`; only ever run on trusted fixtures and files the tests write.
final class LibHDF5Oracle {
    struct OracleError: Error, CustomStringConvertible { var description: String }
    enum Kind { case group, dataset, other }
    enum Value: Equatable {
        case string(String?)  // nil: a NULL vlen string
        case integer(Int64)
        case other(String)
    }

    private let fid: hid_t

    init(_ path: String) throws {
        H5Eset_auto2(hid_t(H5E_DEFAULT), nil, nil)
        fid = H5Fopen(path, loupe_H5F_ACC_RDONLY(), h5Default)
        if fid < 0 { throw OracleError(description: "\(path): H5Fopen failed") }
    }

    deinit { H5Fclose(fid) }

    func kind(_ path: String) -> Kind {
        let oid = H5Oopen(fid, path, h5Default)
        guard oid >= 0 else { return .other }
        defer { H5Oclose(oid) }
        switch H5Iget_type(oid) {
        case H5I_GROUP: return .group
        case H5I_DATASET: return .dataset
        default: return .other
        }
    }

    /// Link names in H5_INDEX_NAME increasing order.
    func members(_ group: String) throws -> [String] {
        let gid = H5Gopen2(fid, group, h5Default)
        if gid < 0 { throw OracleError(description: "\(group): H5Gopen2 failed") }
        defer { H5Gclose(gid) }
        var info = H5G_info_t()
        H5Gget_info(gid, &info)
        return (0..<info.nlinks).map { i in
            let size = H5Lget_name_by_idx(gid, ".", H5_INDEX_NAME, H5_ITER_INC, i, nil, 0, h5Default)
            var buffer = [CChar](repeating: 0, count: Int(size) + 1)
            _ = H5Lget_name_by_idx(gid, ".", H5_INDEX_NAME, H5_ITER_INC, i, &buffer, buffer.count, h5Default)
            return String(cString: buffer)
        }
    }

    /// Attribute names in creation (header) order.
    func attributeNames(_ object: String) -> [String] {
        let oid = H5Oopen(fid, object, h5Default)
        guard oid >= 0 else { return [] }
        defer { H5Oclose(oid) }
        var info = H5O_info_t()
        H5Oget_info2(oid, &info, UInt32(H5O_INFO_NUM_ATTRS))
        return (0..<info.num_attrs).map { i in
            let size = H5Aget_name_by_idx(oid, ".", H5_INDEX_CRT_ORDER, H5_ITER_INC, i, nil, 0, h5Default)
            var buffer = [CChar](repeating: 0, count: max(Int(size), 0) + 1)
            _ = H5Aget_name_by_idx(oid, ".", H5_INDEX_CRT_ORDER, H5_ITER_INC, i, &buffer, buffer.count, h5Default)
            return String(cString: buffer)
        }
    }

    /// A scalar attribute's value as the old reader read it: vlen strings as UTF-8, integers through int64.
    func attribute(_ name: String, of object: String) -> Value {
        let aid = H5Aopen_by_name(fid, object, name, h5Default, h5Default)
        guard aid >= 0 else { return .other("unopenable") }
        defer { H5Aclose(aid) }
        let ftype = H5Aget_type(aid)
        defer { H5Tclose(ftype) }
        let space = H5Aget_space(aid)
        defer { H5Sclose(space) }
        guard H5Sget_simple_extent_type(space) == H5S_SCALAR else { return .other("not scalar") }
        switch H5Tget_class(ftype) {
        case H5T_STRING:
            guard H5Tis_variable_str(ftype) > 0 else { return .other("fixed string") }
            let mtype = vlenStringType()
            defer { H5Tclose(mtype) }
            var cstr: UnsafeMutablePointer<CChar>? = nil
            guard H5Aread(aid, mtype, &cstr) >= 0 else { return .other("unreadable") }
            defer { H5free_memory(cstr) }
            return .string(cstr.flatMap { String(validatingCString: $0) })
        case H5T_INTEGER:
            var value: Int64 = 0
            guard H5Aread(aid, loupe_H5T_NATIVE_INT64(), &value) >= 0 else { return .other("unreadable") }
            return .integer(value)
        default: return .other("class \(H5Tget_class(ftype).rawValue)")
        }
    }

    /// Shape, type class and element size of a dataset.
    func datasetInfo(_ path: String) throws -> (shape: [Int], typeClass: H5T_class_t, size: Int, signed: Bool, vlen: Bool) {
        let did = H5Dopen2(fid, path, h5Default)
        if did < 0 { throw OracleError(description: "\(path): H5Dopen2 failed") }
        defer { H5Dclose(did) }
        let space = H5Dget_space(did)
        defer { H5Sclose(space) }
        let ftype = H5Dget_type(did)
        defer { H5Tclose(ftype) }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        var dims = [hsize_t](repeating: 0, count: rank)
        if rank > 0 { H5Sget_simple_extent_dims(space, &dims, nil) }
        let cls = H5Tget_class(ftype)
        return (dims.map { Int($0) }, cls, H5Tget_size(ftype), cls == H5T_INTEGER && H5Tget_sign(ftype) == H5T_SGN_2,
                cls == H5T_STRING && H5Tis_variable_str(ftype) > 0)
    }

    /// A float dataset converted by libhdf5 to native float (exact for float32 and half).
    func floats(_ path: String, count: Int) throws -> [Float] {
        try read(path, count: count, type: loupe_H5T_NATIVE_FLOAT(), zero: Float(0))
    }

    /// An integer dataset converted by libhdf5 to int64.
    func integers(_ path: String, count: Int) throws -> [Int64] {
        try read(path, count: count, type: loupe_H5T_NATIVE_INT64(), zero: Int64(0))
    }

    private func read<T>(_ path: String, count: Int, type: hid_t, zero: T) throws -> [T] {
        let did = H5Dopen2(fid, path, h5Default)
        if did < 0 { throw OracleError(description: "\(path): H5Dopen2 failed") }
        defer { H5Dclose(did) }
        var values = [T](repeating: zero, count: count)
        if count > 0 {
            let status = values.withUnsafeMutableBytes { H5Dread(did, type, h5All, h5All, h5Default, $0.baseAddress) }
            if status < 0 { throw OracleError(description: "\(path): H5Dread failed") }
        }
        return values
    }

    /// A 1-D vlen string dataset; nil entries are NULL or not UTF-8.
    func strings(_ path: String, count: Int) throws -> [String?] {
        let did = H5Dopen2(fid, path, h5Default)
        if did < 0 { throw OracleError(description: "\(path): H5Dopen2 failed") }
        defer { H5Dclose(did) }
        let space = H5Dget_space(did)
        defer { H5Sclose(space) }
        let mtype = vlenStringType()
        defer { H5Tclose(mtype) }
        var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
        return try pointers.withUnsafeMutableBufferPointer { ptrs in
            if count > 0, H5Dread(did, mtype, h5All, h5All, h5Default, ptrs.baseAddress) < 0 {
                throw OracleError(description: "\(path): H5Dread failed")
            }
            defer { if count > 0 { H5Dvlen_reclaim(mtype, space, h5Default, ptrs.baseAddress) } }
            return ptrs.map { p in p.flatMap { String(validatingCString: $0) } }
        }
    }
}

/// The memory type for reading variable-length UTF-8 strings as `char*`.
private func vlenStringType() -> hid_t {
    let t = H5Tcopy(loupe_H5T_C_S1())
    H5Tset_size(t, loupe_H5T_VARIABLE())
    H5Tset_cset(t, H5T_CSET_UTF8)
    return t
}
