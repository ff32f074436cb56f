// Public read-only access to arbitrary HDF5 files: golden outputs, attribution dumps, user data.
import Foundation
import Tensor

/// Reads named datasets and attributes of any HDF5 file (the Loupe weight format has its own
/// loader, `Checkpoint.load`). Errors name the file and the dataset.
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

    /// A string attribute of the root group or of `object`.
    public func stringAttribute(_ name: String, of object: String = "/") throws(WeightError) -> String? {
        try file.stringAttribute(name, of: object)
    }

    /// Whether a dataset exists at `path`.
    public func hasDataset(_ path: String) -> Bool { file.isDataset(path) }
}
