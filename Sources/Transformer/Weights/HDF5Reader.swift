// Public read-only access to arbitrary HDF5 files: golden outputs, attribution dumps, user data.
import Foundation
import Tensor

/// Reads named datasets and attributes of any HDF5 file within the subset Loupe's parser supports (the Loupe
/// weight format has its own loader, `Checkpoint.load`). Errors name the file and the dataset. Not thread-safe.
public final class HDF5Reader {
    private let file: HDF5File

    public init(_ url: URL) throws(WeightError) {
        guard FileManager.default.fileExists(atPath: url.path) else { throw .fileNotFound(file: url.path) }
        file = try HDF5File.open(url.path)
    }

    /// A float dataset as a Float32 tensor.
    public func tensor(_ path: String) throws(WeightError) -> Tensor {
        try file.readFloatTensor(path, key: path)
    }

    /// An integer dataset, row-major, with its shape.
    public func integers(_ path: String) throws(WeightError) -> (shape: [Int], values: [Int]) {
        try file.readIntegers(path)
    }

    /// A 1-D dataset of variable-length UTF-8 strings.
    public func strings(_ path: String) throws(WeightError) -> [String] { try file.readStrings(path) }

    /// A signed 8-bit integer dataset, row-major.
    public func int8(_ path: String) throws(WeightError) -> [Int8] { try file.readInt8(path, key: path) }

    /// A string attribute of the root group or of `object`.
    public func stringAttribute(_ name: String, of object: String = "/") throws(WeightError) -> String? {
        try file.stringAttribute(name, of: object)
    }

    /// A scalar integer attribute of the root group or of `object`, as Int64.
    public func int64Attribute(_ name: String, of object: String = "/") throws(WeightError) -> Int64? {
        try file.int64Attribute(name, of: object)
    }

    /// The attribute names of `object`, in the order its header stores them.
    public func attributeNames(of object: String = "/") throws(WeightError) -> [String] {
        try file.attributeNames(of: object)
    }

    /// The member names of a group, in byte order.
    public func memberNames(ofGroup group: String) throws(WeightError) -> [String] {
        try file.memberNames(ofGroup: group)
    }

    /// Shape and element type name ("float32", "int64", "string", ...) of a dataset.
    public func datasetInfo(_ path: String) throws(WeightError) -> (shape: [Int], dtype: String) {
        let info = try file.datasetInfo(path)
        return (info.shape, HDF5File.describe(info))
    }

    /// Whether a dataset exists at `path`.
    public func hasDataset(_ path: String) -> Bool { (try? file.isDataset(path)) ?? false }

    /// Whether a group exists at `path`.
    public func hasGroup(_ path: String) -> Bool { (try? file.isGroup(path)) ?? false }
}
