// `loupe serve`'s application: configuration, limits, and the router of every /api route over one Workspace.
import Foundation
import Hummingbird
import Interpret
import Workbench

/// Where to listen and how much one request may ask for (each limit is named in the 400 that enforces it).
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 5432
    /// Request bodies larger than this are refused with 413.
    public var maxBodyBytes = 1 << 20
    /// Requests admitted at once (one computes, the others wait); more get 429.
    public var queueLimit = 64
    public var maxExamples = 1024
    public var maxExplainExamples = 64
    public var maxTextLength = 10_000
    public var maxSteps = 256
    public var maxSamples = 4096
    public var maxTokens = 64
    public var maxIterations = 2000
    /// Tokens per IG forward/backward pass, when a request does not set `batch_size` (bounds peak memory).
    public var explainTokensPerBatch = 512
    /// Points per projection (UMAP's neighbour search grows with the square).
    public var maxProjectionPoints = 10_000
    public init() {}
}

/// The server: routes parse JSON into library requests, run them through the compute queue, and encode results.
public struct LoupeServer: Sendable {
    public let workspace: Workspace
    public let configuration: ServerConfiguration
    let compute: ComputeQueue

    public init(workspace: Workspace, configuration: ServerConfiguration) {
        self.workspace = workspace
        self.configuration = configuration
        compute = ComputeQueue(limit: configuration.queueLimit)
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/") { _, _ in indexPage() }
        router.get("/api/info") { _, _ in try jsonResponse(workspace.info) }
        router.get("/api/datasets/:name/examples") { request, context in
            try examplesPage(request, context)
        }
        router.post("/api/predict") { request, context in try await predict(request, context) }
        router.post("/api/explain") { request, context in try await explain(request, context) }
        router.post("/api/attention") { request, context in try await attention(request, context) }
        router.post("/api/metrics") { request, context in try await metrics(request, context) }
        router.post("/api/examples") { request, context in try await addExamples(request, context) }
        router.post("/api/counterfactuals") { request, context in try await counterfactuals(request, context) }
        router.post("/api/tcav") { request, context in try await tcav(request, context) }
        router.post("/api/project") { request, context in try await project(request, context) }
        // Other methods on these paths: 405 with Allow, not 404 (the path exists).
        let declared: [(String, HTTPRequest.Method)] = [
            ("/api/info", .get), ("/api/datasets/:name/examples", .get), ("/api/predict", .post), ("/api/explain", .post),
            ("/api/attention", .post), ("/api/metrics", .post), ("/api/examples", .post), ("/api/counterfactuals", .post),
            ("/api/tcav", .post), ("/api/project", .post),
        ]
        for (path, allowed) in declared {
            let methods: [HTTPRequest.Method] = [.get, .post, .put, .delete, .patch, .options, .trace, HTTPRequest.Method("QUERY")!]
            for method in methods where method != allowed {
                router.on(RouterPath(path), method: method) { _, _ -> Response in
                    var r = try APIError(.methodNotAllowed, "method_not_allowed", "\(path) takes \(allowed.rawValue) only")
                        .response()
                    r.headers[.allow] = allowed.rawValue
                    return r
                }
            }
        }
        return router
    }

    /// The application bound to the configured host and port.
    public func application(onServerRunning: @escaping @Sendable () async -> Void = {}) -> some ApplicationProtocol {
        Application(
            router: router(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "loupe"),
            onServerRunning: { _ in await onServerRunning() })
    }

    /// Runs `body` on the compute queue, turning library errors into API errors.
    func work<T: Sendable>(_ body: @escaping @Sendable () throws(WorkbenchError) -> T) async throws -> T {
        try await compute.run {
            do throws(WorkbenchError) { return try body() } catch { throw APIError(error) }
        }
    }
}

func indexPage() -> Response {
    var headers = HTTPFields()
    headers[.contentType] = "text/html; charset=utf-8"
    let page = """
        <!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Loupe</title></head>
        <body><h1>Loupe</h1><p>The analysis API is under <a href="/api/info">/api/info</a>; \
        see docs/openapi.yaml for every route.</p></body></html>
        """
    return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: page)))
}
