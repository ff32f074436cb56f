// The read-only HDF5 interface of the loaders (attributes, group members, datasets) over Loupe's own parser.

import Tensor
import Tokenizers

/// Facts about one dataset, read without reading its data.
struct HDF5DatasetInfo {
    var shape: [Int]
    var datatype: HDF5Datatype
    /// Element size in bytes (2 for IEEE half, 4 for float32).
    var typeSize: Int
    /// float32 or IEEE half: the storage types of the format.
    var isWeightFloat: Bool {
        if case .float(let size, _) = datatype { return size == 4 || size == 2 }
        return false
    }
    /// A one-byte integer (a version 2 file's int8 weights; `readInt8` checks the sign).
    var isInt8: Bool {
        if case .integer(1, _, _) = datatype { return true }
        return false
    }
}

/// A read-only HDF5 file, parsed by `HDF5Parser` (no libhdf5 on the read path: issue #17). Failures are
/// `WeightError`s naming the file and the object. Not thread-safe: one user at a time (the parser caches headers).
final class HDF5File {
    let path: String
    /// The file's size when opened: no dataset of a Loupe file (contiguous, uncompressed) can hold more.
    let bytes: Int
    private let parser: HDF5Parser

    private init(path: String, parser: HDF5Parser) {
        self.path = path
        self.parser = parser
        self.bytes = parser.source.size
    }

    /// Opens `path` read-only: `.notHDF5` without the HDF5 signature at offset 0, `.truncated` when the signature
    /// is there but the superblock or root group cannot be read (cut short, damaged).
    static func open(_ path: String) throws(WeightError) -> HDF5File {
        let source = try HDF5Source(path: path)
        let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]
        let head = (try? source.bytes(at: 0, count: UInt64(min(8, source.size)), "signature")) ?? []
        guard head == signature else { throw .notHDF5(file: path) }
        let file = try wrap(path) { () throws(HDF5Problem) in HDF5File(path: path, parser: try HDF5Parser(source)) }
        // The root group must be readable for the file to count as open, as H5Fopen requires.
        _ = try file.object("/")
        return file
    }

    /// Runs `body`, turning a parser problem into the `WeightError` naming this file.
    private static func wrap<R>(_ path: String, _ body: () throws(HDF5Problem) -> R) throws(WeightError) -> R {
        do { return try body() } catch { throw error.weightError(file: path) }
    }

    private func object(_ objectPath: String) throws(WeightError) -> HDF5Object? {
        try Self.wrap(path) { () throws(HDF5Problem) in try parser.object(objectPath) }
    }

    /// Whether `objectPath` names a group (true) or something else / nothing (false).
    func isGroup(_ objectPath: String) throws(WeightError) -> Bool { try object(objectPath)?.isGroup ?? false }

    /// Whether `objectPath` names a dataset.
    func isDataset(_ objectPath: String) throws(WeightError) -> Bool { try object(objectPath)?.isDataset ?? false }

    // MARK: Attributes

    /// How an attribute is named in errors: "version" on the root, "tokenizer/type" on a group.
    private func attributeLabel(_ name: String, _ objectPath: String) -> String {
        let obj = objectPath.split(separator: "/").joined(separator: "/")
        return obj.isEmpty ? name : obj + "/" + name
    }

    /// The scalar attribute `name` of `objectPath` (nil when absent), checked to be a scalar of the wanted kind.
    private func scalarAttribute(
        _ name: String, of objectPath: String, kind: String, matches: (HDF5Datatype) -> Bool
    ) throws(WeightError) -> HDF5Attribute? {
        let label = attributeLabel(name, objectPath)
        guard let obj = try object(objectPath) else { throw .missingObject(file: path, path: objectPath) }
        let found = try Self.wrap(path) { () throws(HDF5Problem) in
            try parser.attribute(name, of: obj, what: objectPath)
        }
        guard let attr = found else { return nil }
        guard matches(attr.datatype) else { throw .badAttribute(file: path, name: label, detail: "expected \(kind)") }
        guard attr.dataspace.isScalar else {
            throw .badAttribute(file: path, name: label, detail: "expected a scalar \(kind)")
        }
        return attr
    }

    /// A scalar variable-length UTF-8 string attribute (docs/weights-format.md, "Types at a glance"), or
    /// nil when absent.
    func stringAttribute(_ name: String, of objectPath: String = "/") throws(WeightError) -> String? {
        let label = attributeLabel(name, objectPath)
        let isString: (HDF5Datatype) -> Bool = {
            switch $0 {
            case .vlenString, .fixedString: return true
            default: return false
            }
        }
        guard let attr = try scalarAttribute(name, of: objectPath, kind: "a string", matches: isString) else {
            return nil
        }
        guard attr.datatype == .vlenString else {
            throw .badAttribute(file: path, name: label, detail: "expected a variable-length string")
        }
        let value = try Self.wrap(path) { () throws(HDF5Problem) in
            try parser.vlenString(attr.data.prefix(parser.vlenElementSize), what: "attribute \(label)")
        }
        guard let value else { throw .badAttribute(file: path, name: label, detail: "not a valid UTF-8 string") }
        return value
    }

    /// A scalar integer attribute's value (any width and sign, little- or big-endian), as Int64; an unsigned
    /// value above Int64.max is an error rather than a silently different number.
    private func integerAttribute(_ name: String, of objectPath: String, kind: String) throws(WeightError) -> Int64? {
        let label = attributeLabel(name, objectPath)
        let isInteger: (HDF5Datatype) -> Bool = { if case .integer = $0 { true } else { false } }
        guard let attr = try scalarAttribute(name, of: objectPath, kind: kind, matches: isInteger),
            case .integer(let size, let signed, let bigEndian) = attr.datatype
        else { return nil }
        guard let value = integerValue(attr.data, size: size, signed: signed, bigEndian: bigEndian) else {
            throw .badAttribute(file: path, name: label, detail: "not readable as int64")
        }
        return value
    }

    /// A scalar integer attribute read as int64, or nil when absent.
    func int64Attribute(_ name: String, of objectPath: String = "/") throws(WeightError) -> Int64? {
        try integerAttribute(name, of: objectPath, kind: "an integer")
    }

    /// A 0/1 flag attribute (int8 in the format), or nil when absent. Other values are an error.
    func flagAttribute(_ name: String, of objectPath: String = "/") throws(WeightError) -> Bool? {
        guard let value = try integerAttribute(name, of: objectPath, kind: "an integer flag") else { return nil }
        guard value == 0 || value == 1 else {
            throw .badAttribute(
                file: path, name: attributeLabel(name, objectPath), detail: "expected 0 or 1, found \(value)")
        }
        return value == 1
    }

    /// The names of the attributes stored on `objectPath`, in header order (for tests and tools).
    func attributeNames(of objectPath: String) throws(WeightError) -> [String] {
        guard let obj = try object(objectPath) else { throw .missingObject(file: path, path: objectPath) }
        return try Self.wrap(path) { () throws(HDF5Problem) in
            try parser.attributes(of: obj, what: objectPath).map(\.name)
        }
    }

    // MARK: Datasets

    /// The names of the links in a group, in name order (byte-wise, as libhdf5's H5_INDEX_NAME).
    func memberNames(ofGroup groupPath: String) throws(WeightError) -> [String] {
        guard let obj = try object(groupPath), obj.isGroup else { throw .missingObject(file: path, path: groupPath) }
        let map = try Self.wrap(path) { () throws(HDF5Problem) in try parser.memberMap(obj.header, what: groupPath) }
        return map.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// A dataset's parsed facts, or `.missingObject` when `datasetPath` is not a dataset.
    private func dataset(_ datasetPath: String) throws(WeightError) -> HDF5Dataset {
        guard let obj = try object(datasetPath), obj.isDataset else {
            throw .missingObject(file: path, path: datasetPath)
        }
        return try Self.wrap(path) { () throws(HDF5Problem) in try parser.dataset(obj, path: datasetPath) }
    }

    /// A dataset about to be read: its storage checked against its element count and the file, so that the
    /// buffers the readers then allocate from that count are backed by bytes the file really has.
    private func readable(_ datasetPath: String) throws(WeightError) -> HDF5Dataset {
        let d = try dataset(datasetPath)
        try Self.wrap(path) { () throws(HDF5Problem) in try parser.checkStorage(d, path: datasetPath) }
        return d
    }

    /// Shape and stored type of a dataset, without reading its data.
    func datasetInfo(_ datasetPath: String) throws(WeightError) -> HDF5DatasetInfo {
        let d = try dataset(datasetPath)
        return HDF5DatasetInfo(shape: d.dataspace.dims, datatype: d.datatype, typeSize: d.elementSize)
    }

    /// A float dataset (IEEE float32 or half, little-endian) as a Float32 tensor, read with one pread straight
    /// into the tensor's storage; halves are widened in place by `widenHalves` (exact). `key` names the tensor in
    /// errors. Other float layouts (big-endian, non-IEEE) are refused.
    func readFloatTensor(_ datasetPath: String, key: String) throws(WeightError) -> Tensor {
        let d = try readable(datasetPath)
        let info = HDF5DatasetInfo(shape: d.dataspace.dims, datatype: d.datatype, typeSize: d.elementSize)
        guard info.isWeightFloat, case .float(let size, let ieee) = d.datatype else {
            throw .unsupportedDType(file: path, key: key, dtype: Self.describe(info))
        }
        guard ieee else {
            throw .unsupportedDType(file: path, key: key, dtype: "float\(size * 8) (big-endian or not IEEE 754)")
        }
        var failure: HDF5Problem? = nil
        let tensor = Tensor(shape: d.dataspace.dims) { buffer in
            guard let base = buffer.baseAddress, !buffer.isEmpty else { return }
            do throws(HDF5Problem) {
                try parser.readRaw(d, into: UnsafeMutableRawPointer(base), path: datasetPath)
                if size == 2 { widenHalves(base, count: buffer.count) }
            } catch {
                failure = error
                buffer.initialize(repeating: 0)
            }
        }
        if let failure { throw failure.weightError(file: path) }
        return tensor
    }

    /// A signed 8-bit integer dataset, row-major. `key` names the tensor in errors.
    func readInt8(_ datasetPath: String, key: String) throws(WeightError) -> [Int8] {
        let d = try readable(datasetPath)
        guard case .integer(1, true, _) = d.datatype else {
            throw .unsupportedDType(
                file: path, key: key,
                dtype: Self.describe(HDF5DatasetInfo(shape: d.dataspace.dims, datatype: d.datatype, typeSize: d.elementSize)))
        }
        var values = [Int8](repeating: 0, count: d.elementCount)
        try values.withUnsafeMutableBytes { read(d, into: $0, datasetPath) }.get()
        return values
    }

    /// An integer dataset of any rank and integer type, as Int, row-major. An unsigned 64-bit value above
    /// Int.max is an error.
    func readIntegers(_ datasetPath: String) throws(WeightError) -> (shape: [Int], values: [Int]) {
        let d = try readable(datasetPath)
        guard case .integer(let size, let signed, let bigEndian) = d.datatype, [1, 2, 4, 8].contains(size) else {
            throw .unsupportedDType(
                file: path, key: datasetPath,
                dtype: Self.describe(HDF5DatasetInfo(shape: d.dataspace.dims, datatype: d.datatype, typeSize: d.elementSize)))
        }
        var raw = [UInt8](repeating: 0, count: d.elementCount * size)
        try raw.withUnsafeMutableBytes { read(d, into: $0, datasetPath) }.get()
        var values: [Int] = []
        values.reserveCapacity(d.elementCount)
        for i in 0..<d.elementCount {
            guard let v = integerValue(raw[i * size..<(i + 1) * size], size: size, signed: signed, bigEndian: bigEndian)
            else { throw .unsupportedDType(file: path, key: datasetPath, dtype: "uint64 (a value above Int64.max)") }
            values.append(Int(v))
        }
        return (d.dataspace.dims, values)
    }

    /// A 1-D dataset of variable-length UTF-8 strings (the tokenizer's `vocab` and `merges`).
    func readStrings(_ datasetPath: String) throws(WeightError) -> [String] {
        let label = String(datasetPath.drop(while: { $0 == "/" }))
        let d = try readable(datasetPath)
        guard d.datatype == .vlenString, d.dataspace.dims.count == 1, !d.dataspace.isNull else {
            throw .badAttribute(file: path, name: label, detail: "expected a 1-D dataset of variable-length strings")
        }
        let n = d.elementCount
        if n == 0 { return [] }
        // The dataset's storage was checked against the file (16 bytes per entry); the vocabulary limit as well.
        guard n <= TokenizerLimits.maxVocabulary else {
            throw .badAttribute(
                file: path, name: label, detail: "\(n) entries, over the limit of \(TokenizerLimits.maxVocabulary)")
        }
        var raw = [UInt8](repeating: 0, count: n * d.elementSize)
        try raw.withUnsafeMutableBytes { read(d, into: $0, datasetPath) }.get()
        var strings: [String] = []
        strings.reserveCapacity(n)
        for i in 0..<n {
            let element = raw[i * d.elementSize..<(i + 1) * d.elementSize]
            let s = try Self.wrap(path) { () throws(HDF5Problem) in try parser.vlenString(element, what: label) }
            guard let s else { throw .badAttribute(file: path, name: label, detail: "entry \(i) is not a valid UTF-8 string") }
            strings.append(s)
        }
        return strings
    }

    /// Reads a dataset's raw bytes into `buffer` (sized by the caller from the checked element count).
    private func read(_ d: HDF5Dataset, into buffer: UnsafeMutableRawBufferPointer, _ datasetPath: String)
        -> Result<Void, WeightError>
    {
        guard let base = buffer.baseAddress else { return .success(()) }
        do throws(HDF5Problem) {
            try parser.readRaw(d, into: base, path: datasetPath)
            return .success(())
        } catch { return .failure(error.weightError(file: path)) }
    }

    /// "float64", "int32", ... for error messages.
    static func describe(_ info: HDF5DatasetInfo) -> String { info.datatype.name }
}

/// A little- or big-endian two's-complement or unsigned integer of `size` (1...8) bytes, as Int64; nil for an
/// unsigned value above Int64.max or an unsupported size.
private func integerValue(_ bytes: some Collection<UInt8>, size: Int, signed: Bool, bigEndian: Bool) -> Int64? {
    guard (1...8).contains(size), bytes.count >= size else { return nil }
    var v: UInt64 = 0
    var i = 0
    for b in bytes.prefix(size) {
        v |= UInt64(b) << (8 * UInt64(bigEndian ? size - 1 - i : i))
        i += 1
    }
    if signed && size < 8 && v & (UInt64(1) << (8 * UInt64(size) - 1)) != 0 {
        v |= ~((UInt64(1) << (8 * UInt64(size))) - 1)  // sign-extend
    }
    if signed { return Int64(bitPattern: v) }
    return v <= UInt64(Int64.max) ? Int64(v) : nil
}
