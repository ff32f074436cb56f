// Writes a Loupe weight file (docs/weights-format.md) atomically: temp file in the same directory, fsync, rename.

import CHDF5
import Foundation
import Tensor

private let h5Default = hid_t(H5P_DEFAULT)
private let h5ErrorStack = hid_t(H5E_DEFAULT)
private let h5All = hid_t(H5S_ALL)

/// Why a weight file could not be written. `description` is one line naming the file.
public enum CheckpointWriteError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The contents are not a valid checkpoint (the loader would refuse them): nothing was written.
    case invalid(WeightError)
    /// The file system or libhdf5 failed (permissions, full disk, ...): the target file is untouched.
    case io(file: String, detail: String)

    public var description: String {
        switch self {
        case .invalid(let e): return "refusing to write an invalid checkpoint: \(e.description)"
        case .io(let file, let detail): return "\(file): cannot write: \(detail)"
        }
    }
}

extension Checkpoint {
    /// Whether `key` names a task head tensor, which never carries the base prefix (docs: "Head tensors
    /// (`classifier.*`, `cls.*`, `lm_head.*`) never have a prefix").
    static func isHeadKey(_ key: String) -> Bool {
        key.hasPrefix("classifier.") || key.hasPrefix("cls.") || key.hasPrefix("lm_head.")
    }

    /// An in-memory checkpoint (a freshly initialised or fine-tuned model), validated exactly as a loaded one:
    /// task against architecture, the expected tensor names and shapes, labels against `num_labels`, and the
    /// tokenizer against the embedding rows. `tensors` are keyed without the base prefix, as `Checkpoint.tensors`.
    /// Head models (sequence-classification, masked-lm, causal-lm) store base tensors under transformers'
    /// `base_model_prefix` ("bert." / "transformer."), as a Hugging Face head checkpoint does.
    public init(
        config: ModelConfig, task: Task, labels: [String]?, tokenizer: TokenizerSpec, tensors: [String: Tensor],
        pooling: Pooling? = nil, normalize: Bool = false, url: URL = URL(fileURLWithPath: "<in-memory checkpoint>")
    ) throws(WeightError) {
        let prefix = task == .featureExtraction ? "" : CheckpointNames.basePrefix(config.architecture)
        let found = tensors.map { (key, t) in (name: Self.isHeadKey(key) ? key : prefix + key, shape: t.shape) }
        let parts = Parts(
            url: url, source: .loupeHDF5, config: config, task: task, labels: labels, pooling: pooling,
            normalize: normalize, tokenizer: tokenizer, found: found.sorted { $0.name < $1.name }, notes: [])
        let usedPrefix = try Self.validate(parts, file: url.path, configFile: url.path)
        self.init(parts, prefix: usedPrefix, tensors: tensors)
    }

    /// The name a tensor key is stored under in a weight file: the checkpoint's prefix for base tensors.
    public func storedName(of key: String) -> String { Self.isHeadKey(key) ? key : storedPrefix + key }
}

/// Extra HDF5 objects written beside the model, in groups the loader does not read (e.g. `/optimizer`,
/// `/training`): `Checkpoint.load` ignores every group but `/weights` and `/tokenizer`.
public struct LoupeFileExtras: Sendable {
    /// Float32 datasets by absolute path ("/optimizer/exp_avg/bert.pooler.dense.bias"); groups are created.
    public var tensors: [(path: String, value: Tensor)] = []
    /// Scalar UTF-8 string attributes: on `object` (a group path, created if needed), named `name`.
    public var strings: [(object: String, name: String, value: String)] = []
    public init() {}
}

/// Writes `Checkpoint`s as Loupe weight files (version 1, or 2 with int8 block weights) that `Checkpoint.load` reads
/// back bit for bit.
public enum LoupeFileWriter {
    /// Writes `checkpoint` (with `extras`) to `url`. The file is built as a temporary file in the same
    /// directory, flushed to disk (fsync), then renamed over `url`, and the directory is fsynced: a reader, or
    /// a process killed at any moment, sees either the previous file or the complete new one. Room for the
    /// whole file is reserved (posix_fallocate) before libhdf5 writes any data, so a full disk or a file-size
    /// limit is a one-line error naming `url`, not a failed write inside libhdf5 (whose H5Fclose then leaves a
    /// half-closed file that crashes the process at exit, libhdf5 1.10). As convert.py:
    /// HDF5 format bounds (earliest, v1.10), contiguous float32 datasets, vlen UTF-8 strings, no timestamps,
    /// so the same checkpoint gives the same bytes.
    public static func write(_ checkpoint: Checkpoint, to url: URL, extras: LoupeFileExtras = .init())
        throws(CheckpointWriteError)
    {
        let target = url.standardizedFileURL
        let dir = target.deletingLastPathComponent()
        let temp = dir.appendingPathComponent(
            ".\(target.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        do throws(CheckpointWriteError) {
            try writeHDF5(checkpoint, extras: extras, path: temp.path, reserve: sizeBound(checkpoint, extras))
            try fsyncPath(temp.path, directory: false)
            if rename(temp.path, target.path) != 0 {
                throw CheckpointWriteError.io(file: target.path, detail: "rename: \(String(cString: strerror(errno)))")
            }
            try fsyncPath(dir.path, directory: true)
        } catch {
            unlink(temp.path)
            // The file the caller named, on one line (libhdf5's messages hold newlines).
            guard case .io(_, let detail) = error else { throw error }
            throw .io(file: target.path, detail: detail.split(whereSeparator: \.isNewline).joined(separator: " "))
        }
    }

    /// More than the file can take: the data, each string with the global heap's per-object overhead, and a
    /// margin for every object header and the superblock. The file is cut back to its real end afterwards.
    static func sizeBound(_ c: Checkpoint, _ extras: LoupeFileExtras) -> Int {
        var n = 1 << 20
        for (key, t) in c.tensors { n += 4 * (t.count + (c.int8Scales[key]?.count ?? 0)) + 4096 }
        for s in c.tokenizer.vocab + c.tokenizer.merges { n += s.utf8.count + 48 }
        for (_, t) in extras.tensors { n += 4 * t.count + 4096 }
        for (_, _, value) in extras.strings { n += value.utf8.count + 4096 }
        return n
    }

    /// Reserves `bytes` for the file at `path`: nil, or why there is no room (ENOSPC, EFBIG, EDQUOT).
    private static func reserve(_ bytes: Int, at path: String) -> String? {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        if fd < 0 { return "open: \(String(cString: strerror(errno)))" }
        defer { close(fd) }
        let code = posix_fallocate(fd, 0, off_t(bytes))
        return code == 0 ? nil : "no room for \(bytes) bytes: \(String(cString: strerror(code)))"
    }

    /// Marks libhdf5's descriptor of the file close-on-exec (libhdf5 opens without O_CLOEXEC), so a process
    /// started meanwhile does not keep the file, and libhdf5's lock on it, open after the write.
    private static func closeOnExec(_ fid: hid_t) {
        var handle: UnsafeMutableRawPointer?
        guard H5Fget_vfd_handle(fid, h5Default, &handle) >= 0, let fd = handle?.load(as: Int32.self) else { return }
        _ = fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC)
    }

    /// Cuts the file back from its reservation to the end of what libhdf5 allocated (the superblock's EOF
    /// address), so the bytes are those an unreserved write gives.
    private static func trimToEndOfAllocation(_ path: String) throws(CheckpointWriteError) {
        // Without libhdf5's flock: a child process forked while the file was being written may still hold the
        // writer's descriptor, and its lock, though nothing writes the file any more.
        let fapl = H5Pcreate(loupe_H5P_FILE_ACCESS())
        defer { H5Pclose(fapl) }
        H5Pset_file_locking(fapl, false, true)
        let fid = H5Fopen(path, loupe_H5F_ACC_RDONLY(), fapl)
        if fid < 0 { throw .io(file: path, detail: "reopening: \(hdf5ErrorDetail())") }
        var eoa: haddr_t = 0
        let status = H5Fget_eoa(fid, &eoa)
        H5Fclose(fid)
        if status < 0 { throw .io(file: path, detail: "reading the end of allocation: \(hdf5ErrorDetail())") }
        if truncate(path, off_t(eoa)) != 0 { throw .io(file: path, detail: "truncate: \(String(cString: strerror(errno)))") }
    }

    private static func fsyncPath(_ path: String, directory: Bool) throws(CheckpointWriteError) {
        let fd = open(path, directory ? O_RDONLY | O_DIRECTORY : O_RDONLY)
        if fd < 0 { throw .io(file: path, detail: "open for fsync: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        if fsync(fd) != 0 { throw .io(file: path, detail: "fsync: \(String(cString: strerror(errno)))") }
    }

    private static func writeHDF5(
        _ c: Checkpoint, extras: LoupeFileExtras, path: String, reserve bytes: Int
    ) throws(CheckpointWriteError) {
        H5Eset_auto2(h5ErrorStack, nil, nil)
        let fapl = H5Pcreate(loupe_H5P_FILE_ACCESS())
        defer { H5Pclose(fapl) }
        H5Pset_libver_bounds(fapl, H5F_LIBVER_EARLIEST, H5F_LIBVER_V110)
        let fid = H5Fcreate(path, loupe_H5F_ACC_TRUNC(), h5Default, fapl)
        if fid < 0 { throw .io(file: path, detail: hdf5ErrorDetail()) }
        closeOnExec(fid)
        if let noRoom = reserve(bytes, at: path) {
            H5Fclose(fid)  // nothing but the superblock and root group to write, within the first kilobytes
            throw .io(file: path, detail: noRoom)
        }
        let w = Writer(fid: fid, path: path)
        do throws(CheckpointWriteError) {
            try w.rootAttributes(c)
            try w.group("/weights")
            if !c.int8Scales.isEmpty { try w.group("/weight_scales") }
            for key in c.tensors.keys.sorted() {
                let name = c.storedName(of: key)
                if let scales = c.int8Scales[key] {  // version 2: int8 values, their scales under /weight_scales
                    try w.int8Tensor("/weights/" + name, c.int8Values(key), shape: c.tensors[key]!.shape)
                    try w.tensor("/weight_scales/" + name, scales)
                } else {
                    try w.tensor("/weights/" + name, c.tensors[key]!)
                }
            }
            try w.tokenizer(c.tokenizer)
            for (object, name, value) in extras.strings {
                try w.ensureGroup(object)
                try w.stringAttribute(name, value, on: object)
            }
            for (p, t) in extras.tensors { try w.tensor(p, t) }
        } catch {
            H5Fclose(fid)
            throw error
        }
        if H5Fclose(fid) < 0 { throw .io(file: path, detail: hdf5ErrorDetail()) }
        try trimToEndOfAllocation(path)
    }
}

/// The write half of the libhdf5 wrapper; every id opened by a method is closed before it returns.
private struct Writer {
    let fid: hid_t
    let path: String

    func fail(_ what: String) -> CheckpointWriteError { .io(file: path, detail: "\(what): \(hdf5ErrorDetail())") }

    func rootAttributes(_ c: Checkpoint) throws(CheckpointWriteError) {
        let configJSON: Data
        do {
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys]
            switch c.config {
            case .bert(let b): configJSON = try enc.encode(b)
            case .gpt2(let g): configJSON = try enc.encode(g)
            }
        } catch {
            throw .io(file: path, detail: "encoding the config: \(error)")
        }
        try stringAttribute("format", "loupe", on: "/")
        // Version 2 only when int8 tensors are stored, so float files stay readable by version 1 readers.
        try int64Attribute("version", c.int8Scales.isEmpty ? 1 : 2, on: "/")
        try stringAttribute("architecture", c.architecture.rawValue, on: "/")
        try stringAttribute("config", String(decoding: configJSON, as: UTF8.self), on: "/")
        try stringAttribute("task", c.task.rawValue, on: "/")
        if c.task == .sequenceClassification, let labels = c.labels {
            let enc = JSONEncoder()
            enc.outputFormatting = [.withoutEscapingSlashes]  // convert.py's json.dumps leaves '/' alone too
            let json: Data
            do { json = try enc.encode(labels) } catch {
                throw .io(file: path, detail: "encoding the labels: \(error)")
            }
            try stringAttribute("labels", String(decoding: json, as: UTF8.self), on: "/")
        }
        if let pooling = c.pooling {
            try stringAttribute("pooling", pooling.rawValue, on: "/")
            try stringAttribute("normalize", c.normalize ? "l2" : "none", on: "/")
        }
    }

    /// The `/tokenizer` group exactly as docs/weights-format.md lists it for the tokenizer's type.
    func tokenizer(_ t: TokenizerSpec) throws(CheckpointWriteError) {
        let g = "/tokenizer"
        try group(g)
        try stringAttribute("type", t.type.rawValue, on: g)
        switch t.type {
        case .wordpiece:
            try int8Attribute("do_lower_case", t.doLowerCase ? 1 : 0, on: g)
            try stringAttribute("strip_accents", t.stripAccents.map { $0 ? "true" : "false" } ?? "none", on: g)
            try int8Attribute("tokenize_chinese_chars", t.tokenizeChineseChars ? 1 : 0, on: g)
            try stringAttribute("unk_token", t.unkToken, on: g)
            try stringAttribute("cls_token", t.clsToken ?? "[CLS]", on: g)
            try stringAttribute("sep_token", t.sepToken ?? "[SEP]", on: g)
            try stringAttribute("pad_token", t.padToken ?? "[PAD]", on: g)
            try stringAttribute("mask_token", t.maskToken ?? "[MASK]", on: g)
        case .bpe:
            try stringAttribute("unk_token", t.unkToken, on: g)
            try stringAttribute("bos_token", t.bosToken ?? "<|endoftext|>", on: g)
            try stringAttribute("eos_token", t.eosToken ?? "<|endoftext|>", on: g)
            try int8Attribute("add_prefix_space", t.addPrefixSpace ? 1 : 0, on: g)
            try strings(g + "/merges", t.merges)
        }
        try int64Attribute("model_max_length", Int64(t.modelMaxLength), on: g)
        if let n = t.maxSeqLength { try int64Attribute("max_seq_length", Int64(n), on: g) }
        try strings(g + "/vocab", t.vocab)
    }

    // MARK: Groups

    /// A group with no creation-time tracking (deterministic bytes).
    func group(_ p: String) throws(CheckpointWriteError) {
        let gcpl = H5Pcreate(loupe_H5P_GROUP_CREATE())
        defer { H5Pclose(gcpl) }
        H5Pset_obj_track_times(gcpl, false)
        let gid = H5Gcreate2(fid, p, h5Default, gcpl, h5Default)
        if gid < 0 { throw fail("group \(p)") }
        H5Gclose(gid)
    }

    /// Creates `p` and its missing parents ("/" always exists).
    func ensureGroup(_ p: String) throws(CheckpointWriteError) {
        var prefix = ""
        for part in p.split(separator: "/") {
            prefix += "/" + part
            if H5Lexists(fid, prefix, h5Default) <= 0 { try group(prefix) }
        }
    }

    // MARK: Attributes

    private func attribute(
        _ name: String, on object: String, type: hid_t, _ write: (hid_t) -> herr_t
    ) throws(CheckpointWriteError) {
        let space = H5Screate(H5S_SCALAR)
        defer { H5Sclose(space) }
        let aid = H5Acreate_by_name(fid, object, name, type, space, h5Default, h5Default, h5Default)
        if aid < 0 { throw fail("attribute \(object) \(name)") }
        defer { H5Aclose(aid) }
        if write(aid) < 0 { throw fail("attribute \(object) \(name)") }
    }

    func stringAttribute(_ name: String, _ value: String, on object: String) throws(CheckpointWriteError) {
        let type = vlenUTF8()
        defer { H5Tclose(type) }
        try Array(value.utf8CString).withUnsafeBufferPointer { (cstr) throws(CheckpointWriteError) in
            var pointer: UnsafePointer<CChar>? = cstr.baseAddress
            try attribute(name, on: object, type: type) { aid in H5Awrite(aid, type, &pointer) }
        }
    }

    func int64Attribute(_ name: String, _ value: Int64, on object: String) throws(CheckpointWriteError) {
        var v = value
        try attribute(name, on: object, type: loupe_H5T_STD_I64LE()) { aid in
            H5Awrite(aid, loupe_H5T_NATIVE_INT64(), &v)
        }
    }

    func int8Attribute(_ name: String, _ value: Int8, on object: String) throws(CheckpointWriteError) {
        var v = value
        try attribute(name, on: object, type: loupe_H5T_STD_I8LE()) { aid in H5Awrite(aid, loupe_H5T_NATIVE_INT8(), &v)
        }
    }

    // MARK: Datasets

    private func dataset(
        _ p: String, type: hid_t, shape: [Int], _ write: (hid_t) -> herr_t
    ) throws(CheckpointWriteError) {
        let dims = shape.map { hsize_t($0) }
        let space = shape.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(dims.count), dims, nil)
        defer { H5Sclose(space) }
        let lcpl = H5Pcreate(loupe_H5P_LINK_CREATE())
        defer { H5Pclose(lcpl) }
        H5Pset_create_intermediate_group(lcpl, 1)
        let dcpl = H5Pcreate(loupe_H5P_DATASET_CREATE())
        defer { H5Pclose(dcpl) }
        H5Pset_obj_track_times(dcpl, false)
        let did = H5Dcreate2(fid, p, type, space, lcpl, dcpl, h5Default)
        if did < 0 { throw fail("dataset \(p)") }
        defer { H5Dclose(did) }
        if shapeCount(shape) > 0 && write(did) < 0 { throw fail("writing \(p)") }
    }

    /// A contiguous little-endian float32 dataset with the tensor's shape.
    func tensor(_ p: String, _ t: Tensor) throws(CheckpointWriteError) {
        try dataset(p, type: loupe_H5T_IEEE_F32LE(), shape: t.shape) { did in
            t.withUnsafeBufferPointer {
                H5Dwrite(did, loupe_H5T_NATIVE_FLOAT(), h5All, h5All, h5Default, $0.baseAddress)
            }
        }
    }

    /// A contiguous int8 dataset of `shape`.
    func int8Tensor(_ p: String, _ values: [Int8], shape: [Int]) throws(CheckpointWriteError) {
        try dataset(p, type: loupe_H5T_STD_I8LE(), shape: shape) { did in
            values.withUnsafeBufferPointer { H5Dwrite(did, loupe_H5T_NATIVE_INT8(), h5All, h5All, h5Default, $0.baseAddress) }
        }
    }

    /// A 1-D dataset of variable-length UTF-8 strings (the tokenizer's `vocab` and `merges`).
    func strings(_ p: String, _ values: [String]) throws(CheckpointWriteError) {
        let type = vlenUTF8()
        defer { H5Tclose(type) }
        // One NUL-separated buffer and a pointer per string into it.
        var bytes: [CChar] = []
        var starts: [Int] = []
        for s in values {
            starts.append(bytes.count)
            bytes.append(contentsOf: s.utf8.map { CChar(bitPattern: $0) })
            bytes.append(0)
        }
        try bytes.withUnsafeBufferPointer { (buf) throws(CheckpointWriteError) in
            var pointers = starts.map { Optional(buf.baseAddress! + $0) }
            try dataset(p, type: type, shape: [values.count]) { did in
                H5Dwrite(did, type, h5All, h5All, h5Default, &pointers)
            }
        }
    }

    /// Variable-length, NUL-terminated UTF-8 strings (docs/weights-format.md, "Types at a glance").
    private func vlenUTF8() -> hid_t {
        let t = H5Tcopy(loupe_H5T_C_S1())
        H5Tset_size(t, loupe_H5T_VARIABLE())
        H5Tset_cset(t, H5T_CSET_UTF8)
        H5Tset_strpad(t, H5T_STR_NULLTERM)
        return t
    }
}
