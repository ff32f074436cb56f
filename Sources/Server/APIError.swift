// HTTP errors as JSON, `{"error": {"code", "message", "field"?}}`: 4xx for the caller's mistakes, never a stack trace.
import Foundation
import Hummingbird
import Workbench

/// An error the server answers with; `field` names the request field at fault when one is.
struct APIError: HTTPResponseError {
    let status: HTTPResponse.Status
    let code: String
    let message: String
    let field: String?
    /// Extra response headers: Retry-After on 429, Connection: close where the rest of the request is not read.
    var headers = HTTPFields()

    init(_ status: HTTPResponse.Status, _ code: String, _ message: String, field: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
    }

    struct Body: Encodable {
        struct Detail: Encodable {
            let code: String
            let message: String
            let field: String?
        }
        let error: Detail
    }

    func response(from request: Request, context: some RequestContext) throws -> Response { try response() }

    func response() throws -> Response {
        var r = try jsonResponse(Body(error: .init(code: code, message: message, field: field)), status: status)
        for field in headers { r.headers.append(field) }
        return r
    }

    /// A library error as the API reports it: unknown names are 404, everything else the caller's 400.
    init(_ error: WorkbenchError) {
        let message = error.message(naming: { $0 })
        switch error {
        case .unknownName(let kind, _, _):
            self.init(.notFound, "not_found", message, field: kind == "example id" ? "ids" : kind)
        case .limitExceeded: self.init(.badRequest, "limit_exceeded", message, field: error.field)
        default: self.init(.badRequest, "invalid_request", message, field: error.field)
        }
    }

    static let busy: APIError = {
        var e = APIError(.tooManyRequests, "busy", "the server's work queue is full; retry after Retry-After seconds")
        e.headers[.retryAfter] = "1"
        return e
    }()

    /// 413: the connection is closed after it (`ConnectionGuard`), so the rest of the body is not read.
    static func bodyTooLarge(_ limit: Int) -> APIError {
        var e = APIError(
            .contentTooLarge, "body_too_large", "the request body is over the limit of \(limit) bytes (max_body)")
        e.headers[.connection] = "close"
        return e
    }
}

/// `value` as a JSON response (keys sorted, so answers are stable).
func jsonResponse(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let data = try encoder.encode(value)
    var headers = HTTPFields()
    headers[.contentType] = "application/json; charset=utf-8"
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
}
