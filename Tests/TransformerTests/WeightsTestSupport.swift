// Shared helpers of the weight-loading tests: fixture paths, FNV-1a digests, digest files, temporary HF directories.

import Foundation
import Tensor
import Testing
import Transformer

/// Tests/Fixtures, found from this file's path (symlinks resolved, so a scratch package linking Tests/ works).
let fixturesDirectory: URL = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

func fixture(_ name: String) -> URL { fixturesDirectory.appendingPathComponent(name) }

/// FNV-1a 64 of bytes (docs/weights-format.md, "Digests").
func fnv1a64(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    return h
}

/// The digest of a tensor: FNV-1a 64 of its Float32 little-endian bytes, 16 lowercase hex digits.
func digest(_ t: Tensor) -> String {
    let h = t.withUnsafeBufferPointer { fnv1a64(UnsafeRawBufferPointer($0)) }
    let hex = String(h, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}

struct TensorDigest: Decodable {
    let shape: [Int]
    let fnv1a64: String
}

struct FixtureDigests: Decodable {
    let architecture: String
    let task: String
    let storage_dtype: String
    let vocab_size: Int
    let tensor_count: Int
    let tensors: [String: TensorDigest]
}

struct StateDigests: Decodable {
    let fixtures: [String: FixtureDigests]
}

struct MiniLMDigests: Decodable {
    struct Expected: Decodable {
        let architecture: String
        let task: String
        let pooling: String
        let normalize: String
        let vocab_size: Int
        let tokenizer: [String: Value]
    }
    enum Value: Decodable, Equatable {
        case int(Int), string(String)
        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let i = try? c.decode(Int.self) { self = .int(i) } else { self = .string(try c.decode(String.self)) }
        }
    }
    let tensor_count: Int
    let tensors: [String: TensorDigest]
    let expected_file: Expected
}

func decodeJSON<T: Decodable>(_ type: T.Type, _ url: URL) throws -> T {
    try JSONDecoder().decode(type, from: Data(contentsOf: url))
}

/// Checks every stored tensor of `digests` against the checkpoint: same count, each name found under its
/// normalised key (the digest file's own base prefix removed), same shape, same FNV-1a 64 of the Float32 bytes.
func expectDigests(
    _ cp: Checkpoint, _ digests: [String: TensorDigest], count: Int, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(cp.tensors.count == count, sourceLocation: sourceLocation)
    let prefix = CheckpointNames.prefixInUse(digests.keys, architecture: cp.architecture)
    var mismatches: [String] = []
    for (name, d) in digests.sorted(by: { $0.key < $1.key }) {
        let key = CheckpointNames.key(of: name, prefix: prefix)
        guard let t = cp.tensors[key] else {
            mismatches.append("\(name): not loaded (key \(key))")
            continue
        }
        if t.shape != d.shape { mismatches.append("\(name): shape \(t.shape), expected \(d.shape)") }
        let got = digest(t)
        if got != d.fnv1a64 { mismatches.append("\(name): fnv1a64 \(got), expected \(d.fnv1a64)") }
    }
    #expect(mismatches.isEmpty, "\(mismatches.prefix(5))", sourceLocation: sourceLocation)
}

/// The error `body` throws (a `WeightError`), or nil if it does not throw.
func weightError(_ body: () throws(WeightError) -> Checkpoint) -> WeightError? {
    do {
        _ = try body()
        return nil
    } catch {
        return error
    }
}

/// A fresh temporary directory, removed by the caller with `removeTemporary`.
func makeTemporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-weights-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

func removeTemporary(_ url: URL) { try? FileManager.default.removeItem(at: url) }

/// A copy of bert_micro_hf/ in a temporary directory, for mutation.
func copyOfMicroHF() throws -> URL {
    let dir = try makeTemporaryDirectory()
    let src = fixture("bert_micro_hf")
    for name in try FileManager.default.contentsOfDirectory(atPath: src.path) {
        try FileManager.default.copyItem(at: src.appendingPathComponent(name), to: dir.appendingPathComponent(name))
    }
    return dir
}

/// One tensor to write into a safetensors file.
struct RawTensor {
    var name: String
    var dtype: String
    var shape: [Int]
    var bytes: [UInt8]

    static func f32(_ name: String, _ t: Tensor) -> RawTensor {
        RawTensor(
            name: name, dtype: "F32", shape: t.shape,
            bytes: t.withUnsafeBufferPointer { Array(UnsafeRawBufferPointer($0)) })
    }
    static func f16(_ name: String, _ t: Tensor) -> RawTensor {
        let bits = t.scalars.map { Float16($0).bitPattern }
        return RawTensor(name: name, dtype: "F16", shape: t.shape, bytes: bits.withUnsafeBytes { Array($0) })
    }
    static func bf16(_ name: String, _ t: Tensor) -> RawTensor {
        let bits = t.scalars.map { UInt16($0.bitPattern >> 16) }  // truncation: exact for values that fit
        return RawTensor(name: name, dtype: "BF16", shape: t.shape, bytes: bits.withUnsafeBytes { Array($0) })
    }
}

/// safetensors bytes: 8-byte little-endian header length, JSON header, tensors packed in the given order.
/// `header` can rewrite the header dictionary before it is serialised (to build broken files).
func safetensorsBytes(_ tensors: [RawTensor], header edit: (inout [String: Any]) -> Void = { _ in }) throws -> [UInt8] {
    var header: [String: Any] = ["__metadata__": ["format": "pt"]]
    var offset = 0
    for t in tensors {
        header[t.name] = ["dtype": t.dtype, "shape": t.shape, "data_offsets": [offset, offset + t.bytes.count]]
        offset += t.bytes.count
    }
    edit(&header)
    let json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
    var out = withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) }
    out += json
    for t in tensors { out += t.bytes }
    return out
}

/// The tensors of bert_micro under their stored (prefixed) names, in sorted order.
func microTensorsByStoredName() throws -> [(String, Tensor)] {
    let cp = try Checkpoint.load(fixture("bert_micro.h5"))
    return cp.tensors.map { (key, t) in
        (key.hasPrefix("classifier.") ? key : cp.storedPrefix + key, t)
    }.sorted { $0.0 < $1.0 }
}

func write(_ bytes: [UInt8], to url: URL) throws { try Data(bytes).write(to: url) }

/// Rewrites a JSON object file in place.
func editJSON(_ url: URL, _ edit: (inout [String: Any]) -> Void) throws {
    var object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    edit(&object)
    try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]).write(to: url)
}
