// `loupe serve`'s application: configuration, limits, and the router of every /api route over one Workspace.
import Foundation
import Hummingbird
import HummingbirdCore
import Interpret
import NIOCore
import Workbench

/// Where to listen and how much one request may ask for (each limit is named in the 400 that enforces it).
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 5432
    /// Request bodies larger than this are refused with 413.
    public var maxBodyBytes = 1 << 20
    /// Requests admitted at once (one computes, the others wait); more get 429 with Retry-After.
    public var queueLimit = 64
    /// Open connections served at once; further ones wait in the listen backlog (256) until one closes, as Go's
    /// `netutil.LimitListener` does. Each costs a descriptor and its buffers; 512 is far above a page's use.
    public var maxConnections = 512
    /// A connection that sends no complete request head for this long after connecting, or after its last response,
    /// is closed (nginx's `client_header_timeout` and `keepalive_timeout`, Go's `ReadHeaderTimeout` and `IdleTimeout`).
    public var idleTimeoutSeconds = 10
    /// A request's body must have arrived this long after its head, else 408 (Go's `ReadTimeout`).
    public var requestTimeoutSeconds = 20
    /// After a 408 or 413 the rest of the body is read and dropped for at most this long, then the connection closes.
    public var lingerSeconds = 2
    /// While a response waits to be sent, the client must take some of it at least this often, else the connection
    /// is closed (nginx's `send_timeout`). A connection closing idle or at shutdown first sends what it holds.
    public var writeTimeoutSeconds = 30
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
    /// Fine-tuning run directories whose metrics.jsonl the page plots (`--run`), by name.
    public var runs: [(name: String, path: String)] = []
    /// Serve the page's files from this directory instead of the embedded copies (development: edit, reload).
    public var uiDirectory: String?
    public init() {}
}

struct TrainingRuns: Encodable { let runs: [TrainingRun] }

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

    public func router() -> Router<LoupeRequestContext> {
        let router = Router(context: LoupeRequestContext.self)
        let ui = configuration.uiDirectory
        router.get("/") { _, _ in StaticFiles.response("index.html", developmentDirectory: ui) }
        router.get("/ui/**") { _, context in
            StaticFiles.response(context.parameters.getCatchAll().joined(separator: "/"), developmentDirectory: ui)
        }
        router.get("/api/info") { _, _ in try jsonResponse(workspace.info) }
        router.get("/api/runs") { _, context in try await runs(context) }
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
            ("/api/tcav", .post), ("/api/project", .post), ("/api/runs", .get), ("/", .get),
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
        let c = configuration
        let http1 = HTTP1Channel.Configuration(
            additionalChannelHandlers: [
                ConnectionGuard(
                    requestTimeout: .seconds(Int64(c.requestTimeoutSeconds)), linger: .seconds(Int64(c.lingerSeconds)),
                    writeTimeout: .seconds(Int64(c.writeTimeoutSeconds)))
            ],
            idleTimeout: .seconds(Int64(c.idleTimeoutSeconds)))
        return Application(
            router: router(),
            server: .http1(configuration: http1),
            configuration: .init(
                address: .hostname(c.host, port: c.port), serverName: "loupe",
                availableConnectionsDelegate: MaximumAvailableConnections(c.maxConnections)),
            onServerRunning: { _ in await onServerRunning() })
    }

    /// The `--run` directories' evaluations, read anew on each call so a run still training shows its progress.
    func runs(_ context: LoupeRequestContext) async throws -> Response {
        let list = configuration.runs
        let out = try await work(context) { () throws(WorkbenchError) in
            try list.map { r throws(WorkbenchError) in try Workbench.trainingRun(name: r.name, directory: r.path) }
        }
        return try jsonResponse(TrainingRuns(runs: out))
    }

    /// Runs `body` on the compute queue, turning library errors into API errors; skipped if the client has gone
    /// by the time its turn comes (`body` may check `gone` itself between units of work).
    func work<T: Sendable>(
        _ context: LoupeRequestContext, _ body: @escaping @Sendable () throws(WorkbenchError) -> T
    ) async throws -> T {
        try await cancellableWork(context) { _ in try body() }
    }

    /// `work` whose body is handed the client's flag, to stop between units of work when it is set.
    func cancellableWork<T: Sendable>(
        _ context: LoupeRequestContext, _ body: @escaping @Sendable (_ gone: ClientGone) throws -> T
    ) async throws -> T {
        let gone = ClientGone.watching(context.channel)
        return try await compute.run(cancelledBy: gone, route: context.endpointPath ?? "?") {
            do { return try body(gone) } catch let error as WorkbenchError { throw APIError(error) }
        }
    }
}

/// Hummingbird's basic context plus the connection, whose guard tells whether the client is still there.
public struct LoupeRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
