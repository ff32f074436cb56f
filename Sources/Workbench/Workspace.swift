// What an analysis server holds (LIT's app state): named models and datasets, user-added examples, a prediction cache.
import Foundation
import Interpret
import Tensor
import Transformer

/// Models and datasets by name, examples added by users (kept with their parent), and a memory-bounded cache of
/// predictions keyed by (model, example id, text, options). Thread-safe: every method may be called from any
/// thread; model computations are not serialised here (the caller runs them one at a time, as the server does).
public final class Workspace: @unchecked Sendable {
    public let models: [String: LoadedModel]
    private var datasets: [String: [Example]]
    private let lock = NSLock()
    private let cache: PredictionCache
    private let addedFile: URL?

    /// `cacheBytes` bounds the prediction cache; `directory` (if any) receives `added-examples.jsonl`, whose
    /// examples are loaded back here so that a restart keeps them.
    public init(
        models: [String: LoadedModel], datasets: [String: [Example]], cacheBytes: Int = 512 << 20,
        directory: URL? = nil
    ) throws(WorkbenchError) {
        self.models = models
        self.datasets = datasets
        cache = PredictionCache(capacityBytes: cacheBytes, file: directory?.appendingPathComponent("predictions.jsonl"))
        addedFile = directory?.appendingPathComponent("added-examples.jsonl")
        if let file = addedFile, FileManager.default.fileExists(atPath: file.path) {
            var reader = try Workspace.reading { () throws(DatasetError) in
                try ExampleReader(path: file.path, format: .jsonl)
            }
            while true {
                let next: Example?
                do throws(DatasetError) { next = try reader.next() } catch {
                    // A line cut short by a crash during an append is skipped (the reader has consumed it); only
                    // a file that cannot be read stops the start.
                    if case .unreadable = error { throw .dataset(error) }
                    continue
                }
                guard let e = next else { break }
                // Stored ids are "<dataset>:<id>": the prefix says which dataset the example was added to.
                guard let colon = e.id.firstIndex(of: ":") else { continue }
                let name = String(e.id[..<colon])
                if self.datasets[name] != nil { self.datasets[name]!.append(e) }
            }
        }
    }

    // MARK: Models and datasets

    public func model(_ name: String) throws(WorkbenchError) -> LoadedModel {
        guard let m = models[name] else { throw .unknownName(kind: "model", name: name, known: models.keys.sorted()) }
        return m
    }

    public func examples(_ name: String) throws(WorkbenchError) -> [Example] {
        lock.lock()
        defer { lock.unlock() }
        guard let d = datasets[name] else {
            throw .unknownName(kind: "dataset", name: name, known: datasets.keys.sorted())
        }
        return d
    }

    public var datasetNames: [String] {
        lock.lock()
        defer { lock.unlock() }
        return datasets.keys.sorted()
    }

    /// The examples a request names: `ids` of `dataset` (all of it when `ids` is nil), or `examples` given inline
    /// (analysed as they are; those without an id get "new-<hash>"). Unknown ids are a 404-class error naming one.
    public func resolve(dataset name: String?, ids: [String]?, examples: [Example]?) throws(WorkbenchError) -> [Example] {
        if let examples {
            return examples.map { e in
                var e = e
                if e.id.isEmpty { e.id = "new-" + String(fnv1a(e.text), radix: 16) }
                return e
            }
        }
        guard let name else { throw .missingField("dataset") }
        let all = try self.examples(name)
        guard let ids else { return all }
        var byID: [String: Example] = [:]
        for e in all { byID[e.id] = e }
        return try ids.map { id throws(WorkbenchError) in
            guard let e = byID[id] else { throw .unknownName(kind: "example id", name: id, known: []) }
            return e
        }
    }

    /// Adds edited or generated examples to a dataset: each gets a new id ("<dataset>:<n>" when none is given
    /// or the given one is taken), keeps its `parent`, and is appended to the cache directory's JSON Lines file.
    public func add(_ new: [Example], to name: String) throws(WorkbenchError) -> [Example] {
        lock.lock()
        defer { lock.unlock() }
        guard var d = datasets[name] else {
            throw .unknownName(kind: "dataset", name: name, known: datasets.keys.sorted())
        }
        var taken = Set(d.map(\.id))
        var added: [Example] = []
        for var e in new {
            if e.id.isEmpty || taken.contains(e.id) {
                var n = d.count
                while taken.contains("\(name):\(n)") { n += 1 }
                e.id = "\(name):\(n)"
            }
            taken.insert(e.id)
            d.append(e)
            added.append(e)
        }
        if let file = addedFile {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            var text = ""
            for e in added {
                var stored = e
                if !stored.id.hasPrefix(name + ":") { stored.id = name + ":" + stored.id }
                if let data = try? encoder.encode(stored) { text += String(decoding: data, as: UTF8.self) + "\n" }
            }
            do {
                try FileManager.default.createDirectory(
                    at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
                if !FileManager.default.fileExists(atPath: file.path) {
                    FileManager.default.createFile(atPath: file.path, contents: nil)
                }
                let h = try FileHandle(forUpdating: file)
                defer { try? h.close() }
                let end = try h.seekToEnd()
                // After a crash mid-append the file ends inside a line: start on a new one, so only the cut line
                // is lost (the loader skips it), not the next example too.
                if end > 0 {
                    try h.seek(toOffset: end - 1)
                    if try h.read(upToCount: 1) != Data([0x0A]) { text = "\n" + text }
                    try h.seekToEnd()
                }
                try h.write(contentsOf: Data(text.utf8))
            } catch {
                throw .dataset(.unreadable(path: file.path, reason: "cannot append: \(error.localizedDescription)"))
            }
        }
        datasets[name] = d
        return added
    }

    // MARK: Cached predictions

    /// Predictions of `examples` by model `name`, from the cache where the same (model, id, text, options) was
    /// predicted before; only the others run through the model, in batches.
    public func predict(
        model name: String, examples: [Example], options: PredictRequest
    ) throws(WorkbenchError) -> [Prediction] {
        let m = try model(name)
        let keys = examples.map { cacheKey(m, name, $0, options, embeddings: options.includeEmbeddings) }
        var out = lookUp(m, name, examples, options, keys: keys)
        let missing = out.indices.filter { out[$0] == nil }
        if !missing.isEmpty {
            var request = options
            request.examples = missing.map { examples[$0] }
            let fresh = try Workbench.predict(request, model: m)
            for (i, p) in zip(missing, fresh) {
                out[i] = p
                cache.put(keys[i], p)
            }
        }
        return out.map { $0! }
    }

    /// The predictions `predict` would give if every one of them is in the cache, else nil: no model work, so a
    /// server can answer it without waiting for the model.
    public func cachedPredictions(
        model name: String, examples: [Example], options: PredictRequest
    ) throws(WorkbenchError) -> [Prediction]? {
        let m = try model(name)
        let keys = examples.map { cacheKey(m, name, $0, options, embeddings: options.includeEmbeddings) }
        // Counted only when it answers, so that a request the model then computes is not counted twice.
        let out = lookUp(m, name, examples, options, keys: keys, counting: false)
        if out.contains(where: { $0 == nil }) { return nil }
        cache.recordHits(out.count)
        return out.map { $0! }
    }

    private func cacheKey(_ m: LoadedModel, _ name: String, _ e: Example, _ options: PredictRequest, embeddings: Bool) -> String {
        // The precision is part of the key: the cache file outlives a restart with another --precision.
        let tag = m.precision == .fp32 ? name : "\(name)@\(m.precision.rawValue)"
        return "\(tag)|\(e.id)|\(fnv1a(e.text))|\(options.topK)|\(options.includeLogits)|\(embeddings)|\(options.truncate)"
    }

    /// Each example's cached prediction under `keys`, or nil. An entry computed with embeddings (a warm start's)
    /// also answers a request without them.
    private func lookUp(
        _ m: LoadedModel, _ name: String, _ examples: [Example], _ options: PredictRequest, keys: [String],
        counting: Bool = true
    ) -> [Prediction?] {
        examples.indices.map { i -> Prediction? in
            if let p = cache.get(keys[i], counting: counting) { return p }
            let withEmbeddings = cacheKey(m, name, examples[i], options, embeddings: true)
            guard !options.includeEmbeddings, var p = cache.get(withEmbeddings, counting: counting) else { return nil }
            (p.embedding, p.clsEmbedding) = (nil, nil)
            return p
        }
    }

    public var cacheStatistics: PredictionCache.Statistics { cache.statistics }

    /// Loads `models` and `datasets` (name → path, as every command takes them) into a new workspace.
    public static func open(
        models: [(name: String, path: String)], datasets: [(name: String, path: String)], cacheBytes: Int = 512 << 20,
        directory: URL? = nil, precision: Precision? = nil
    ) throws(WorkbenchError) -> Workspace {
        var m: [String: LoadedModel] = [:]
        for (name, path) in models { m[name] = try Workbench.loadModel(path, precision: precision) }
        var d: [String: [Example]] = [:]
        for (name, path) in datasets {
            var reader = try Workspace.reading { () throws(DatasetError) in try ExampleReader(path: path) }
            d[name] = try Workspace.reading { () throws(DatasetError) in try reader.readAll() }
        }
        return try Workspace(models: m, datasets: d, cacheBytes: cacheBytes, directory: directory)
    }

    /// Predictions and embeddings of every example of every dataset by every model that predicts, in batches,
    /// so that the first requests find them cached (LIT's --warm_start). `progress(done, total)` after each batch.
    public func warmStart(batchSize: Int = 64, progress: (Int, Int) -> Void = { _, _ in }) throws(WorkbenchError) {
        var options = PredictRequest(examples: [])
        options.includeEmbeddings = true
        options.batchSize = batchSize
        let names = models.keys.sorted().filter { Workbench.info(models[$0]!, name: $0).operations.contains("predict") }
        let sets = datasetNames
        var total = 0
        for s in sets { total += try examples(s).count * names.count }
        var done = 0
        for name in names {
            for s in sets {
                let all = try examples(s)
                var start = 0
                while start < all.count {
                    let chunk = Array(all[start..<min(all.count, start + batchSize)])
                    _ = try predict(model: name, examples: chunk, options: options)
                    start += chunk.count
                    done += chunk.count
                    progress(done, total)
                }
            }
        }
    }
}

extension Workspace {
    static func reading<R>(_ body: () throws(DatasetError) -> R) throws(WorkbenchError) -> R {
        do { return try body() } catch { throw .dataset(error) }
    }
}

/// FNV-1a of a text's UTF-8 bytes: the cache key's fingerprint of the text (ids can be reused by edits).
func fnv1a(_ s: String) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in s.utf8 {
        h ^= UInt64(b)
        h = h &* 0x100_0000_01b3
    }
    return h
}

/// A least-recently-used map from key to prediction, bounded by an estimate of the bytes it holds; with a file,
/// every new entry is appended to it as a JSON line and the file's entries are loaded back at start (newest last,
/// so the bound keeps the newest), which makes a restarted server answer without model work.
public final class PredictionCache: @unchecked Sendable {
    public struct Statistics: Codable, Sendable {
        public var entries: Int
        public var bytes: Int
        public var capacityBytes: Int
        public var hits: Int
        public var misses: Int
    }

    private let capacity: Int
    private var entries: [String: (value: Prediction, bytes: Int, stamp: UInt64)] = [:]
    private var clock: UInt64 = 0
    private var bytes = 0
    private var hits = 0, misses = 0
    private let lock = NSLock()
    private var file: FileHandle?

    struct Line: Codable {
        let key: String
        let value: Prediction
    }

    init(capacityBytes: Int, file url: URL? = nil) {
        capacity = max(0, capacityBytes)
        guard let url else { return }
        try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        if let data = FileManager.default.contents(atPath: url.path) {
            // A line cut short by a crash is skipped, as is any line that does not decode.
            for line in data.split(separator: 0x0A) where nestingDepth(Array(line)) <= 64 {  // JSONDecoder can trap deeper
                if let l = try? JSONDecoder().decode(Line.self, from: Data(line)) { insert(l.key, l.value) }
            }
        } else {
            FileManager.default.createFile(atPath: url.path, contents: nil)
        }
        file = try? FileHandle(forWritingTo: url)
        _ = try? file?.seekToEnd()
    }

    func get(_ key: String, counting: Bool = true) -> Prediction? {
        lock.lock()
        defer { lock.unlock() }
        guard var e = entries[key] else {
            if counting { misses += 1 }
            return nil
        }
        if counting { hits += 1 }
        clock += 1
        e.stamp = clock
        entries[key] = e
        return e.value
    }

    func recordHits(_ n: Int) { lock.withLock { hits += n } }

    func put(_ key: String, _ value: Prediction) {
        lock.lock()
        defer { lock.unlock() }
        insert(key, value)
        if let file, let data = try? JSONEncoder().encode(Line(key: key, value: value)) {
            try? file.write(contentsOf: data + Data([0x0A]))
        }
    }

    /// Adds an entry and evicts the least recently used ones past the bound (the caller holds the lock).
    private func insert(_ key: String, _ value: Prediction) {
        let size = Self.size(key, value)
        guard size <= capacity else { return }
        if let old = entries[key] { bytes -= old.bytes }
        clock += 1
        entries[key] = (value, size, clock)
        bytes += size
        guard bytes > capacity else { return }
        // Evict in bulk down to 90 % of the bound, oldest first, so that a full cache does not sort on every insert.
        for (k, e) in entries.sorted(by: { $0.value.stamp < $1.value.stamp }) where bytes > capacity * 9 / 10 {
            bytes -= e.bytes
            entries.removeValue(forKey: k)
        }
    }

    var statistics: Statistics {
        lock.lock()
        defer { lock.unlock() }
        return Statistics(entries: entries.count, bytes: bytes, capacityBytes: capacity, hits: hits, misses: misses)
    }

    /// Bytes held for one entry: key and text, 8 per number, 64 per token entry and per string, plus overhead.
    static func size(_ key: String, _ p: Prediction) -> Int {
        var n = 256 + key.utf8.count + p.text.utf8.count + p.id.utf8.count
        n += 72 * (p.probabilities?.count ?? 0) + 8 * (p.logits?.count ?? 0) + 8 * (p.embedding?.count ?? 0)
        n += 64 * (p.nextTokens?.count ?? 0) + 64 * (p.masks?.reduce(0) { $0 + $1.candidates.count + 1 } ?? 0)
        return n
    }
}
