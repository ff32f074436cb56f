// The typed errors of weight loading: each names the file, and the tensor key (and shapes) where one is involved.

/// Why a checkpoint could not be loaded. `description` is one line that starts with the file's path.
public enum WeightError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Nothing exists at the path.
    case fileNotFound(file: String)
    /// The file exists but cannot be opened or mapped (permissions, I/O error).
    case unreadable(file: String, detail: String)
    /// No HDF5 signature: not an HDF5 file at all.
    case notHDF5(file: String)
    /// HDF5 signature present but the file cannot be read through (cut short, damaged).
    case truncated(file: String, detail: String)
    /// Root attribute `format` is not "loupe" (`found` is nil when the attribute is absent).
    case notLoupe(file: String, found: String?)
    /// Root attribute `version` is not 1 or 2.
    case unsupportedVersion(file: String, found: Int64)
    /// A required HDF5 attribute is absent (`name` is "version" for the root, "tokenizer/type" for a group's).
    case missingAttribute(file: String, name: String)
    /// An attribute or string dataset has the wrong type or a value outside its allowed set.
    case badAttribute(file: String, name: String, detail: String)
    /// A required HDF5 group or dataset (e.g. "/weights", "/tokenizer/vocab") is absent or of the wrong kind.
    case missingObject(file: String, path: String)
    /// A tensor the model needs is not in the checkpoint (`key` as the checkpoint names it).
    case missingTensor(file: String, key: String)
    /// The checkpoint holds a tensor that belongs to no supported model layout.
    case unexpectedTensor(file: String, key: String)
    /// Two checkpoint names that mean the same tensor (e.g. `LayerNorm.gamma` and `LayerNorm.weight`).
    case duplicateTensor(file: String, key: String, other: String)
    /// A tensor has another shape than the config implies.
    case shapeMismatch(file: String, key: String, expected: [Int], found: [Int])
    /// A tensor is stored in a type Loupe does not read (only float32, float16, bfloat16).
    case unsupportedDType(file: String, key: String, dtype: String)
    /// An int8 tensor (format version 2) that is not a transformer-block weight, or whose `/weight_scales` entry is
    /// missing, misshapen, or not finite and positive; or a weight that cannot be stored as int8 (a NaN, an infinity).
    case badInt8Tensor(file: String, key: String, detail: String)
    /// The tokenizer has more tokens than the word-embedding table has rows.
    case vocabMismatch(file: String, key: String, tokens: Int, embeddingRows: Int)
    /// config.json (or the stored config) is not valid JSON, has a wrongly typed key, or describes no runnable model.
    case badConfig(file: String, detail: String)
    /// config `model_type` is not one Loupe runs.
    case unsupportedArchitecture(file: String, found: String)
    /// The tokenizer files are missing or inconsistent.
    case badTokenizer(file: String, detail: String)
    /// A safetensors file is malformed (`key`: the tensor concerned, if any).
    case safetensors(file: String, key: String?, detail: String)
    /// A file or directory Loupe does not read directly (a PyTorch pickle, a directory with no config.json, ...).
    case unsupportedFile(file: String, detail: String)

    /// The path of the file the error is about.
    public var file: String {
        switch self {
        case .fileNotFound(let f), .unreadable(let f, _), .notHDF5(let f), .truncated(let f, _),
            .notLoupe(let f, _), .unsupportedVersion(let f, _), .missingAttribute(let f, _),
            .badAttribute(let f, _, _), .missingObject(let f, _), .missingTensor(let f, _),
            .unexpectedTensor(let f, _), .duplicateTensor(let f, _, _), .shapeMismatch(let f, _, _, _),
            .unsupportedDType(let f, _, _), .badInt8Tensor(let f, _, _), .vocabMismatch(let f, _, _, _),
            .badConfig(let f, _),
            .unsupportedArchitecture(let f, _), .badTokenizer(let f, _), .safetensors(let f, _, _),
            .unsupportedFile(let f, _):
            return f
        }
    }

    /// The tensor key the error is about, if any.
    public var key: String? {
        switch self {
        case .missingTensor(_, let k), .unexpectedTensor(_, let k), .duplicateTensor(_, let k, _),
            .shapeMismatch(_, let k, _, _), .unsupportedDType(_, let k, _), .badInt8Tensor(_, let k, _),
            .vocabMismatch(_, let k, _, _):
            return k
        case .safetensors(_, let k, _): return k
        default: return nil
        }
    }

    public var description: String {
        let text: String
        switch self {
        case .fileNotFound: text = "no such file or directory"
        case .unreadable(_, let d): text = "cannot read: \(d)"
        case .notHDF5: text = "not an HDF5 file (HDF5 signature not found)"
        case .truncated(_, let d): text = "not a readable HDF5 file: \(d)"
        case .notLoupe(_, let found):
            text =
                "not a Loupe weight file: root attribute format is "
                + (found.map { "\"\($0)\"" } ?? "absent") + ", expected \"loupe\""
        case .unsupportedVersion(_, let v):
            text = "unsupported format version \(v) (this loader reads versions 1 and 2)"
        case .missingAttribute(_, let n): text = "missing attribute \(n)"
        case .badAttribute(_, let n, let d): text = "attribute \(n): \(d)"
        case .missingObject(_, let p): text = "missing HDF5 object \(p)"
        case .missingTensor(_, let k): text = "missing tensor \(k)"
        case .unexpectedTensor(_, let k): text = "unexpected tensor \(k)"
        case .duplicateTensor(_, let k, let o): text = "tensor \(k) is stored twice (also as \(o))"
        case .shapeMismatch(_, let k, let e, let f):
            text = "tensor \(k) has shape \(f), expected \(e)"
        case .unsupportedDType(_, let k, let d):
            text = "tensor \(k) has dtype \(d); Loupe reads float32, float16 and bfloat16 (and int8 block weights in version 2)"
        case .badInt8Tensor(_, let k, let d): text = "int8 tensor \(k): \(d)"
        case .vocabMismatch(_, let k, let t, let r):
            text = "the tokenizer has \(t) tokens but \(k) has only \(r) rows"
        case .badConfig(_, let d): text = "bad config: \(d)"
        case .unsupportedArchitecture(_, let a):
            text = "unsupported model_type \"\(a)\" (supported: bert, gpt2)"
        case .badTokenizer(_, let d): text = "bad tokenizer: \(d)"
        case .safetensors(_, let k, let d):
            text = "invalid safetensors file: " + (k.map { "tensor \($0): " } ?? "") + d
        case .unsupportedFile(_, let d): text = d
        }
        return oneLine("\(file): \(text)")
    }
}
