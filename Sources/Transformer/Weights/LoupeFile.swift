// Reads a Loupe weight file, version 1 or 2 (HDF5; docs/weights-format.md), into a Checkpoint.

import Foundation
import Tensor

extension Checkpoint {
    /// The format versions this loader reads: 1, and 2 (version 1 plus int8 block weights, docs/weights-format.md).
    public static let loupeFormatVersions: ClosedRange<Int64> = 1...2

    /// Loupe .h5 file: root attributes, config, tensor names and shapes, tokenizer; validated before any
    /// tensor data is read. Names in the file are already normalised by convert.py, so KEY_RULES are not
    /// applied again (loupe_h5.validate does not either): only the base prefix is removed.
    /// Read by Loupe's own HDF5 parser (`HDF5File`), not libhdf5, which crashes and hangs on crafted files
    /// (issue #17); each load has its own parser, so loads in parallel need no lock.
    static func loadLoupeHDF5(_ url: URL, task requested: Task?) throws(WeightError) -> Checkpoint {
        let path = url.path
        let f = try HDF5File.open(path)

        // Root attributes (docs: "Root attributes"), format and version first.
        let format = try f.stringAttribute("format")
        guard format == "loupe" else { throw .notLoupe(file: path, found: format) }
        guard let version = try f.int64Attribute("version") else {
            throw .missingAttribute(file: path, name: "version")
        }
        guard loupeFormatVersions.contains(version) else { throw .unsupportedVersion(file: path, found: version) }
        func required(_ name: String) throws(WeightError) -> String {
            guard let v = try f.stringAttribute(name) else { throw .missingAttribute(file: path, name: name) }
            return v
        }
        let archName = try required("architecture")
        guard let architecture = Architecture(rawValue: archName) else {
            throw .unsupportedArchitecture(file: path, found: archName)
        }
        let taskName = try required("task")
        guard let storedTask = Task(rawValue: taskName) else {
            throw .badAttribute(
                file: path, name: "task",
                detail: "unknown task \"\(taskName)\" (expected one of "
                    + Task.allCases.map(\.rawValue).joined(separator: ", ") + ")")
        }
        let config = try ModelConfig.decode(Data(required("config").utf8), architecture: architecture, file: path)

        var labels: [String]? = nil
        if let text = try f.stringAttribute("labels") {
            guard let list = try? decodeJSON([String].self, from: Data(text.utf8)) else {
                throw .badAttribute(file: path, name: "labels", detail: "expected a JSON list of strings")
            }
            labels = list
        }
        let poolingName = try f.stringAttribute("pooling")
        let normalizeName = try f.stringAttribute("normalize")
        var pooling: Pooling? = nil
        if let poolingName {
            guard let p = Pooling(rawValue: poolingName) else {
                throw .badAttribute(file: path, name: "pooling", detail: "unknown pooling mode \"\(poolingName)\"")
            }
            pooling = p
        }
        // `normalize` is written together with `pooling`, as "l2" or "none".
        if (poolingName == nil) != (normalizeName == nil) {
            throw .missingAttribute(file: path, name: poolingName == nil ? "pooling" : "normalize")
        }
        if let normalizeName, normalizeName != "l2" && normalizeName != "none" {
            throw .badAttribute(
                file: path, name: "normalize", detail: "expected \"l2\" or \"none\", found \"\(normalizeName)\"")
        }

        // /weights: names and shapes only; every member must be a float32 / float16 dataset, or in version 2 an
        // int8 one (checked against its scales once the prefix is known).
        var found: [(name: String, shape: [Int])] = []
        var int8Names: Set<String> = []
        var claimedBytes = 0
        for name in try f.memberNames(ofGroup: "/weights") {
            let datasetPath = "/weights/" + name
            guard try f.isDataset(datasetPath) else {
                throw .unexpectedTensor(file: path, key: name)  // a group or other object: not a tensor
            }
            let info = try f.datasetInfo(datasetPath)
            // Datasets are contiguous and uncompressed (docs/weights-format.md): their bytes together cannot
            // exceed the file's, so a claimed extent beyond it is refused before anything is allocated for it.
            let elements = info.shape.reduce(1, *)  // withDataset checked that this product fits
            let (own, o1) = elements.multipliedReportingOverflow(by: info.typeSize)
            let (bytes, o2) = own.addingReportingOverflow(claimedBytes)
            guard !o1, !o2, bytes <= f.bytes else {
                throw .unsupportedFile(
                    file: path,
                    detail: "tensor \(name) of shape \(info.shape) (\(HDF5File.describe(info))) claims more bytes than the "
                        + "file's \(f.bytes)")
            }
            claimedBytes = bytes
            if info.isInt8 && version >= 2 {
                int8Names.insert(name)
            } else if !info.isWeightFloat {
                throw .unsupportedDType(file: path, key: name, dtype: HDF5File.describe(info))
            }
            found.append((name, info.shape))
        }

        let tokenizer = try readLoupeTokenizer(f, architecture: architecture)
        let parts = Parts(
            url: url, source: .loupeHDF5, config: config, task: requested ?? storedTask, labels: labels,
            pooling: pooling, normalize: normalizeName == "l2", tokenizer: tokenizer, found: found, notes: [])
        let prefix = try validate(parts, file: path, configFile: path)

        var tensors: [String: Tensor] = [:], int8Scales: [String: Tensor] = [:]
        tensors.reserveCapacity(found.count)
        for (name, shape) in found {
            let key = CheckpointNames.key(of: name, prefix: prefix)
            if int8Names.contains(name) {
                let (values, scales) = try readInt8Tensor(f, name: name, key: key, shape: shape, config: config)
                (tensors[key], int8Scales[key]) = (values, scales)
            } else {
                tensors[key] = try f.readFloatTensor("/weights/" + name, key: name)
            }
        }
        return Checkpoint(parts, prefix: prefix, tensors: tensors, int8Scales: int8Scales)
    }

    /// An int8 block weight of a version 2 file and its `/weight_scales` entry (docs/weights-format.md, "Version 2"):
    /// the dequantised tensor q·scale and the scales. Refuses tensors outside the blocks and scales that are missing,
    /// of the wrong shape, or not finite and positive, naming the tensor.
    private static func readInt8Tensor(
        _ f: HDF5File, name: String, key: String, shape: [Int], config: ModelConfig
    ) throws(WeightError) -> (Tensor, Tensor) {
        let path = f.path
        guard let axis = int8OutputAxis(of: key, rank: shape.count, architecture: config.architecture) else {
            throw .badInt8Tensor(file: path, key: name, detail: "only the rank-2 weights of the transformer blocks may be int8")
        }
        let scalesPath = "/weight_scales/" + name
        guard try f.isDataset(scalesPath) else {
            throw .badInt8Tensor(file: path, key: name, detail: "no scales at \(scalesPath)")
        }
        let stored = try f.datasetInfo(scalesPath).shape  // checked before reading: the file's sizes are untrusted
        guard stored == [shape[axis]] else {
            throw .badInt8Tensor(
                file: path, key: name, detail: "scales of shape \(stored), expected [\(shape[axis])] (one per output)")
        }
        let scales = try f.readFloatTensor(scalesPath, key: scalesPath)
        guard scales.scalars.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw .badInt8Tensor(file: path, key: name, detail: "scales must be finite and positive")
        }
        let q = try f.readInt8("/weights/" + name, key: name)
        return (dequantizedInt8(q, shape: shape, scales: scales.scalars, axis: axis), scales)
    }

    /// The `/tokenizer` group (docs/weights-format.md, "Group /tokenizer"): every documented attribute is
    /// required except `max_seq_length`; `type` must match the architecture.
    private static func readLoupeTokenizer(_ f: HDF5File, architecture: Architecture) throws(WeightError)
        -> TokenizerSpec
    {
        let g = "/tokenizer"
        let path = f.path
        func string(_ name: String) throws(WeightError) -> String {
            guard let v = try f.stringAttribute(name, of: g) else {
                throw .missingAttribute(file: path, name: "tokenizer/" + name)
            }
            return v
        }
        func flag(_ name: String) throws(WeightError) -> Bool {
            guard let v = try f.flagAttribute(name, of: g) else {
                throw .missingAttribute(file: path, name: "tokenizer/" + name)
            }
            return v
        }
        func count(_ name: String) throws(WeightError) -> Int? {
            guard let v = try f.int64Attribute(name, of: g) else { return nil }
            guard v > 0, let n = Int(exactly: v) else {
                throw .badAttribute(
                    file: path, name: "tokenizer/" + name, detail: "expected a positive integer, found \(v)")
            }
            return n
        }
        guard try f.isGroup(g) else { throw .missingObject(file: path, path: g) }
        let typeName = try string("type")
        guard let kind = TokenizerSpec.Kind(rawValue: typeName) else {
            throw .badAttribute(file: path, name: "tokenizer/type", detail: "unknown tokenizer type \"\(typeName)\"")
        }
        let expected: TokenizerSpec.Kind = architecture == .bert ? .wordpiece : .bpe
        guard kind == expected else {
            throw .badAttribute(
                file: path, name: "tokenizer/type",
                detail:
                    "\"\(typeName)\" does not fit a \(architecture.rawValue) model (expected \"\(expected.rawValue)\")")
        }
        guard let maxLength = try count("model_max_length") else {
            throw .missingAttribute(file: path, name: "tokenizer/model_max_length")
        }
        let vocab = try f.readStrings(g + "/vocab")
        if vocab.isEmpty { throw .badAttribute(file: path, name: "tokenizer/vocab", detail: "empty vocabulary") }
        switch kind {
        case .wordpiece:
            let strip: Bool?
            switch try string("strip_accents") {
            case "none": strip = nil
            case "true": strip = true
            case "false": strip = false
            case let other:
                throw .badAttribute(
                    file: path, name: "tokenizer/strip_accents",
                    detail: "expected \"none\", \"true\" or \"false\", found \"\(other)\"")
            }
            return TokenizerSpec(
                type: .wordpiece, vocab: vocab, doLowerCase: try flag("do_lower_case"), stripAccents: strip,
                tokenizeChineseChars: try flag("tokenize_chinese_chars"), unkToken: try string("unk_token"),
                clsToken: try string("cls_token"), sepToken: try string("sep_token"),
                padToken: try string("pad_token"), maskToken: try string("mask_token"),
                modelMaxLength: maxLength, maxSeqLength: try count("max_seq_length"))
        case .bpe:
            return TokenizerSpec(
                type: .bpe, vocab: vocab, merges: try f.readStrings(g + "/merges"), unkToken: try string("unk_token"),
                bosToken: try string("bos_token"), eosToken: try string("eos_token"),
                addPrefixSpace: try flag("add_prefix_space"), modelMaxLength: maxLength,
                maxSeqLength: try count("max_seq_length"))
        }
    }
}
