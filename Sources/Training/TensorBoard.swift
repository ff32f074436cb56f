// TensorBoard event files: scalar summaries as protobuf (libprotobuf-c) in TFRecord framing with masked CRC-32C.
//
// TFRecord framing (tensorflow/core/lib/io/record_writer.cc, tensorboard/summary/writer/record_writer.py):
//   uint64 length (little-endian) | uint32 masked_crc32c(length bytes) | data | uint32 masked_crc32c(data)
// masked_crc(x) = ((crc >> 15) | (crc << 17)) + 0xa282ead8 (tensorflow/core/lib/hash/crc32c.h `Mask`).
// The first record of a file is an Event with file_version "brain.Event:2" (EventFileWriter); file names
// contain "tfevents" so `tensorboard --logdir` finds them.
import CTensorBoard
import Foundation

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven, and TFRecord's masking of it.
public enum CRC32C {
    private static let table: [UInt32] = (0..<256).map { i in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    /// TFRecord's masked CRC: a CRC stored next to data that itself holds CRCs stays distinguishable.
    public static func masked(_ bytes: some Sequence<UInt8>) -> UInt32 {
        let c = checksum(bytes)
        return ((c >> 15) | (c << 17)) &+ 0xA282_EAD8
    }
}

/// One TensorBoard event, the fields Loupe writes and reads back.
public struct TensorBoardEvent: Sendable, Equatable {
    public var wallTime: Double
    public var step: Int64
    public var fileVersion: String?
    /// Scalar summary values (tag, simple_value).
    public var scalars: [(tag: String, value: Float)]
    /// A SessionLog START: TensorBoard drops earlier-written points at steps ≥ `step` (used after a resume).
    public var sessionStart: Bool

    public init(
        wallTime: Double, step: Int64, fileVersion: String? = nil, scalars: [(tag: String, value: Float)] = [],
        sessionStart: Bool = false
    ) {
        self.wallTime = wallTime
        self.step = step
        self.fileVersion = fileVersion
        self.scalars = scalars
        self.sessionStart = sessionStart
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.wallTime == b.wallTime && a.step == b.step && a.fileVersion == b.fileVersion
            && a.sessionStart == b.sessionStart
            && a.scalars.map(\.tag) == b.scalars.map(\.tag) && a.scalars.map(\.value) == b.scalars.map(\.value)
    }

    /// The serialized `tensorboard.Event` message (through the protoc-c generated code).
    public func encoded() -> [UInt8] {
        var event = Tensorboard__Event()
        tensorboard__event__init(&event)
        event.wall_time = wallTime
        event.step = step
        // Every C string and sub-message lives until `pack` returns; nothing is heap-allocated by protobuf-c.
        return withCStrings(scalars.map(\.tag) + [fileVersion ?? ""]) { cstrings in
            var values = scalars.indices.map { i -> Tensorboard__Summary__Value in
                var v = Tensorboard__Summary__Value()
                tensorboard__summary__value__init(&v)
                v.tag = cstrings[i]
                v.value_case = TENSORBOARD__SUMMARY__VALUE__VALUE_SIMPLE_VALUE
                v.simple_value = scalars[i].value
                return v
            }
            var summary = Tensorboard__Summary()
            tensorboard__summary__init(&summary)
            var log = Tensorboard__SessionLog()
            tensorboard__session_log__init(&log)
            return values.withUnsafeMutableBufferPointer { vb in
                var pointers: [UnsafeMutablePointer<Tensorboard__Summary__Value>?] = (0..<vb.count).map {
                    vb.baseAddress! + $0
                }
                return pointers.withUnsafeMutableBufferPointer { pb in
                    withUnsafeMutablePointer(to: &summary) { sp in
                        withUnsafeMutablePointer(to: &log) { lp in
                            if let _ = fileVersion {
                                event.what_case = TENSORBOARD__EVENT__WHAT_FILE_VERSION
                                event.file_version = cstrings[scalars.count]
                            } else if sessionStart {
                                lp.pointee.status = TENSORBOARD__SESSION_LOG__SESSION_STATUS__START
                                event.what_case = TENSORBOARD__EVENT__WHAT_SESSION_LOG
                                event.session_log = lp
                            } else {
                                sp.pointee.n_value = pb.count
                                sp.pointee.value = pb.baseAddress
                                event.what_case = TENSORBOARD__EVENT__WHAT_SUMMARY
                                event.summary = sp
                            }
                            var out = [UInt8](repeating: 0, count: tensorboard__event__get_packed_size(&event))
                            let n = out.withUnsafeMutableBufferPointer {
                                tensorboard__event__pack(&event, $0.baseAddress)
                            }
                            return Array(out.prefix(n))
                        }
                    }
                }
            }
        }
    }

    /// Parses a serialized `tensorboard.Event`; nil when protobuf-c rejects the bytes.
    public static func decode(_ bytes: [UInt8]) -> TensorBoardEvent? {
        guard let e = bytes.withUnsafeBufferPointer({ tensorboard__event__unpack(nil, $0.count, $0.baseAddress) })
        else {
            return nil
        }
        defer { tensorboard__event__free_unpacked(e, nil) }
        var out = TensorBoardEvent(wallTime: e.pointee.wall_time, step: e.pointee.step)
        switch e.pointee.what_case {
        case TENSORBOARD__EVENT__WHAT_FILE_VERSION:
            out.fileVersion = String(cString: e.pointee.file_version)
        case TENSORBOARD__EVENT__WHAT_SESSION_LOG:
            out.sessionStart = e.pointee.session_log.pointee.status == TENSORBOARD__SESSION_LOG__SESSION_STATUS__START
        case TENSORBOARD__EVENT__WHAT_SUMMARY:
            let s = e.pointee.summary.pointee
            for i in 0..<s.n_value {
                guard let v = s.value[i]?.pointee, v.value_case == TENSORBOARD__SUMMARY__VALUE__VALUE_SIMPLE_VALUE
                else { continue }
                out.scalars.append((String(cString: v.tag), v.simple_value))
            }
        default: break
        }
        return out
    }
}

/// Calls `body` with NUL-terminated copies of `strings` that stay valid for the call.
private func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>]) -> R) -> R {
    let copies = strings.map { strdup($0)! }
    defer { copies.forEach { free($0) } }
    return body(copies)
}

/// TFRecord framing and parsing.
public enum TFRecord {
    /// Why a record file could not be parsed.
    public struct FormatError: Error, CustomStringConvertible, Equatable {
        public let offset: Int
        public let detail: String
        public var description: String { "TFRecord at byte \(offset): \(detail)" }
    }

    public static func frame(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(data.count + 16)
        let length = withUnsafeBytes(of: UInt64(data.count).littleEndian, Array.init)
        out += length
        out += withUnsafeBytes(of: CRC32C.masked(length).littleEndian, Array.init)
        out += data
        out += withUnsafeBytes(of: CRC32C.masked(data).littleEndian, Array.init)
        return out
    }

    /// Splits a file's bytes into records, checking both CRCs of every record; a cut-short record is an error.
    public static func records(_ bytes: [UInt8]) throws(FormatError) -> [[UInt8]] {
        func u32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * $1) } }
        var records: [[UInt8]] = []
        var i = 0
        while i < bytes.count {
            guard bytes.count - i >= 12 else { throw FormatError(offset: i, detail: "truncated header") }
            let lengthBytes = Array(bytes[i..<i + 8])
            let length = (0..<8).reduce(UInt64(0)) { $0 | UInt64(lengthBytes[$1]) << (8 * $1) }
            guard u32(i + 8) == CRC32C.masked(lengthBytes) else {
                throw FormatError(offset: i, detail: "length CRC mismatch")
            }
            guard length <= UInt64(bytes.count - i - 16) else {
                throw FormatError(offset: i, detail: "truncated record of \(length) bytes")
            }
            let data = Array(bytes[(i + 12)..<(i + 12 + Int(length))])
            guard u32(i + 12 + Int(length)) == CRC32C.masked(data) else {
                throw FormatError(offset: i, detail: "data CRC mismatch")
            }
            records.append(data)
            i += 16 + Int(length)
        }
        return records
    }
}

/// Appends events to one `events.out.tfevents.<time>.<host>.<pid>.loupe` file in a run directory. Each event
/// is written with one `write` call as soon as it is logged, so TensorBoard sees it while training runs.
public final class TensorBoardWriter {
    public let url: URL
    private let handle: FileHandle

    /// Creates a new event file in `directory` and writes the file_version record; with `purgeFrom`, also a
    /// SessionLog START at that step, which makes TensorBoard drop points an interrupted run wrote at
    /// steps ≥ `purgeFrom` (tensorboard event_accumulator `_CheckForRestartAndMaybePurge`).
    public init(directory: URL, purgeFrom: Int? = nil) throws(TrainingError) {
        let now = Date().timeIntervalSince1970
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count - 1)
        let hostname = host.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        var name = "events.out.tfevents.\(String(format: "%010d", Int(now))).\(hostname).\(getpid()).loupe"
        var n = 1
        while FileManager.default.fileExists(atPath: directory.appendingPathComponent(name).path) {
            n += 1
            name = "events.out.tfevents.\(String(format: "%010d", Int(now))).\(hostname).\(getpid()).\(n).loupe"
        }
        url = directory.appendingPathComponent(name)
        guard FileManager.default.createFile(atPath: url.path, contents: nil),
            let h = try? FileHandle(forWritingTo: url)
        else { throw .write("\(url.path): cannot create the TensorBoard event file") }
        handle = h
        try write(TensorBoardEvent(wallTime: now, step: 0, fileVersion: "brain.Event:2"))
        if let purgeFrom { try write(TensorBoardEvent(wallTime: now, step: Int64(purgeFrom), sessionStart: true)) }
    }

    deinit { try? handle.close() }

    public func write(_ event: TensorBoardEvent) throws(TrainingError) {
        do { try handle.write(contentsOf: TFRecord.frame(event.encoded())) } catch {
            throw .write("\(url.path): \(error.localizedDescription)")
        }
    }

    /// Scalar summaries at `step`, stamped with the current time.
    public func scalars(_ values: [(tag: String, value: Float)], step: Int) throws(TrainingError) {
        try write(TensorBoardEvent(wallTime: Date().timeIntervalSince1970, step: Int64(step), scalars: values))
    }

    /// Cuts an event file back to its last complete record (a record is written with one write(2), which a kill
    /// or a full disk can still leave unfinished); returns the number of bytes dropped. Only the framing (lengths
    /// and their CRCs) is read: a damaged record inside the file is left for `read` to report.
    public static func dropPartialLastRecord(_ url: URL) throws(TrainingError) -> Int {
        guard let data = FileManager.default.contents(atPath: url.path) else { return 0 }
        let bytes = [UInt8](data)
        var end = 0
        while bytes.count - end >= 16 {
            let lengthBytes = Array(bytes[end..<end + 8])
            let stored = (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[end + 8 + $1]) << (8 * $1) }
            guard stored == CRC32C.masked(lengthBytes) else { return 0 }  // damage, not an unfinished write
            let length = (0..<8).reduce(UInt64(0)) { $0 | UInt64(lengthBytes[$1]) << (8 * $1) }
            guard length <= UInt64(bytes.count - end - 16) else { break }
            end += 16 + Int(length)
        }
        guard end < bytes.count else { return 0 }
        if truncate(url.path, off_t(end)) != 0 {
            throw .write("\(url.path): cannot truncate: \(String(cString: strerror(errno)))")
        }
        return bytes.count - end
    }

    /// Reads an event file back: every record's CRCs checked, every record parsed as an Event.
    public static func read(_ url: URL) throws(TrainingError) -> [TensorBoardEvent] {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw .unreadable(path: url.path, detail: "cannot read the event file")
        }
        let records: [[UInt8]]
        do { records = try TFRecord.records([UInt8](data)) } catch {
            throw .unreadable(path: url.path, detail: FieldText(error.description))
        }
        return try records.enumerated().map { (i, r) throws(TrainingError) in
            guard let e = TensorBoardEvent.decode(r) else {
                throw .unreadable(path: url.path, detail: "record \(i) is not a tensorboard.Event")
            }
            return e
        }
    }
}
