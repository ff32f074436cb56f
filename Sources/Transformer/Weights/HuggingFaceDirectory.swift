// Opens a Hugging Face model directory (config.json + safetensors + tokenizer files) directly, as convert.py reads it.

import Foundation
import Tensor
import Tokenizers

extension Checkpoint {
    /// config.json `architectures` entry → task (convert.py ARCHITECTURE_TASKS; docs/weights-format.md, "Task").
    static let architectureTasks: [String: Task] = [
        "BertModel": .featureExtraction,
        "BertForSequenceClassification": .sequenceClassification,
        "BertForMaskedLM": .maskedLM,
        "BertForPreTraining": .maskedLM,
        "GPT2Model": .featureExtraction,
        "GPT2LMHeadModel": .causalLM,
    ]

    /// A Hugging Face directory: the same reading and rules as convert.py and its modules (resolve_model_dir,
    /// load_tensors, infer_task, KEY_RULES, read_tokenizer, sentence_transformers_info), then the same strict check
    /// as for a .h5 file. safetensors files are memory-mapped; names and shapes are checked before any data is read.
    static func loadHuggingFace(_ root: URL, task requested: Task?) throws(WeightError) -> Checkpoint {
        // sentence-transformers: modules.json names the Transformer module's subdirectory ("" = the root).
        var modelDir = root
        var modules: [SentenceTransformersModule]? = nil
        let modulesPath = root.appendingPathComponent("modules.json").path
        if FileManager.default.fileExists(atPath: modulesPath) {
            modules = try readJSONList(modulesPath)
            if let transformer = modules?.first(where: { $0.kind == "Transformer" }), let sub = transformer.path,
                !sub.isEmpty
            {
                modelDir = root.appendingPathComponent(sub)
            }
        }
        let configPath = modelDir.appendingPathComponent("config.json").path
        guard FileKind(path: configPath) != .missing else {
            throw .unsupportedFile(
                file: modelDir.path, detail: "no config.json: not a Hugging Face model directory")
        }
        let configJSON = try readJSONObject(configPath)
        guard let modelType = configJSON["model_type"]?.string else {
            throw .badConfig(file: configPath, detail: "no \"model_type\"")
        }
        guard let architecture = Architecture(rawValue: modelType) else {
            throw .unsupportedArchitecture(file: configPath, found: modelType)
        }
        let configData: Data
        do {
            configData = try Data(contentsOf: URL(fileURLWithPath: configPath))  // a regular file: readJSON checked
        } catch {
            throw .unreadable(file: configPath, detail: oneLine(error.localizedDescription))
        }
        let config = try ModelConfig.decode(configData, architecture: architecture, file: configPath)

        let (weights, weightsFile) = try openWeights(modelDir)
        var task: Task
        if let requested {
            task = requested
        } else {
            task = try inferTask(
                architecture, configJSON, names: weights.names, sentenceTransformers: modules != nil,
                configFile: configPath)
        }
        let (kept, log) = try CheckpointNames.applyKeyRules(
            weights.names, tieWordEmbeddings: config.tieWordEmbeddings, file: weightsFile)

        var tokenizer = try TokenizerSpec.readHuggingFace(
            directory: modelDir, architecture: architecture, positions: config.maxPositions)
        var pooling: Pooling? = nil
        var normalize = false
        if let modules {
            (pooling, normalize, tokenizer.maxSeqLength) = try sentenceTransformersInfo(root, modules)
        }
        let parts = Parts(
            url: root, source: .huggingFaceDirectory, config: config, task: task,
            labels: task == .sequenceClassification ? config.bert?.labels : nil, pooling: pooling,
            normalize: normalize, tokenizer: tokenizer,
            found: kept.map { ($0.name, weights.shape(of: $0.stored)!) }, notes: log)
        let prefix = try validate(parts, file: weightsFile, configFile: configPath)

        // Every kept tensor must be convertible before any data is read.
        for (name, stored) in kept {
            let dtype = weights.byName[stored]!.entry.dtype
            if !["F32", "F16", "BF16"].contains(dtype) {
                throw .unsupportedDType(file: weights.file(of: stored), key: name, dtype: dtype)
            }
        }
        var tensors: [String: Tensor] = [:]
        tensors.reserveCapacity(kept.count)
        for (name, stored) in kept {  // data order, so the mapped pages are read front to back
            tensors[CheckpointNames.key(of: name, prefix: prefix)] = try weights.read(stored, key: name)
        }
        return Checkpoint(parts, prefix: prefix, tensors: tensors)
    }

    /// model.safetensors, else a sharded model.safetensors.index.json. PyTorch pickles are refused with the
    /// way out (convert.py reads them with torch). Returns the tensors and the file to name in tensor errors.
    private static func openWeights(_ dir: URL) throws(WeightError) -> (SafeTensorsSet, String) {
        func file(_ name: String) -> String? {
            let p = dir.appendingPathComponent(name).path
            return FileManager.default.fileExists(atPath: p) ? p : nil
        }
        if let p = file("model.safetensors") { return (try SafeTensorsSet(single: p), p) }
        if let p = file("model.safetensors.index.json") { return (try SafeTensorsSet(index: p, directory: dir), p) }
        if let p = file("pytorch_model.bin") ?? file("pytorch_model.bin.index.json") {
            throw .unsupportedFile(
                file: p,
                detail: "PyTorch pickle checkpoints are not read directly; run "
                    + "`python weights-scripts/convert.py \(dir.path) OUT.h5` and load OUT.h5")
        }
        throw .unsupportedFile(
            file: dir.path, detail: "no weight file (model.safetensors or model.safetensors.index.json)")
    }

    /// convert.py infer_task: sentence-transformers → feature extraction; else the first recognised
    /// `architectures` entry; else (no `architectures`) the key set decides.
    private static func inferTask(
        _ arch: Architecture, _ json: [String: JSONValue], names: [String], sentenceTransformers: Bool,
        configFile: String
    ) throws(WeightError) -> Task {
        if sentenceTransformers { return .featureExtraction }
        let listed = json["architectures"]?.strings ?? []
        if let task = listed.lazy.compactMap({ architectureTasks[$0] }).first { return task }
        if !listed.isEmpty {
            throw .badConfig(
                file: configFile,
                detail: "architectures \(listed) not supported (supported: "
                    + architectureTasks.keys.sorted().joined(separator: ", ") + "); pass a task to override")
        }
        switch arch {
        case .bert:
            if names.contains("classifier.weight") { return .sequenceClassification }
            if names.contains(where: { $0.hasPrefix("cls.predictions.") }) { return .maskedLM }
            return .featureExtraction
        case .gpt2:
            if names.contains("lm_head.weight") || names.contains(where: { $0.hasPrefix("transformer.") }) {
                return .causalLM
            }
            return .featureExtraction
        }
    }

    /// convert.py sentence_transformers_info: the Pooling module's single mode (default mean), L2 normalisation
    /// when a Normalize module is listed, sentence_bert_config.json `max_seq_length`. Other modules are refused.
    private static func sentenceTransformersInfo(
        _ root: URL, _ modules: [SentenceTransformersModule]
    ) throws(WeightError) -> (Pooling, Bool, Int?) {
        var pooling = Pooling.mean
        var normalize = false
        let modes: [(String, Pooling)] = [
            ("pooling_mode_cls_token", .cls), ("pooling_mode_mean_tokens", .mean),
            ("pooling_mode_max_tokens", .max), ("pooling_mode_mean_sqrt_len_tokens", .meanSqrtLen),
            ("pooling_mode_weightedmean_tokens", .weightedMean), ("pooling_mode_lasttoken", .lastToken),
        ]
        for module in modules {
            switch module.kind {
            case "Transformer": continue
            case "Pooling":
                let cfgPath = root.appendingPathComponent(module.path ?? "")
                    .appendingPathComponent("config.json").path
                guard FileManager.default.fileExists(atPath: cfgPath) else { continue }
                let cfg = try readJSONObject(cfgPath)
                let on = modes.filter { truthy(cfg[$0.0]) == true }.map(\.1)
                guard on.count == 1 else {
                    throw .badConfig(
                        file: cfgPath,
                        detail:
                            "expected exactly one pooling mode, found \(on.isEmpty ? "none" : on.map(\.rawValue).joined(separator: ", "))"
                    )
                }
                pooling = on[0]
            case "Normalize": normalize = true
            default:
                throw .unsupportedFile(
                    file: root.appendingPathComponent("modules.json").path,
                    detail: "module type \"\(module.type ?? "?")\" is not supported "
                        + "(only Transformer, Pooling, Normalize)")
            }
        }
        var maxSeqLength: Int? = nil
        let sbc = root.appendingPathComponent("sentence_bert_config.json").path
        if FileManager.default.fileExists(atPath: sbc), let n = try readJSONObject(sbc)["max_seq_length"]?.int, n > 0 {
            maxSeqLength = n
        }
        return (pooling, normalize, maxSeqLength)
    }

    /// modules.json: a JSON list of module objects (invalid JSON is reported with its position).
    private static func readJSONList(_ path: String) throws(WeightError) -> [SentenceTransformersModule] {
        guard let list = try readJSON(path).array, case let objects = list.compactMap(\.object),
            objects.count == list.count
        else {
            throw .badConfig(file: path, detail: "expected a JSON list of module objects")
        }
        return objects.map(SentenceTransformersModule.init)
    }
}

/// One entry of sentence-transformers' modules.json; a `type` or `path` that is not a string counts as absent.
struct SentenceTransformersModule: Equatable {
    /// e.g. "sentence_transformers.models.Pooling".
    var type: String?
    /// The module's subdirectory ("" = the model's root).
    var path: String?

    init(_ object: [String: JSONValue]) {
        type = object["type"]?.string
        path = object["path"]?.string
    }

    /// The last component of `type`, e.g. "Pooling" for "sentence_transformers.models.Pooling".
    var kind: String { String((type ?? "").split(separator: ".").last ?? "") }
}
