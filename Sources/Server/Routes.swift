// The /api routes: decode the JSON body into a library request, check the limits, compute on the queue, encode.
import Foundation
import Hummingbird
import Interpret
import NIOCore
import Workbench

extension LoupeServer {
    /// The JSON body as `T`: capped at `maxBodyBytes` (413), nesting-checked before the decoder sees it, and a
    /// decoding failure named by the field at fault (400).
    func decode<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T {
        try decode(type, from: try await bodyBytes(request))
    }

    /// The body's bytes, at most `maxBodyBytes` (413 beyond, at once when Content-Length says so, else at the byte
    /// past the limit). The body can be read once.
    func bodyBytes(_ request: Request) async throws -> [UInt8] {
        let limit = configuration.maxBodyBytes
        if let length = request.headers[.contentLength], (Int(length) ?? Int.max) > limit {
            throw APIError.bodyTooLarge(limit)
        }
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: limit) } catch is NIOTooManyBytesError {
            throw APIError.bodyTooLarge(limit)
        }
        return Array(buffer.readableBytesView)
    }

    func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        guard nestingDepth(bytes) <= 64 else {
            throw APIError(.badRequest, "invalid_json", "the body is nested deeper than 64 levels")
        }
        do { return try JSONDecoder().decode(T.self, from: Data(bytes)) } catch let error as DecodingError {
            throw APIError(decoding: error)
        } catch {
            throw APIError(.badRequest, "invalid_json", "the body is not valid JSON")
        }
    }

    /// The examples of a selection, each within the text limit, at most `limit` of them.
    func examples(_ s: Selection, limit: Int) throws -> [Example] {
        if s.examples == nil && s.dataset == nil {
            throw APIError(.badRequest, "invalid_request", "give dataset (and ids) or examples", field: "examples")
        }
        let list: [Example]
        do { list = try workspace.resolve(dataset: s.dataset, ids: s.ids, examples: s.examples) } catch {
            throw APIError(error)
        }
        try check("examples", list.count, limit)
        for e in list where e.text.count > configuration.maxTextLength {
            throw APIError(WorkbenchError.limitExceeded(field: "text", value: e.text.count, limit: configuration.maxTextLength))
        }
        return list
    }

    func check(_ field: String, _ value: Int?, _ limit: Int) throws {
        if let value, value > limit {
            throw APIError(WorkbenchError.limitExceeded(field: field, value: value, limit: limit))
        }
    }

    func examplesPage(_ request: Request, _ context: LoupeRequestContext) throws -> Response {
        let name = context.parameters.get("name") ?? ""
        func integer(_ key: String, default d: Int) throws -> Int {
            guard let raw = request.uri.queryParameters.get(key) else { return d }
            guard let v = Int(raw), v >= 0 else {
                throw APIError(.badRequest, "invalid_request", "\(key) must be a non-negative integer, got \(raw)", field: key)
            }
            return v
        }
        let offset = try integer("offset", default: 0)
        let limit = try integer("limit", default: 100)
        try check("limit", limit, 1000)
        let all: [Example]
        do { all = try workspace.examples(name) } catch { throw APIError(error) }
        let page = offset >= all.count ? [] : Array(all[offset..<min(all.count, offset + limit)])
        return try jsonResponse(ExamplesPage(dataset: name, offset: offset, limit: limit, total: all.count, examples: page))
    }

    func predict(_ request: Request, _ context: LoupeRequestContext) async throws -> Response {
        let body = try await decode(PredictBody.self, request)
        let list = try examples(Selection(dataset: body.dataset, ids: body.ids, examples: body.examples), limit: configuration.maxExamples)
        var options = PredictRequest(examples: [])
        options.topK = body.topK ?? 5
        options.includeLogits = body.includeLogits ?? false
        options.includeEmbeddings = body.includeEmbeddings ?? false
        options.batchSize = 32
        try check("top_k", options.topK, 100)
        // Predictions all in the cache need no model work: answered at once, not queued behind an explanation.
        let cached: [Prediction]?
        do { cached = try workspace.cachedPredictions(model: body.model, examples: list, options: options) } catch {
            throw APIError(error)
        }
        if let cached { return try jsonResponse(Predictions(predictions: cached)) }
        let ws = workspace
        let request = options
        let out = try await work(context) { () throws(WorkbenchError) in
            try ws.predict(model: body.model, examples: list, options: request)
        }
        return try jsonResponse(Predictions(predictions: out))
    }

    func explain(_ request: Request, _ context: LoupeRequestContext) async throws -> Response {
        let body = try await decode(ExplainBody.self, request)
        let list = try examples(
            Selection(dataset: body.dataset, ids: body.ids, examples: body.examples), limit: configuration.maxExplainExamples)
        let config = body.config ?? [:]
        for (field, limit) in [("steps", configuration.maxSteps), ("samples", configuration.maxSamples), ("iterations", configuration.maxIterations)] {
            if case .int(let v)? = config[field] { try check(field, v, limit) }
        }
        if ["smoothgrad", "vargrad"].contains(body.method), case .string("ig")? = config["base"] {
            // Each noisy copy runs IG in full: bound the gradient evaluations, as LIME's samples bound its forwards.
            func int(_ key: String, _ d: Int) -> Int { if case .int(let v)? = config[key] { v } else { d } }
            try check("samples × steps", int("samples", 16) * int("steps", 32), configuration.maxSamples)
        }
        try check("max_tokens", body.maxTokens, configuration.maxTokens)
        let ws = workspace
        let limits = configuration
        let route = context.endpointPath ?? "?"
        let out = try await cancellableWork(context) { gone in
            let model = try ws.model(body.model)
            let method: MethodID
            do throws(InterpretError) { method = try MethodID(named: body.method) } catch {
                throw WorkbenchError.interpret(error)
            }
            var config = config
            if method == .ig && config["batch_size"] == nil {
                // Bound the recorded activations: IG's interpolation points run about `explainTokensPerBatch`
                // tokens at a time (the library's default, ~2,048, is sized for one command, not a server).
                let longest = list.map { model.tokenizer.encode($0.text, addSpecialTokens: true).count }.max() ?? 1
                config["batch_size"] = .int(max(1, limits.explainTokensPerBatch / max(longest, 1)))
            }
            var r = ExplainRequest(examples: list, method: method, config: config)
            r.target = body.target
            r.contrast = body.contrast
            if let s = body.score {
                guard let kind = ScoreKind(rawValue: s) else {
                    throw WorkbenchError.invalidOption(
                        OptionError(field: "score", value: s, problem: .notAChoice(ScoreKind.allCases.map(\.rawValue))))
                }
                r.score = kind
            }
            r.mergeWords = body.mergeWords ?? false
            r.maxTokens = body.maxTokens ?? 10
            // One example at a time, so that a request whose client has gone stops at the next example (this
            // forgoes Workbench's shared passes for grad-input / grad-norm: a request holds few examples). The
            // information method's regularisation is taken over all the request's examples, so it runs as one call
            // (as do one example and none, whose options are checked).
            guard method != .info, list.count > 1 else { return try Workbench.explain(r, model: model) }
            var out: [Explanation] = []
            for e in list {
                if gone.isSet { throw ClientGone.cancelled(route, detail: "after \(out.count) of \(list.count) examples") }
                r.examples = [e]
                out += try Workbench.explain(r, model: model)
            }
            return out
        }
        return try jsonResponse(Explanations(explanations: out))
    }

    func attention(_ request: Request, _ context: LoupeRequestContext) async throws -> Response {
        let body = try await decode(AttentionBody.self, request)
        let example: Example
        if let e = body.example {
            example = try examples(Selection(examples: [e]), limit: 1)[0]
        } else if let id = body.id, body.dataset != nil {
            example = try examples(Selection(dataset: body.dataset, ids: [id]), limit: 1)[0]
        } else {
            throw APIError(.badRequest, "invalid_request", "give example, or dataset and id", field: "example")
        }
        try check("tokens", example.text.count, 2_000)
        let ws = workspace
        let out = try await work(context) { () throws(WorkbenchError) in
            try Workbench.attention(AttentionRequest(example: example, layer: body.layer), model: ws.model(body.model))
        }
        return try jsonResponse(out)
    }

    func metrics(_ request: Request, _ context: LoupeRequestContext) async throws -> Response {
        let body = try await decode(MetricsRequest.self, request)
        try check("ids", body.ids?.count, 100_000)
        let ws = workspace
        let out = try await work(context) { () throws(WorkbenchError) in try ws.metrics(body) }
        return try jsonResponse(out)
    }

    func counterfactuals(_ request: Request, _ context: LoupeRequestContext) async throws -> Response {
        let body = try await decode(CounterfactualsBody.self, request)
        let list = try examples(
            Selection(dataset: body.dataset, ids: body.ids, examples: body.examples), limit: configuration.maxExplainExamples)
        let ws = workspace
        let out = try await work(context) { () throws(WorkbenchError) in
            guard let generator = GeneratorID(rawValue: body.generator) else {
                throw .invalidOption(
                    OptionError(
                        field: "generator", value: body.generator, problem: .notAChoice(GeneratorID.allCases.map(\.rawValue))))
            }
            let r = CounterfactualRequest(examples: list, generator: generator, config: body.config ?? [:])
            return try Workbench.counterfactuals(r, model: ws.model(body.model))
        }
        return try jsonResponse(Counterfactuals(counterfactuals: out))
    }

    func tcav(_ request: Request, _ context: LoupeRequestContext) async throws -> Response {
        let body = try await decode(TCAVBody.self, request)
        let concept = try examples(Selection(dataset: body.dataset, ids: body.conceptIDs), limit: configuration.maxExamples)
        let random = try examples(Selection(dataset: body.dataset, ids: body.randomIDs), limit: configuration.maxExamples)
        let measured = try examples(Selection(dataset: body.dataset, ids: body.ids), limit: configuration.maxExamples)
        try check("runs", body.runs, 100)
        let ws = workspace
        let out = try await work(context) { () throws(WorkbenchError) in
            var r = TCAVRequest(concept: concept, random: random, targetClass: body.targetClass)
            r.layer = body.layer
            if let runs = body.runs { r.runs = runs }
            if let seed = body.seed { r.seed = UInt64(clamping: seed) }
            return try Workbench.tcav(r, model: ws.model(body.model), examples: measured)
        }
        return try jsonResponse(out)
    }

    /// PCA or UMAP of the examples' embeddings (mean-pooled or [CLS]), taken from the prediction cache, so a warm
    /// start or an earlier projection makes the next one cost only the projection itself.
    func project(_ request: Request, _ context: LoupeRequestContext) async throws -> Response {
        let bytes = try await bodyBytes(request)
        let body = try decode(ProjectBody.self, from: bytes)
        let options = try decode(ProjectionRequest.self, from: bytes)
        let list = try examples(Selection(dataset: body.dataset, ids: body.ids), limit: configuration.maxProjectionPoints)
        let ws = workspace
        let out = try await work(context) { () throws(WorkbenchError) in
            try options.validateOptions()
            var predict = PredictRequest(examples: [])
            predict.includeEmbeddings = true
            predict.batchSize = 64
            let p = try ws.predict(model: body.model, examples: list, options: predict)
            let vectors = try p.map { q throws(WorkbenchError) -> [Float] in
                guard let v = options.field == .cls ? q.clsEmbedding : q.embedding else {
                    throw .wrongModel(
                        file: body.model, operation: "project", needs: "a BERT model", found: "a model without embeddings")
                }
                return v.map(Float.init)
            }
            return try Workbench.project(options, vectors: vectors, ids: list.map(\.id))
        }
        return try jsonResponse(out)
    }

    func addExamples(_ request: Request, _ context: LoupeRequestContext) async throws -> Response {
        let body = try await decode(AddExamplesBody.self, request)
        try check("examples", body.examples.count, configuration.maxExamples)
        for e in body.examples where e.text.count > configuration.maxTextLength {
            throw APIError(WorkbenchError.limitExceeded(field: "text", value: e.text.count, limit: configuration.maxTextLength))
        }
        let ws = workspace
        let out = try await work(context) { () throws(WorkbenchError) in try ws.add(body.examples, to: body.dataset) }
        return try jsonResponse(AddedExamples(examples: out))
    }
}

extension APIError {
    /// A body that does not fit the route's shape, named by the field at fault.
    init(decoding error: DecodingError) {
        func path(_ c: [any CodingKey]) -> String? {
            c.isEmpty ? nil : c.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let c):
            let field = path(c.codingPath + [key]) ?? key.stringValue
            self.init(.badRequest, "invalid_request", "\(field) is required", field: field)
        case .typeMismatch(let type, let c), .valueNotFound(let type, let c):
            let field = path(c.codingPath)
            let message = field.map { "\($0) must be \(jsonName(type))" } ?? "the body must be a JSON object"
            self.init(.badRequest, "invalid_request", message, field: field)
        case .dataCorrupted(let c):
            if let field = path(c.codingPath) {
                self.init(.badRequest, "invalid_request", "\(field): \(c.debugDescription)", field: field)
            } else {
                self.init(.badRequest, "invalid_json", "the body is not valid JSON")
            }
        @unknown default:
            self.init(.badRequest, "invalid_request", "the body does not fit this route")
        }
    }
}

/// A Swift type as JSON calls it, for messages.
func jsonName(_ type: Any.Type) -> String {
    switch type {
    case is String.Type: return "a string"
    case is Int.Type, is Double.Type, is Float.Type: return "a number"
    case is Bool.Type: return "true or false"
    default:
        let name = String(describing: type)
        return name.hasPrefix("Array") || name.hasPrefix("[") ? "an array" : "an object"
    }
}
