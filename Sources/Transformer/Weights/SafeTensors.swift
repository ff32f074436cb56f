// Memory-mapped, strictly validated reading of Hugging Face safetensors files (single or sharded) into Tensors.

import Foundation
import Tensor
import Tokenizers

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

#if _endian(big)
    #error("safetensors and the Loupe digests are little-endian; this loader assumes a little-endian host")
#endif

/// A whole file mapped read-only (mmap, MAP_PRIVATE): tensors are converted straight from the page cache into
/// their Float32 storage, so the file is never copied into the heap. Unmapped when the object goes away.
final class MappedFile {
    let path: String
    /// nil for an empty file.
    let base: UnsafeRawPointer?
    let count: Int
    private static let pageSize = max(Int(sysconf(Int32(_SC_PAGESIZE))), 4096)

    init(path: String) throws(WeightError) {
        self.path = path
        let (fd, size) = try openRegularFile(path)
        defer { close(fd) }
        count = size
        if count == 0 {
            base = nil
            return
        }
        let p = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != UnsafeMutableRawPointer(bitPattern: -1) else {  // MAP_FAILED
            throw .unreadable(file: path, detail: "mmap: " + String(cString: strerror(errno)))
        }
        base = UnsafeRawPointer(p)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), count) }
    }

    /// Lets the kernel drop the pages wholly inside `[start, end)` from this process (MADV_DONTNEED): a
    /// converted tensor's source bytes need not stay resident next to the Float32 copy. The mapping is
    /// private and never written, so a later read simply faults the bytes in again from the file.
    func release(_ start: Int, _ end: Int) {
        guard let base else { return }
        let lo = (start + Self.pageSize - 1) / Self.pageSize * Self.pageSize
        let hi = end / Self.pageSize * Self.pageSize
        if hi > lo { madvise(UnsafeMutableRawPointer(mutating: base + lo), hi - lo, MADV_DONTNEED) }
    }
}

/// One tensor of a safetensors header. Offsets are relative to the start of the data section.
struct SafeTensorsEntry {
    var name: String
    var dtype: String
    var shape: [Int]
    var begin: Int
    var end: Int
}

/// Bytes per element of the safetensors dtypes (safetensors `Dtype::size`). Any other string is an invalid
/// header. Only F32, F16 and BF16 are converted; the rest are rejected if a model needs them.
private let dtypeSizes: [String: Int] = [
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8, "C64": 8,
]

/// safetensors' MAX_HEADER_SIZE (100 MB): a larger length prefix is a corrupt file.
private let maxHeaderSize = 100_000_000

/// One parsed and validated `*.safetensors` file, kept mapped while tensors are read from it.
final class SafeTensorsFile {
    let map: MappedFile
    var path: String { map.path }
    /// Offset of the data section in the file: 8 + header length.
    let dataStart: Int
    /// Entries in data order (sorted by offset).
    let entries: [SafeTensorsEntry]

    /// Maps the file and checks it as the safetensors reference implementation does (`SafeTensors::read_metadata`
    /// / `Metadata::validate`): an 8-byte little-endian header length inside the file, a JSON object header,
    /// known dtypes, `end - begin == elements × dtype size`, tensors packed back to back from offset 0 without
    /// gaps or overlaps, and the data section ending exactly at the end of the file.
    init(path: String) throws(WeightError) {
        map = try MappedFile(path: path)
        func fail(_ detail: String, _ key: String? = nil) -> WeightError {
            .safetensors(file: path, key: key, detail: detail)
        }
        guard let base = map.base, map.count >= 8 else {
            throw fail("file is \(map.count) bytes, shorter than the 8-byte header length")
        }
        let n = UInt64(littleEndian: base.loadUnaligned(as: UInt64.self))
        guard n <= UInt64(maxHeaderSize) else { throw fail("header length \(n) exceeds the 100 MB limit") }
        guard 8 + Int(n) <= map.count else {
            throw fail("header length \(n) runs past the end of the file (\(map.count) bytes)")
        }
        dataStart = 8 + Int(n)
        let dataLength = map.count - dataStart
        let headerBytes = Data(bytes: base + 8, count: Int(n))
        guard headerBytes.first == UInt8(ascii: "{") else { throw fail("header does not start with '{'") }
        // JSONDecoder keeps one value for a repeated key, and which one is not the Python reader's concern: a
        // file whose header names a tensor twice means two different things to two readers, so it is refused.
        if let name = firstRepeatedTopLevelKey(headerBytes) { throw fail("the header names this tensor twice", name) }
        let raw: RawHeader
        do {
            raw = try decodeJSON(RawHeader.self, from: headerBytes)
        } catch let e as DecodingError {
            // JSONDecoder finds a malformed string or number only when it decodes it, perhaps under a tensor
            // name, and never says where: a syntax error anywhere is reported with its position in the header.
            if case .dataCorrupted(let c) = e,
                let syntax = JSONSyntaxError(locating: headerBytes)
                    ?? (c.codingPath.isEmpty ? JSONSyntaxError(headerBytes, e) : nil)
            {
                throw fail("header is not valid JSON (\(syntax))")
            }
            let path = Self.codingPath(of: e)
            throw fail("header: \(describeDecodingError(e))", path.first)
        } catch {
            throw fail("header: \(oneLine("\(error)"))")
        }

        var entries: [SafeTensorsEntry] = []
        for (name, r) in raw.tensors {
            guard let size = dtypeSizes[r.dtype] else { throw fail("unknown dtype \"\(r.dtype)\"", name) }
            guard r.shape.allSatisfy({ $0 >= 0 }) else { throw fail("negative extent in shape \(r.shape)", name) }
            var bytes = size
            for d in r.shape {
                let (p, o) = bytes.multipliedReportingOverflow(by: d)
                guard !o else { throw fail("shape \(r.shape) is too large", name) }
                bytes = p
            }
            guard r.data_offsets.count == 2, r.data_offsets[0] >= 0, r.data_offsets[0] <= r.data_offsets[1] else {
                throw fail("data_offsets \(r.data_offsets) is not [begin, end] with 0 <= begin <= end", name)
            }
            let (b, e) = (r.data_offsets[0], r.data_offsets[1])
            guard e - b == bytes else {
                throw fail(
                    "data_offsets [\(b), \(e)] hold \(e - b) bytes, but \(r.dtype) \(r.shape) needs \(bytes)", name)
            }
            entries.append(SafeTensorsEntry(name: name, dtype: r.dtype, shape: r.shape, begin: b, end: e))
        }
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var offset = 0
        var previous: String? = nil
        for e in entries {
            if e.begin < offset {
                throw fail("data_offsets [\(e.begin), \(e.end)] overlap tensor \(previous ?? "?")", e.name)
            }
            if e.begin > offset {
                throw fail("data_offsets [\(e.begin), \(e.end)] leave a gap after byte \(offset) of the data", e.name)
            }
            if e.end > dataLength {
                throw fail(
                    "data_offsets [\(e.begin), \(e.end)] run past the end of the data section "
                        + "(\(dataLength) bytes): the file is truncated", e.name)
            }
            offset = e.end
            previous = e.name
        }
        if offset != dataLength {
            throw fail("the data section is \(dataLength) bytes but the tensors end at byte \(offset)")
        }
        self.entries = entries
    }

    /// The coding path of a decoding error, as key strings (the first one is the tensor name).
    private static func codingPath(of e: DecodingError) -> [String] {
        let context: DecodingError.Context
        switch e {
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c): context = c
        case .keyNotFound(_, let c): context = c
        @unknown default: return []
        }
        return context.codingPath.map(\.stringValue).filter { $0 != "__metadata__" }
    }

    /// Converts one entry to a Float32 tensor, straight from the mapping into the tensor's storage (F32 copied,
    /// F16 and BF16 widened exactly). Other dtypes are `.unsupportedDType` naming `key`.
    func readTensor(_ e: SafeTensorsEntry, key: String) throws(WeightError) -> Tensor {
        let n = e.shape.reduce(1, *)
        let start = dataStart + e.begin
        let convert: (UnsafeRawPointer, UnsafeMutablePointer<Float>, Int) -> Void
        let size: Int
        switch e.dtype {
        case "F32":
            size = 4
            convert = { src, dst, count in UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: 4 * count) }
        case "F16":
            size = 2
            convert = { src, dst, count in
                halfToFloat.withUnsafeBufferPointer { table in
                    for i in 0..<count {
                        dst[i] = table[Int(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))]
                    }
                }
            }
        case "BF16":
            // bfloat16 is the top half of a float32: widening is a shift.
            size = 2
            convert = { src, dst, count in
                for i in 0..<count {
                    let bits = UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16
                    dst[i] = Float(bitPattern: bits)
                }
            }
        default:
            throw .unsupportedDType(file: path, key: key, dtype: e.dtype)
        }
        guard n > 0, let base = map.base else { return Tensor(shape: e.shape, scalars: []) }
        let chunk = 1 << 20  // elements per step; the source pages of each step are released after it
        return Tensor(shape: e.shape) { buffer in
            let dst = buffer.baseAddress!
            var done = 0
            while done < n {
                let m = min(chunk, n - done)
                convert(base + start + done * size, dst + done, m)
                map.release(start + done * size, start + (done + m) * size)
                done += m
            }
        }
    }
}

/// The header as JSON: `{"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets"}, ...}`.
private struct RawHeader: Decodable {
    struct Entry: Decodable {
        let dtype: String
        let shape: [Int]
        let data_offsets: [Int]
    }
    struct Key: CodingKey {
        let stringValue: String
        init(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }
    var tensors: [(String, Entry)] = []

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        for key in c.allKeys {
            if key.stringValue == "__metadata__" {
                _ = try c.decode([String: String].self, forKey: key)
            } else {
                tensors.append((key.stringValue, try c.decode(Entry.self, forKey: key)))
            }
        }
    }
}

/// The tensors of a model's safetensors weights: `model.safetensors`, or the shards listed by
/// `model.safetensors.index.json` (each shard validated on its own; a name in two shards is an error).
struct SafeTensorsSet {
    private(set) var files: [SafeTensorsFile] = []
    /// name → (file index, entry), and the names in data order of their files.
    private(set) var byName: [String: (file: Int, entry: SafeTensorsEntry)] = [:]
    private(set) var names: [String] = []

    init(single path: String) throws(WeightError) {
        try add(SafeTensorsFile(path: path))
    }

    /// Reads `weight_map` of a sharded checkpoint's index and opens each shard once (in name order of the
    /// tensors that first mention it); every listed tensor must be in the shard the index names.
    init(index indexPath: String, directory: URL) throws(WeightError) {
        let json = try readJSONObject(indexPath, error: { .safetensors(file: $0, key: nil, detail: $1) })
        guard let entries = json["weight_map"]?.object, case let weightMap = entries.compactMapValues(\.string),
            weightMap.count == entries.count
        else {
            throw .safetensors(file: indexPath, key: nil, detail: "no \"weight_map\" object of name -> shard file")
        }
        var shardIndex: [String: Int] = [:]
        for (_, shard) in weightMap.sorted(by: { $0.key < $1.key }) where shardIndex[shard] == nil {
            shardIndex[shard] = files.count
            try add(SafeTensorsFile(path: directory.appendingPathComponent(shard).path))
        }
        for (name, shard) in weightMap.sorted(by: { $0.key < $1.key }) where byName[name]?.file != shardIndex[shard] {
            throw .safetensors(file: indexPath, key: name, detail: "not in its shard \(shard)")
        }
    }

    private mutating func add(_ file: SafeTensorsFile) throws(WeightError) {
        for e in file.entries {
            if let other = byName[e.name] {
                throw .duplicateTensor(file: file.path, key: e.name, other: files[other.file].path)
            }
            byName[e.name] = (files.count, e)
            names.append(e.name)
        }
        files.append(file)
    }

    func shape(of name: String) -> [Int]? { byName[name]?.entry.shape }

    func read(_ name: String, key: String) throws(WeightError) -> Tensor {
        let (f, e) = byName[name]!
        return try files[f].readTensor(e, key: key)
    }

    func file(of name: String) -> String { files[byName[name]!.file].path }
}

/// A JSON file whose top level is an object. A missing file is `.fileNotFound`; invalid JSON or another
/// top-level value is `error(file, detail)` (`.badConfig` unless the caller says otherwise).
func readJSONObject(
    _ path: String, error makeError: (String, String) -> WeightError = { .badConfig(file: $0, detail: $1) }
) throws(WeightError) -> [String: JSONValue] {
    guard let object = try readJSON(path, error: makeError).object else {
        throw makeError(path, "expected a JSON object")
    }
    return object
}

/// A JSON file, any top-level value. A missing file is `.fileNotFound`; invalid JSON is
/// `error(file, "not valid JSON (line 1, column 20, byte 19: expected a value)")`.
func readJSON(
    _ path: String, error makeError: (String, String) -> WeightError = { .badConfig(file: $0, detail: $1) }
) throws(WeightError) -> JSONValue {
    let kind = FileKind(path: path)
    if kind == .missing { throw .fileNotFound(file: path) }
    if let why = kind.notRegularReason { throw .unsupportedFile(file: path, detail: why) }  // never open a FIFO
    if let n = kind.bytes, n > TokenizerLimits.maxFileBytes {
        throw makeError(path, "the file is \(n) bytes, over the limit of \(TokenizerLimits.maxFileBytes) for a JSON file")
    }
    let data: Data
    do {
        data = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
        if !FileManager.default.fileExists(atPath: path) { throw .fileNotFound(file: path) }
        throw .unreadable(file: path, detail: oneLine(error.localizedDescription))
    }
    // Vocabularies and merges lists are the largest containers of a model's JSON files.
    let limit = max(TokenizerLimits.maxVocabulary, TokenizerLimits.maxMerges)
    let largest = largestJSONContainer(data)
    if largest > limit {
        throw makeError(path, "a JSON object or array with \(largest) entries, over the limit of \(limit)")
    }
    do {
        return try JSONValue(parsing: data)
    } catch {
        throw makeError(path, "not valid JSON (\(error))")
    }
}

/// Every float16 bit pattern widened to Float (Swift's `Float(Float16)`: IEEE 754 conversion, exact). A table
/// lookup is the fast way without F16C instructions, which this target is not compiled for.
let halfToFloat: [Float] = (0...UInt16.max).map { Float(Float16(bitPattern: $0)) }

/// Widens `count` float16 values stored in the first `2 * count` bytes of `buffer` to Float32, in place. Going
/// from the last value down, writing value i (bytes 4i..<4i+4) only overwrites halves 2i and 2i+1, which are
/// already converted (both >= i; for i = 0, half 0 is read before it is overwritten).
func widenHalves(_ buffer: UnsafeMutablePointer<Float>, count: Int) {
    let raw = UnsafeMutableRawPointer(buffer)
    halfToFloat.withUnsafeBufferPointer { table in
        var i = count - 1
        while i >= 0 {
            let bits = raw.load(fromByteOffset: 2 * i, as: UInt16.self)
            buffer[i] = table[Int(bits)]
            i -= 1
        }
    }
}
