// The server's answers under load that a router test can pin down: 429 with Retry-After when the queue is full, and
// cached predictions answered while it is. Tests/Load drives the rest over real sockets (the router test client
// sets Content-Length itself, so a lying one cannot be sent from here).
import Foundation
import Hummingbird
import HummingbirdTesting
import Server
import Testing

@Suite struct LoadLimitTests {
    @Test func fullQueueAnswers429WithRetryAfterButCachedPredictionsStillCome() async throws {
        let server = try makeServer { $0.queueLimit = 1 }
        let app = Application(router: server.router())
        try await app.test(.router) { client in
            let cached = try body(["model": "tiny", "dataset": "reviews", "ids": ["0", "1"]])
            try await client.execute(uri: "/api/predict", method: .post, body: cached) { r in #expect(r.status == .ok) }
            // A long explanation holds the one admitted place (8 examples × 256 IG steps: seconds on BERT-tiny).
            let examples = (0..<8).map { ["id": "l\($0)", "text": "a gorgeous , witty , seductive movie number \($0) ."] }
            let long = try body(["model": "tiny", "method": "ig", "config": ["steps": 256], "examples": examples])
            async let explained = client.execute(uri: "/api/explain", method: .post, body: long) { $0.status }
            try await Task.sleep(for: .milliseconds(300))
            let fresh = try body(["model": "tiny", "examples": [["id": "new", "text": "an uncached review ."]]])
            try await client.execute(uri: "/api/predict", method: .post, body: fresh) { r in
                #expect(r.status == .tooManyRequests)
                #expect(r.headers[.retryAfter] == "1")
            }
            try await client.execute(uri: "/api/predict", method: .post, body: cached) { r in
                #expect(r.status == .ok)  // from the cache, without a place in the queue
            }
            #expect(try await explained == .ok)
        }
    }
}
