// Bounds-checked access to an untrusted HDF5 file: pread into small buffers, little-endian cursors, typed errors.

import Foundation
import Tokenizers

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Why the HDF5 parser refused a file. Every case says where (the structure being read, a file offset or an
/// object path); `weightError(file:)` turns it into the one-line `WeightError` callers see.
enum HDF5Problem: Error, Equatable {
    /// A structure's bytes `[offset, offset + length)` do not lie inside the file of `fileSize` bytes.
    case outOfBounds(what: String, offset: UInt64, length: UInt64, fileSize: Int)
    /// A structure did not start with its signature ("TREE", "SNOD", "HEAP", "GCOL", "OHDR", ...).
    case badSignature(what: String, offset: UInt64, expected: String)
    /// A field holds a value the format does not allow (a version, a size, a count that contradicts another).
    case malformed(what: String, detail: String)
    /// A value beyond one of the parser's limits (depth, step count, name length), refused before use.
    case limit(what: String, value: UInt64, limit: UInt64)
    /// A legal HDF5 feature this reader does not implement (chunked storage, filters, dense links, ...).
    case unsupported(what: String, detail: String)

    func weightError(file: String) -> WeightError {
        switch self {
        case .outOfBounds(let what, let offset, let length, let size):
            return .truncated(
                file: file, detail: "\(what): \(length) bytes at offset \(offset) run past the end of the \(size)-byte file")
        case .badSignature(let what, let offset, let expected):
            return .truncated(file: file, detail: "\(what): no \"\(expected)\" signature at offset \(offset)")
        case .malformed(let what, let detail):
            return .truncated(file: file, detail: "\(what): \(detail)")
        case .limit(let what, let value, let limit):
            return .truncated(file: file, detail: "\(what): \(value) is over the reader's limit of \(limit)")
        case .unsupported(let what, let detail):
            return .unsupportedFile(file: file, detail: "\(what): \(detail)")
        }
    }
}

/// Limits on what one file may make the parser do, so that no crafted file can hang it or make it allocate
/// beyond the file's own size. Each is far above what Loupe's and h5py's files use.
enum HDF5Limits {
    /// Nesting of B-tree nodes (a v1 B-tree of 2^16 children per level would need 4 levels for any file).
    static let maxTreeDepth = 16
    /// Object header messages, summed over an object's header and its continuation blocks.
    static let maxMessages = 65_536
    /// Links followed when resolving one path ("a/b/c" is 3).
    static let maxPathDepth = 64
    /// Bytes of one metadata block read at once (object header chunk, heap, B-tree node): HDF5 v1 headers and
    /// local heaps are far smaller; the file size bounds it as well.
    static let maxMetadataBlock = 1 << 30
    /// Dataspace rank (HDF5's own H5S_MAX_RANK is 32).
    static let maxRank = 32
}

/// "an address is undefined" in HDF5: all bits set (File Format Specification 3.0, II.A "undefined address").
let hdf5UndefinedAddress = UInt64.max

/// Opens a regular file read-only (close-on-exec) and returns its descriptor and size: `.fileNotFound`,
/// `.unreadable`, or `.unsupportedFile` for a directory, FIFO or device. stat comes before open, since open(2) on
/// a FIFO blocks until a writer comes, which may be never. Shared by the HDF5 and safetensors readers.
func openRegularFile(_ path: String) throws(WeightError) -> (fd: Int32, size: Int) {
    let kind = FileKind(path: path)
    if kind == .missing { throw .fileNotFound(file: path) }
    if let why = kind.notRegularReason { throw .unsupportedFile(file: path, detail: why) }
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else {
        let e = errno
        if e == ENOENT { throw .fileNotFound(file: path) }
        throw .unreadable(file: path, detail: String(cString: strerror(e)))
    }
    var st = stat()
    guard fstat(fd, &st) == 0 else {
        let e = errno
        close(fd)
        throw .unreadable(file: path, detail: String(cString: strerror(e)))
    }
    guard (st.st_mode & S_IFMT) == S_IFREG else {
        close(fd)
        throw .unsupportedFile(file: path, detail: "not a regular file")
    }
    return (fd, Int(st.st_size))
}

/// A regular file opened for positioned reads (pread); never mapped, so a file truncated while it is read gives an
/// error rather than SIGBUS. Closed when the object goes away.
final class HDF5Source {
    let path: String
    let size: Int
    private let fd: Int32

    init(path: String) throws(WeightError) {
        self.path = path
        (fd, size) = try openRegularFile(path)
    }

    deinit { close(fd) }

    /// Checks that `[offset, offset + length)` lies inside the file, overflow-checked.
    func check(_ offset: UInt64, _ length: UInt64, _ what: String) throws(HDF5Problem) {
        let (end, overflow) = offset.addingReportingOverflow(length)
        guard !overflow, end <= UInt64(size) else {
            throw .outOfBounds(what: what, offset: offset, length: length, fileSize: size)
        }
    }

    /// Reads `length` bytes at `offset` into `destination`, which must have room for them (checked by the caller);
    /// the range is checked against the file first. Loops over short reads; EINTR is retried.
    func read(into destination: UnsafeMutableRawPointer, offset: UInt64, length: Int, _ what: String)
        throws(HDF5Problem)
    {
        try check(offset, UInt64(length), what)
        var done = 0
        while done < length {
            let n = pread(fd, destination + done, length - done, off_t(offset) + off_t(done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                // The file shrank after it was opened, or an I/O error.
                throw .malformed(
                    what: what, detail: "read failed at offset \(Int(offset) + done): "
                        + (n == 0 ? "end of file" : String(cString: strerror(errno))))
            }
            done += n
        }
    }

    /// Metadata bytes read so far through `bytes(at:count:)`.
    private var metadataRead = 0

    /// `length` bytes at `offset` as an array, after checking them against the file (so never allocated from an
    /// untrusted size that the file cannot back) and against `HDF5Limits.maxMetadataBlock`. All metadata read from
    /// one file together may not exceed twice its size plus 1 MB: the parser reads each structure once (its
    /// caches), and a well-formed file's structures do not overlap, so only a crafted file whose many headers or
    /// heaps claim the same bytes reaches this, which would otherwise cost time and memory quadratic in its size.
    func bytes(at offset: UInt64, count length: UInt64, _ what: String) throws(HDF5Problem) -> [UInt8] {
        try check(offset, length, what)
        let budget = 2 * size + (1 << 20)
        guard length <= UInt64(HDF5Limits.maxMetadataBlock), metadataRead + Int(length) <= budget else {
            throw .limit(
                what: "\(what): metadata bytes read", value: UInt64(metadataRead) + length,
                limit: UInt64(min(budget, HDF5Limits.maxMetadataBlock)))
        }
        metadataRead += Int(length)
        let n = Int(length)
        var failure: HDF5Problem? = nil
        let result = [UInt8](unsafeUninitializedCapacity: n) { buffer, count in
            do throws(HDF5Problem) {
                if n > 0 { try read(into: UnsafeMutableRawPointer(buffer.baseAddress!), offset: offset, length: n, what) }
            } catch {
                failure = error
                buffer.initialize(repeating: 0)
            }
            count = n
        }
        if let failure { throw failure }
        return result
    }

    /// The bytes from `offset` to at most `offset + maxLength`, cut at the end of the file (for structures whose
    /// length is known only after parsing their start, such as a superblock or an object header prefix).
    func prefix(at offset: UInt64, maxLength: Int, _ what: String) throws(HDF5Problem) -> [UInt8] {
        guard offset < UInt64(size) else {
            throw .outOfBounds(what: what, offset: offset, length: 1, fileSize: size)
        }
        return try bytes(at: offset, count: min(UInt64(maxLength), UInt64(size) - offset), what)
    }
}

/// A little-endian reader over a metadata block; every read is bounds-checked and names the structure (`what`)
/// and the file offset of the field in its error.
struct HDF5Cursor {
    let bytes: [UInt8]
    /// The file offset of `bytes[0]`, for error messages.
    let base: UInt64
    var position = 0
    let what: String
    /// Size of offsets (addresses) and of lengths in this file (superblock; 8 for h5py and Loupe).
    let offsetSize: Int
    let lengthSize: Int

    init(_ bytes: [UInt8], base: UInt64, what: String, offsetSize: Int = 8, lengthSize: Int = 8) {
        self.bytes = bytes
        self.base = base
        self.what = what
        self.offsetSize = offsetSize
        self.lengthSize = lengthSize
    }

    var remaining: Int { bytes.count - position }

    private func need(_ n: Int) throws(HDF5Problem) {
        guard n >= 0, n <= remaining else {
            throw .outOfBounds(what: what, offset: base + UInt64(position), length: UInt64(max(n, 0)), fileSize: Int(base) + bytes.count)
        }
    }

    /// An unsigned little-endian integer of `width` bytes (1...8).
    mutating func uint(_ width: Int) throws(HDF5Problem) -> UInt64 {
        try need(width)
        var v: UInt64 = 0
        for i in 0..<width { v |= UInt64(bytes[position + i]) << (8 * UInt64(i)) }
        position += width
        return v
    }

    mutating func u8() throws(HDF5Problem) -> UInt8 { UInt8(try uint(1)) }
    mutating func u16() throws(HDF5Problem) -> Int { Int(try uint(2)) }
    mutating func u32() throws(HDF5Problem) -> UInt64 { try uint(4) }
    /// A file address; `hdf5UndefinedAddress` when all its bytes are 0xff.
    mutating func address() throws(HDF5Problem) -> UInt64 {
        let v = try uint(offsetSize)
        return offsetSize < 8 && v == (UInt64(1) << (8 * UInt64(offsetSize))) - 1 ? hdf5UndefinedAddress : v
    }
    mutating func length() throws(HDF5Problem) -> UInt64 { try uint(lengthSize) }

    mutating func skip(_ n: Int) throws(HDF5Problem) {
        try need(n)
        position += n
    }

    /// The next `n` bytes.
    mutating func take(_ n: Int) throws(HDF5Problem) -> ArraySlice<UInt8> {
        try need(n)
        defer { position += n }
        return bytes[position..<position + n]
    }

    /// Checks a 4-byte signature at the cursor.
    mutating func signature(_ expected: String) throws(HDF5Problem) {
        let at = base + UInt64(position)
        guard remaining >= 4, Array(bytes[position..<position + 4]) == Array(expected.utf8) else {
            throw .badSignature(what: what, offset: at, expected: expected)
        }
        position += 4
    }

    /// Moves to the next multiple of `alignment` relative to the block start (v1 object header messages are
    /// 8-byte aligned), staying inside the block.
    mutating func align(_ alignment: Int) {
        position = min(bytes.count, (position + alignment - 1) / alignment * alignment)
    }
}

/// A NUL-terminated string from `bytes` starting at `offset` (local heap names), at most `maxLength` bytes; nil
/// when there is no terminator in range or the bytes are not UTF-8.
func hdf5CString(_ bytes: [UInt8], at offset: Int, maxLength: Int = 65_535) -> String? {
    guard offset >= 0, offset < bytes.count else { return nil }
    let end = min(bytes.count, offset + maxLength)
    guard let nul = bytes[offset..<end].firstIndex(of: 0) else { return nil }
    return String(validating: bytes[offset..<nul], as: UTF8.self)
}
