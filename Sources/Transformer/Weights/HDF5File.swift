// A small read-only wrapper over the libhdf5 C API: attributes, dataset listing, float and string datasets.

import CHDF5
import Tensor
import Tokenizers

// Swift imports these `(hid_t)0` macros as Int32; the ids themselves are hid_t.
private let h5Default = hid_t(H5P_DEFAULT)  // default property list
private let h5ErrorStack = hid_t(H5E_DEFAULT)  // this thread's default error stack
private let h5All = hid_t(H5S_ALL)  // the whole dataspace

/// Facts about one dataset, read without reading its data.
struct HDF5DatasetInfo {
    var shape: [Int]
    var typeClass: H5T_class_t
    /// Element size in bytes (2 for IEEE half, 4 for float32).
    var typeSize: Int
    /// float32 or IEEE half: the storage types of the format, which HDF5 widens to float exactly.
    var isWeightFloat: Bool { typeClass == H5T_FLOAT && (typeSize == 4 || typeSize == 2) }
    /// A one-byte integer (a version 2 file's int8 weights; `readInt8` checks the sign).
    var isInt8: Bool { typeClass == H5T_INTEGER && typeSize == 1 }
}

/// A read-only HDF5 file. Every HDF5 id opened by a method is closed before it returns (`defer`); the file id
/// is closed when the object goes away. Failures become `WeightError`s naming the file (and the object);
/// HDF5's own error-stack printing is switched off. libhdf5 1.10 API (Debian's 1.10.8); the Debian build is
/// thread-safe, and its error-stack settings are per thread, so `open` silences the calling thread.
final class HDF5File {
    let path: String
    private let fid: hid_t

    /// The file's size when opened: no dataset of a Loupe file (contiguous, uncompressed) can hold more.
    let bytes: Int

    private init(path: String, fid: hid_t, bytes: Int) {
        self.path = path
        self.fid = fid
        self.bytes = bytes
    }

    deinit { H5Fclose(fid) }

    /// Opens `path` read-only: `.notHDF5` without the HDF5 signature, `.truncated` when the signature is
    /// there but the file cannot be opened (cut short: "truncated file: eof = ...").
    static func open(_ path: String) throws(WeightError) -> HDF5File {
        let kind = FileKind(path: path)
        if kind == .missing { throw .fileNotFound(file: path) }
        if let why = kind.notRegularReason { throw .unsupportedFile(file: path, detail: why) }  // never open a FIFO
        let fileBytes = kind.bytes ?? 0
        H5Eset_auto2(h5ErrorStack, nil, nil)
        let isHDF5 = H5Fis_hdf5(path)
        if isHDF5 == 0 { throw .notHDF5(file: path) }
        if isHDF5 < 0 { throw .unreadable(file: path, detail: hdf5ErrorDetail()) }
        let fapl = H5Pcreate(loupe_H5P_FILE_ACCESS())
        defer { H5Pclose(fapl) }
        // STRONG: H5Fclose really closes the file even if an object id were still open.
        H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG)
        // Take HDF5's read lock, but do not fail on file systems without locking (HDF5 >= 1.10.7).
        H5Pset_file_locking(fapl, true, true)
        let fid = H5Fopen(path, loupe_H5F_ACC_RDONLY(), fapl)
        if fid < 0 { throw .truncated(file: path, detail: hdf5ErrorDetail()) }
        return HDF5File(path: path, fid: fid, bytes: fileBytes)
    }

    /// Whether `objectPath` names a group (true) or something else / nothing (false).
    func isGroup(_ objectPath: String) -> Bool { objectType(objectPath) == H5I_GROUP }

    /// Whether `objectPath` names a dataset.
    func isDataset(_ objectPath: String) -> Bool { objectType(objectPath) == H5I_DATASET }

    private func objectType(_ objectPath: String) -> H5I_type_t? {
        // H5Lexists checks only the last component, so walk the path from the root.
        var prefix = ""
        for part in objectPath.split(separator: "/") {
            prefix += "/" + part
            if H5Lexists(fid, prefix, h5Default) <= 0 { return nil }
        }
        let oid = H5Oopen(fid, objectPath, h5Default)
        guard oid >= 0 else { return nil }
        defer { H5Oclose(oid) }
        return H5Iget_type(oid)
    }

    // MARK: Attributes

    /// How an attribute is named in errors: "version" on the root, "tokenizer/type" on a group.
    private func attributeLabel(_ name: String, _ objectPath: String) -> String {
        let obj = objectPath.split(separator: "/").joined(separator: "/")
        return obj.isEmpty ? name : obj + "/" + name
    }

    /// Opens a scalar attribute, checks its type class, and hands `(attribute id, file type id)` to `body`.
    private func withScalarAttribute<R>(
        _ name: String, of objectPath: String, class wanted: H5T_class_t, kind: String,
        _ body: (hid_t, hid_t) throws(WeightError) -> R
    ) throws(WeightError) -> R? {
        let label = attributeLabel(name, objectPath)
        let exists = H5Aexists_by_name(fid, objectPath, name, h5Default)
        if exists == 0 { return nil }
        if exists < 0 { throw .missingObject(file: path, path: objectPath) }
        let aid = H5Aopen_by_name(fid, objectPath, name, h5Default, h5Default)
        if aid < 0 { throw .truncated(file: path, detail: "attribute \(label): \(hdf5ErrorDetail())") }
        defer { H5Aclose(aid) }
        let ftype = H5Aget_type(aid)
        defer { H5Tclose(ftype) }
        let space = H5Aget_space(aid)
        defer { H5Sclose(space) }
        guard H5Tget_class(ftype) == wanted else {
            throw .badAttribute(file: path, name: label, detail: "expected \(kind)")
        }
        guard H5Sget_simple_extent_type(space) == H5S_SCALAR else {
            throw .badAttribute(file: path, name: label, detail: "expected a scalar \(kind)")
        }
        return try body(aid, ftype)
    }

    /// A scalar variable-length UTF-8 string attribute (docs/weights-format.md, "Types at a glance"), or
    /// nil when absent.
    func stringAttribute(_ name: String, of objectPath: String = "/") throws(WeightError) -> String? {
        let label = attributeLabel(name, objectPath)
        return try withScalarAttribute(name, of: objectPath, class: H5T_STRING, kind: "a string") {
            (aid, ftype) throws(WeightError) -> String in
            guard H5Tis_variable_str(ftype) > 0 else {
                throw .badAttribute(file: path, name: label, detail: "expected a variable-length string")
            }
            let mtype = vlenStringType()
            defer { H5Tclose(mtype) }
            var cstr: UnsafeMutablePointer<CChar>? = nil
            if H5Aread(aid, mtype, &cstr) < 0 {
                throw .truncated(file: path, detail: "attribute \(label): \(hdf5ErrorDetail())")
            }
            defer { H5free_memory(cstr) }
            guard let cstr, let value = String(validatingCString: cstr) else {
                throw .badAttribute(file: path, name: label, detail: "not a valid UTF-8 string")
            }
            return value
        }
    }

    /// A scalar integer attribute read as int64, or nil when absent.
    func int64Attribute(_ name: String, of objectPath: String = "/") throws(WeightError) -> Int64? {
        let label = attributeLabel(name, objectPath)
        return try withScalarAttribute(name, of: objectPath, class: H5T_INTEGER, kind: "an integer") {
            (aid, _) throws(WeightError) -> Int64 in
            var value: Int64 = 0
            if H5Aread(aid, loupe_H5T_NATIVE_INT64(), &value) < 0 {
                throw .badAttribute(file: path, name: label, detail: "not readable as int64: \(hdf5ErrorDetail())")
            }
            return value
        }
    }

    /// A 0/1 flag attribute (int8 in the format), or nil when absent. Other values are an error.
    func flagAttribute(_ name: String, of objectPath: String = "/") throws(WeightError) -> Bool? {
        let label = attributeLabel(name, objectPath)
        return try withScalarAttribute(name, of: objectPath, class: H5T_INTEGER, kind: "an integer flag") {
            (aid, _) throws(WeightError) -> Bool in
            var value: Int8 = 0
            if H5Aread(aid, loupe_H5T_NATIVE_INT8(), &value) < 0 {
                throw .badAttribute(file: path, name: label, detail: "not readable as int8: \(hdf5ErrorDetail())")
            }
            guard value == 0 || value == 1 else {
                throw .badAttribute(file: path, name: label, detail: "expected 0 or 1, found \(value)")
            }
            return value == 1
        }
    }

    // MARK: Datasets

    /// The names of the links in a group, in name order (H5_INDEX_NAME, increasing).
    func memberNames(ofGroup groupPath: String) throws(WeightError) -> [String] {
        guard isGroup(groupPath) else { throw .missingObject(file: path, path: groupPath) }
        let gid = H5Gopen2(fid, groupPath, h5Default)
        if gid < 0 { throw .truncated(file: path, detail: "group \(groupPath): \(hdf5ErrorDetail())") }
        defer { H5Gclose(gid) }
        var info = H5G_info_t()
        if H5Gget_info(gid, &info) < 0 {
            throw .truncated(file: path, detail: "group \(groupPath): \(hdf5ErrorDetail())")
        }
        var names: [String] = []
        names.reserveCapacity(Int(info.nlinks))
        for i in 0..<info.nlinks {
            let size = H5Lget_name_by_idx(gid, ".", H5_INDEX_NAME, H5_ITER_INC, i, nil, 0, h5Default)
            if size < 0 { throw .truncated(file: path, detail: "group \(groupPath): \(hdf5ErrorDetail())") }
            var buffer = [CChar](repeating: 0, count: Int(size) + 1)
            _ = H5Lget_name_by_idx(gid, ".", H5_INDEX_NAME, H5_ITER_INC, i, &buffer, buffer.count, h5Default)
            guard let name = buffer.withUnsafeBufferPointer({ String(validatingCString: $0.baseAddress!) }) else {
                throw .badAttribute(file: path, name: groupPath, detail: "link name \(i) is not valid UTF-8")
            }
            names.append(name)
        }
        return names
    }

    /// Opens a dataset, reads its dataspace and file type, and hands `(dataset, space, file type, info)` to `body`.
    private func withDataset<R>(
        _ datasetPath: String, _ body: (hid_t, hid_t, hid_t, HDF5DatasetInfo) throws(WeightError) -> R
    ) throws(WeightError) -> R {
        guard isDataset(datasetPath) else { throw .missingObject(file: path, path: datasetPath) }
        let did = H5Dopen2(fid, datasetPath, h5Default)
        if did < 0 { throw .truncated(file: path, detail: "dataset \(datasetPath): \(hdf5ErrorDetail())") }
        defer { H5Dclose(did) }
        let space = H5Dget_space(did)
        defer { H5Sclose(space) }
        let ftype = H5Dget_type(did)
        defer { H5Tclose(ftype) }
        let rank = H5Sget_simple_extent_ndims(space)
        if space < 0 || ftype < 0 || rank < 0 {
            throw .truncated(file: path, detail: "dataset \(datasetPath): \(hdf5ErrorDetail())")
        }
        var dims = [hsize_t](repeating: 0, count: Int(rank))
        if rank > 0 { H5Sget_simple_extent_dims(space, &dims, nil) }
        var shape: [Int] = []
        var count = 1
        for d in dims {
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(clamping: d))
            guard d <= UInt64(Int.max), !overflow else {
                throw .truncated(file: path, detail: "dataset \(datasetPath): impossible extent \(dims)")
            }
            count = product
            shape.append(Int(d))
        }
        let info = HDF5DatasetInfo(shape: shape, typeClass: H5Tget_class(ftype), typeSize: H5Tget_size(ftype))
        return try body(did, space, ftype, info)
    }

    /// Shape and stored type of a dataset, without reading its data.
    func datasetInfo(_ datasetPath: String) throws(WeightError) -> HDF5DatasetInfo {
        try withDataset(datasetPath) { (_, _, _, info) throws(WeightError) in info }
    }

    /// A float dataset (float32 or IEEE half) as a Float32 tensor, read straight into the tensor's storage.
    /// float32 and other float layouts: HDF5 converts into H5T_NATIVE_FLOAT while reading (exact for half,
    /// docs/weights-format.md). Little-endian IEEE half: HDF5's soft half→float conversion is slow, so the raw
    /// half bits are read instead and widened in place by `widenHalves`, which gives the same exact values.
    /// `key` names the tensor in errors.
    func readFloatTensor(_ datasetPath: String, key: String) throws(WeightError) -> Tensor {
        try withDataset(datasetPath) { (did, _, ftype, info) throws(WeightError) -> Tensor in
            guard info.isWeightFloat else {
                throw .unsupportedDType(file: path, key: key, dtype: Self.describe(info))
            }
            let rawHalf = info.typeSize == 2 && isIEEEHalfLittleEndian(ftype)
            var status: herr_t = 0
            let tensor = Tensor(shape: info.shape) { buffer in
                guard let base = buffer.baseAddress, !buffer.isEmpty else { return }
                if rawHalf {
                    // The file type as memory type: HDF5 copies the 2-byte values unconverted into the front
                    // half of the buffer.
                    status = H5Dread(did, ftype, h5All, h5All, h5Default, base)
                    if status >= 0 { widenHalves(base, count: buffer.count) }
                } else {
                    status = H5Dread(did, loupe_H5T_NATIVE_FLOAT(), h5All, h5All, h5Default, base)
                }
                if status < 0 { buffer.initialize(repeating: 0) }
            }
            if status < 0 {
                throw .truncated(file: path, detail: "reading tensor \(key): \(hdf5ErrorDetail())")
            }
            return tensor
        }
    }

    /// A signed 8-bit integer dataset, row-major. `key` names the tensor in errors.
    func readInt8(_ datasetPath: String, key: String) throws(WeightError) -> [Int8] {
        try withDataset(datasetPath) { (did, _, ftype, info) throws(WeightError) -> [Int8] in
            guard info.isInt8, H5Tget_sign(ftype) == H5T_SGN_2 else {
                throw .unsupportedDType(file: path, key: key, dtype: Self.describe(info))
            }
            var values = [Int8](repeating: 0, count: info.shape.reduce(1, *))
            if !values.isEmpty, H5Dread(did, loupe_H5T_NATIVE_INT8(), h5All, h5All, h5Default, &values) < 0 {
                throw .truncated(file: path, detail: "reading tensor \(key): \(hdf5ErrorDetail())")
            }
            return values
        }
    }

    /// An integer dataset of any rank, read as Int64 (HDF5 converts smaller integer types), row-major.
    func readIntegers(_ datasetPath: String) throws(WeightError) -> (shape: [Int], values: [Int]) {
        try withDataset(datasetPath) { (did, _, _, info) throws(WeightError) -> ([Int], [Int]) in
            guard info.typeClass == H5T_INTEGER else {
                throw .unsupportedDType(file: path, key: datasetPath, dtype: Self.describe(info))
            }
            var values = [Int64](repeating: 0, count: info.shape.reduce(1, *))
            if !values.isEmpty {
                let status = values.withUnsafeMutableBytes {
                    H5Dread(did, loupe_H5T_NATIVE_INT64(), h5All, h5All, h5Default, $0.baseAddress)
                }
                if status < 0 { throw .truncated(file: path, detail: "reading \(datasetPath): \(hdf5ErrorDetail())") }
            }
            return (info.shape, values.map { Int($0) })
        }
    }

    /// A 1-D dataset of variable-length UTF-8 strings (the tokenizer's `vocab` and `merges`).
    func readStrings(_ datasetPath: String) throws(WeightError) -> [String] {
        let label = String(datasetPath.drop(while: { $0 == "/" }))
        return try withDataset(datasetPath) { (did, space, ftype, info) throws(WeightError) -> [String] in
            guard info.typeClass == H5T_STRING, H5Tis_variable_str(ftype) > 0, info.shape.count == 1 else {
                throw .badAttribute(
                    file: path, name: label, detail: "expected a 1-D dataset of variable-length strings")
            }
            let n = info.shape[0]
            if n == 0 { return [] }
            // Each entry is a 16-byte heap reference in the file; a claimed count beyond that, or beyond the
            // vocabulary limit, is refused before the pointer array is allocated.
            guard n <= TokenizerLimits.maxVocabulary, n <= bytes / 16 else {
                throw .badAttribute(
                    file: path, name: label,
                    detail: "\(n) entries, over the limit of \(min(TokenizerLimits.maxVocabulary, bytes / 16))")
            }
            let mtype = vlenStringType()
            defer { H5Tclose(mtype) }
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: n)
            return try pointers.withUnsafeMutableBufferPointer { (ptrs) throws(WeightError) -> [String] in
                if H5Dread(did, mtype, h5All, h5All, h5Default, ptrs.baseAddress) < 0 {
                    throw .truncated(file: path, detail: "reading \(label): \(hdf5ErrorDetail())")
                }
                // libhdf5 1.10 frees vlen read buffers with H5Dvlen_reclaim (H5Treclaim is 1.12+).
                defer { H5Dvlen_reclaim(mtype, space, h5Default, ptrs.baseAddress) }
                var strings: [String] = []
                strings.reserveCapacity(n)
                for (i, p) in ptrs.enumerated() {
                    guard let p, let s = String(validatingCString: p) else {
                        throw .badAttribute(file: path, name: label, detail: "entry \(i) is not a valid UTF-8 string")
                    }
                    strings.append(s)
                }
                return strings
            }
        }
    }

    /// "float64", "int32", ... for error messages.
    static func describe(_ info: HDF5DatasetInfo) -> String {
        switch info.typeClass {
        case H5T_FLOAT: return "float\(info.typeSize * 8)"
        case H5T_INTEGER: return "int\(info.typeSize * 8)"
        case H5T_STRING: return "string"
        default: return "HDF5 type class \(info.typeClass.rawValue)"
        }
    }
}

/// Whether an HDF5 float type is exactly IEEE 754 binary16, little-endian (what h5py writes for float16):
/// sign bit 15, exponent bits 10-14 with bias 15, 10 fraction bits with an implied leading 1.
private func isIEEEHalfLittleEndian(_ type: hid_t) -> Bool {
    var (spos, epos, esize, mpos, msize) = (0, 0, 0, 0, 0)
    guard H5Tget_class(type) == H5T_FLOAT, H5Tget_size(type) == 2, H5Tget_order(type) == H5T_ORDER_LE,
        H5Tget_precision(type) == 16, H5Tget_offset(type) == 0, H5Tget_ebias(type) == 15,
        H5Tget_norm(type) == H5T_NORM_IMPLIED, H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize) >= 0
    else { return false }
    return (spos, epos, esize, mpos, msize) == (15, 10, 5, 0, 10)
}

/// The memory type for reading variable-length UTF-8 strings as `char*` (H5T_C_S1, size H5T_VARIABLE).
private func vlenStringType() -> hid_t {
    let t = H5Tcopy(loupe_H5T_C_S1())
    H5Tset_size(t, loupe_H5T_VARIABLE())
    H5Tset_cset(t, H5T_CSET_UTF8)
    return t
}

/// The innermost message on this thread's HDF5 error stack (e.g. "truncated file: eof = 1024, ..."), with the
/// outermost API function for context; "unknown HDF5 error" if the stack is empty.
func hdf5ErrorDetail() -> String {
    var messages: [String] = []
    withUnsafeMutablePointer(to: &messages) { ptr in
        _ = H5Ewalk2(
            h5ErrorStack, H5E_WALK_DOWNWARD,
            { _, err, data in
                guard let err, let data else { return 0 }
                let list = data.assumingMemoryBound(to: [String].self)
                let function = err.pointee.func_name.map { String(cString: $0) } ?? "?"
                let desc = err.pointee.desc.map { String(cString: $0) } ?? ""
                list.pointee.append("\(function): \(desc)")
                return 0
            }, ptr)
    }
    H5Eclear2(h5ErrorStack)
    guard let innermost = messages.last else { return "unknown HDF5 error" }
    return messages.count > 1 ? "\(innermost) (in \(messages[0]))" : innermost
}
