// Per-connection guards Hummingbird does not give: a deadline for a request's body, a bounded close after refusing
// one, a response that leaves the process before its connection closes, a client that stops reading, and noticing a
// client that went away, so that model work queued for it is skipped.
import Foundation
import Hummingbird
import NIOCore
import NIOHTTPTypes

/// Set once the client of a request is gone: its connection closed or reset, or its side shut while the request was
/// still unanswered (as Go's net/http cancels a request's context on a read EOF). The compute queue and the explain
/// loop read it between units of work.
final class ClientGone: @unchecked Sendable {
    private let lock = NSLock()
    private var gone = false
    var isSet: Bool { lock.withLock { gone } }
    func set() { lock.withLock { gone = true } }

    /// A flag for the request being served on `channel`, set by the connection's `ConnectionGuard`. A closed
    /// channel has no handlers left: its close sets the flag at once (a router test's channel never closes).
    static func watching(_ channel: any Channel) -> ClientGone {
        let flag = ClientGone()
        channel.eventLoop.execute {
            if let guarding = try? channel.pipeline.syncOperations.handler(type: ConnectionGuard.self) {
                guarding.watch(flag)
            } else {
                // Weak: a channel that outlives the request (keep-alive, a router test's that never closes) must
                // not keep one flag per request alive.
                channel.closeFuture.whenComplete { [weak flag] _ in flag?.set() }
            }
        }
        return flag
    }
}

/// Sits after the HTTP/1 codec of every connection (`HTTP1Channel`'s additional handlers):
/// - a request whose body has not ended `requestTimeout` after its head gets 408 and the connection is closed
///   (Go's `ReadTimeout`; Hummingbird's idle timeout restarts on every body byte, so alone it lets a client keep a
///   connection by sending a byte a second);
/// - after a response that says `Connection: close` (408, 413) the request's remaining bytes are read and dropped
///   for at most `linger`, then the connection is closed: the client can read the answer before a reset, and a body
///   that never ends (chunked, or a Content-Length that lies) is not drained forever (nginx's lingering close);
/// - the client closing its side while a request is unanswered marks that request's `ClientGone`;
/// - a close asked for while response bytes still wait in the channel's buffer (Hummingbird's idle timeout starts
///   when the response's end is *written*, not sent: a 5 MB answer to a client reading 150 kB/s was cut at 3.8 MB)
///   waits until they have gone to the socket;
/// - while response bytes wait, the buffer must shrink at least once every `writeTimeout`, else the connection is
///   closed (nginx's `send_timeout`): a client that stops reading cannot hold a connection and its response forever.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let requestTimeout: TimeAmount
    let linger: TimeAmount
    let writeTimeout: TimeAmount
    private var reading = false  // a request's head has come and its end not yet
    private var unanswered = 0  // requests whose response has not ended
    private var answeredWhileReading = false
    private var closing = false  // a response said Connection: close
    private var answeredHere = false  // this handler answered 408: the application's late answer is dropped
    private var gone = false
    private var flag: ClientGone?
    private var deadline: Scheduled<Void>?
    private var lingering: Scheduled<Void>?
    private var watching: Scheduled<Void>?  // the once-a-second look at the outbound buffer while it holds bytes
    private var buffered = 0  // its size at the last look
    private var lastProgress = NIODeadline.now()  // when it last shrank
    private var closeWaiting = false  // a close waits for the buffer to empty
    private var closePromise: EventLoopPromise<Void>?

    init(requestTimeout: TimeAmount, linger: TimeAmount, writeTimeout: TimeAmount) {
        self.requestTimeout = requestTimeout
        self.linger = linger
        self.writeTimeout = writeTimeout
    }

    /// Marks `flag` when the client goes; the previous request's flag is done with (HTTP/1 answers in order).
    func watch(_ flag: ClientGone) {
        if gone { flag.set() }
        self.flag = flag
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var refusedBodyEnded = false
        switch unwrapInboundIn(data) {
        case .head:
            reading = true
            answeredWhileReading = false
            unanswered += 1
            deadline?.cancel()
            deadline = context.eventLoop.assumeIsolated().scheduleTask(in: requestTimeout) { [self] in
                timedOut(context)
            }
        case .body:
            break
        case .end:
            reading = false
            deadline?.cancel()
            deadline = nil
            // The rest of a refused body has been read: nothing is left to linger for.
            refusedBodyEnded = closing && unanswered == 0
        }
        context.fireChannelRead(data)
        if refusedBodyEnded { context.close(promise: nil) }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if answeredHere {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        switch unwrapOutboundIn(data) {
        case .head(let head):
            if head.headerFields[.connection]?.lowercased() == "close" { closing = true }
            context.write(data, promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            unanswered -= 1
            if reading { answeredWhileReading = true }
            guard closing else { return context.write(data, promise: promise) }
            writeThenLinger(context, data, promise)
        }
    }

    func flush(context: ChannelHandlerContext) {
        context.flush()
        if watching == nil, outbound(context) > 0 { watch(context) }
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .all, context.channel.isActive, outbound(context) > 0 else {
            return context.close(mode: mode, promise: promise)
        }
        closeWaiting = true
        if let promise {
            if let closePromise { closePromise.futureResult.cascade(to: promise) } else { closePromise = promise }
        }
        if watching == nil { watch(context) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed? = event as? ChannelEvent, unanswered > 0 {
            clientLeft()
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        clientLeft()
        deadline?.cancel()
        lingering?.cancel()
        watching?.cancel()
        watching = nil
        closePromise?.fail(ChannelError.alreadyClosed)
        closePromise = nil
        context.fireChannelInactive()
    }

    private func clientLeft() {
        gone = true
        flag?.set()
    }

    /// The body's deadline passed: answer 408 unless the request was answered already (a 413 while its body still
    /// arrives), then close after the linger.
    private func timedOut(_ context: ChannelHandlerContext) {
        deadline = nil
        guard reading, context.channel.isActive else { return }
        guard !answeredWhileReading else {
            context.close(promise: nil)
            return
        }
        let message = "the request's body did not arrive within \(requestTimeout.nanoseconds / 1_000_000_000) s (request_timeout)"
        let body = #"{"error":{"code":"request_timeout","message":"\#(message)"}}"#
        var fields = HTTPFields()
        fields[.contentType] = "application/json; charset=utf-8"
        fields[.contentLength] = String(body.utf8.count)
        fields[.connection] = "close"
        closing = true
        answeredWhileReading = true
        defer { answeredHere = true }
        context.write(wrapOutboundOut(.head(HTTPResponse(status: .requestTimeout, headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(context.channel.allocator.buffer(string: body))), promise: nil)
        writeThenLinger(context, wrapOutboundOut(.end(nil)), nil)
    }

    /// Writes a response's end, and once it is on the socket closes, at once or after the linger.
    private func writeThenLinger(_ context: ChannelHandlerContext, _ end: NIOAny, _ promise: EventLoopPromise<Void>?) {
        let written = context.eventLoop.makePromise(of: Void.self)
        if let promise { written.futureResult.cascade(to: promise) }
        context.writeAndFlush(end, promise: written)
        written.futureResult.assumeIsolated().whenComplete { [self] _ in closeAfterLinger(context) }
    }

    private func closeAfterLinger(_ context: ChannelHandlerContext) {
        guard reading else {
            if unanswered <= 0 { context.close(promise: nil) }
            return
        }
        guard lingering == nil else { return }
        lingering = context.eventLoop.assumeIsolated().scheduleTask(in: linger) { context.close(promise: nil) }
    }

    /// Bytes written to the channel and not yet to its socket (0 where the channel cannot say, as in router tests).
    private func outbound(_ context: ChannelHandlerContext) -> Int {
        (try? context.channel.syncOptions?.getOption(ChannelOptions.bufferedWritableBytes)) ?? 0
    }

    /// Looks at the outbound buffer now and every second while it holds bytes: an empty buffer ends the watch (and
    /// lets a waiting close go ahead); one that has not shrunk for `writeTimeout` closes the connection, dropping
    /// what it holds.
    private func watch(_ context: ChannelHandlerContext) {
        let now = NIODeadline.now()
        if watching == nil { lastProgress = now } else if outbound(context) < buffered { lastProgress = now }
        watching = nil
        buffered = outbound(context)
        guard context.channel.isActive else { return }
        if buffered == 0 || now - lastProgress >= writeTimeout {
            if buffered > 0 { clientLeft() }
            if buffered == 0 && !closeWaiting { return }
            closeWaiting = false
            let promise = closePromise
            closePromise = nil
            context.close(promise: promise)
            return
        }
        watching = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(1)) { [self] in watch(context) }
    }
}
