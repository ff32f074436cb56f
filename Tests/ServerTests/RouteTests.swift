// Every /api route through Hummingbird's test client: answers, the JSON error shape, limits, the cache and the queue.
import Foundation
import Hummingbird
import HummingbirdTesting
import Interpret
import Server
import Testing
import Workbench

let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures")

func makeServer(directory: URL? = nil, _ edit: (inout ServerConfiguration) -> Void = { _ in }) throws -> LoupeServer {
    let workspace = try Workspace.open(
        models: [("tiny", fixtures.appendingPathComponent("bert_tiny_cls.h5").path),
                 ("gpt2", fixtures.appendingPathComponent("gpt2_tiny.h5").path)],
        datasets: [("reviews", fixtures.appendingPathComponent("cli/reviews.tsv").path)], directory: directory)
    var c = ServerConfiguration()
    edit(&c)
    return LoupeServer(workspace: workspace, configuration: c)
}

func json(_ response: TestResponse) throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any] ?? [:]
}

func body(_ object: Any) throws -> ByteBuffer {
    ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: object))
}

/// The error object of a 4xx answer.
func apiError(_ r: TestResponse) throws -> (code: String, message: String, field: String?) {
    let e = try json(r)["error"] as? [String: Any] ?? [:]
    return (e["code"] as? String ?? "", e["message"] as? String ?? "", e["field"] as? String)
}

@Suite struct RouteTests {
    @Test func infoListsModelsMethodsAndDatasets() async throws {
        let app = Application(router: try makeServer().router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/api/info", method: .get) { r in
                #expect(r.status == .ok)
                let info = try json(r)
                let models = info["models"] as? [[String: Any]] ?? []
                let tiny = models.first { $0["name"] as? String == "tiny" } ?? [:]
                #expect(tiny["labels"] as? [String] == ["negative", "positive"])
                #expect((tiny["operations"] as? [String] ?? []).contains("metrics"))
                let methods = tiny["methods"] as? [[String: Any]] ?? []
                let ig = methods.first { $0["id"] as? String == "ig" } ?? [:]
                let fields = (ig["spec"] as? [String: Any])?["fields"] as? [[String: Any]] ?? []
                #expect(fields.contains { $0["name"] as? String == "steps" })
                let datasets = info["datasets"] as? [[String: Any]] ?? []
                #expect(datasets.first?["size"] as? Int == 8)
            }
        }
    }

    @Test func examplesArePaged() async throws {
        let app = Application(router: try makeServer().router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/api/datasets/reviews/examples?offset=2&limit=3", method: .get) { r in
                let page = try json(r)
                #expect((page["examples"] as? [[String: Any]])?.map { $0["id"] as? String } == ["2", "3", "4"])
                #expect(page["total"] as? Int == 8)
            }
            try await client.execute(uri: "/api/datasets/nope/examples", method: .get) { r in
                #expect(r.status == .notFound)
                try #expect(apiError(r).field == "dataset")
            }
            try await client.execute(uri: "/api/datasets/reviews/examples?offset=-1", method: .get) { r in
                #expect(r.status == .badRequest)
                try #expect(apiError(r).field == "offset")
            }
        }
    }

    @Test func predictIsCachedAndNamesBadFields() async throws {
        let server = try makeServer()
        let app = Application(router: server.router())
        try await app.test(.router) { client in
            let request = try body(["model": "tiny", "dataset": "reviews", "ids": ["0", "5"]])
            try await client.execute(uri: "/api/predict", method: .post, body: request) { r in
                #expect(r.status == .ok)
                let p = try json(r)["predictions"] as? [[String: Any]] ?? []
                #expect(p.map { $0["id"] as? String } == ["0", "5"])
            }
            let before = server.workspace.cacheStatistics
            try await client.execute(uri: "/api/predict", method: .post, body: request) { r in #expect(r.status == .ok) }
            let after = server.workspace.cacheStatistics
            #expect(after.hits == before.hits + 2 && after.misses == before.misses)  // no model work the second time
            // Examples not in a dataset are analysed too, with new ids.
            try await client.execute(
                uri: "/api/predict", method: .post, body: try body(["model": "tiny", "examples": [["text": "a new film"]]])
            ) { r in
                let p = try json(r)["predictions"] as? [[String: Any]] ?? []
                #expect((p.first?["id"] as? String)?.hasPrefix("new-") == true)
            }
            for (payload, status, code, field) in [
                (try body(["model": "nope", "dataset": "reviews"]), HTTPResponse.Status.notFound, "not_found", "model"),
                (try body(["dataset": "reviews"]), .badRequest, "invalid_request", "model"),
                (try body(["model": 3, "dataset": "reviews"]), .badRequest, "invalid_request", "model"),
                (try body(["model": "tiny", "dataset": "reviews", "ids": ["99"]]), .notFound, "not_found", "ids"),
                (ByteBuffer(string: "{\"model\": "), .badRequest, "invalid_json", nil),
                (ByteBuffer(string: String(repeating: "[", count: 600)), .badRequest, "invalid_json", nil),
            ] as [(ByteBuffer, HTTPResponse.Status, String, String?)] {
                try await client.execute(uri: "/api/predict", method: .post, body: payload) { r in
                    #expect(r.status == status)
                    let e = try apiError(r)
                    #expect(e.code == code && e.field == field, "\(e)")
                }
            }
        }
    }

    @Test func limitsAreNamed() async throws {
        let app = Application(router: try makeServer { $0.maxExamples = 2; $0.maxBodyBytes = 2000 }.router())
        try await app.test(.router) { client in
            try await client.execute(
                uri: "/api/predict", method: .post, body: try body(["model": "tiny", "dataset": "reviews"])
            ) { r in
                #expect(r.status == .badRequest)
                try #expect(apiError(r).code == "limit_exceeded" && apiError(r).field == "examples")
            }
            let big = try body(["model": "tiny", "examples": [["text": String(repeating: "a ", count: 2000)]]])
            try await client.execute(uri: "/api/predict", method: .post, body: big) { r in
                #expect(r.status == .contentTooLarge)
            }
            try await client.execute(
                uri: "/api/explain", method: .post,
                body: try body(["model": "tiny", "method": "ig", "config": ["steps": 100_000], "examples": [["text": "a"]]])
            ) { r in
                try #expect(r.status == .badRequest && apiError(r).field == "steps")
            }
            // SmoothGrad over IG runs IG per noisy copy: the product of samples and steps is capped.
            try await client.execute(
                uri: "/api/explain", method: .post,
                body: try body([
                    "model": "tiny", "method": "smoothgrad", "config": ["base": "ig", "samples": 200, "steps": 32],
                    "examples": [["text": "a"]],
                ])
            ) { r in
                try #expect(r.status == .badRequest && apiError(r).field == "samples × steps")
            }
            try await client.execute(
                uri: "/api/explain", method: .post,
                body: try body([
                    "model": "tiny", "method": "smoothgrad", "config": ["base": "ig", "samples": 2, "steps": 4],
                    "examples": [["text": "a fine film"]],
                ])
            ) { r in
                #expect(r.status == .ok)
                let e = (try json(r)["explanations"] as? [[String: Any]])?.first ?? [:]
                #expect((e["scores"] as? [Double])?.count == 5)
            }
        }
    }

    /// The API's explanation is the library's (the same object `loupe explain --format json` prints).
    @Test func explainMatchesTheLibrary() async throws {
        let server = try makeServer()
        let app = Application(router: server.router())
        let direct = try Workbench.explain(
            ExplainRequest(examples: [Example(id: "x", text: "a gorgeous film")], method: .ig, config: ["steps": .int(8)]),
            model: server.workspace.model("tiny"))[0]
        try await app.test(.router) { client in
            let request = try body([
                "model": "tiny", "method": "ig", "config": ["steps": 8], "examples": [["id": "x", "text": "a gorgeous film"]],
            ])
            try await client.execute(uri: "/api/explain", method: .post, body: request) { r in
                #expect(r.status == .ok)
                let e = (try json(r)["explanations"] as? [[String: Any]])?.first ?? [:]
                #expect(e["id"] as? String == "x")
                // The same computation; the JSON round trip may move the last digit.
                let scores = e["scores"] as? [Double] ?? []
                let expected = direct.salience?.scores ?? []
                #expect(scores.count == expected.count)
                for (a, b) in zip(scores, expected) { #expect(abs(a - b) <= 1e-12 * max(1, abs(b))) }
            }
            for (payload, field) in [
                (["model": "tiny", "method": "magic", "examples": [["text": "a"]]] as [String: Any], "method"),
                (["model": "tiny", "method": "ig", "config": ["steps": 0], "examples": [["text": "a"]]], "steps"),
                (["model": "tiny", "method": "lime", "config": ["sample": 3], "examples": [["text": "a"]]], "sample"),
                (["model": "tiny", "method": "ig", "score": "odds", "examples": [["text": "a"]]], "score"),
            ] {
                try await client.execute(uri: "/api/explain", method: .post, body: try body(payload)) { r in
                    #expect(r.status == .badRequest)
                    try #expect(apiError(r).field == field)
                }
            }
            // GPT-2 through the same route: sequence salience.
            try await client.execute(
                uri: "/api/explain", method: .post,
                body: try body(["model": "gpt2", "method": "grad-norm", "max_tokens": 2, "examples": [["text": "The dog"]]])
            ) { r in
                let e = (try json(r)["explanations"] as? [[String: Any]])?.first ?? [:]
                #expect((e["targets"] as? [Any])?.count == 2)
            }
        }
    }

    @Test func attentionAndMetrics() async throws {
        let app = Application(router: try makeServer().router())
        try await app.test(.router) { client in
            try await client.execute(
                uri: "/api/attention", method: .post, body: try body(["model": "tiny", "dataset": "reviews", "id": "0"])
            ) { r in
                #expect(r.status == .ok)
                let a = try json(r)
                #expect(a["layers"] as? [Int] == [1, 2])
                let maps = a["attention"] as? [[[[Double]]]] ?? []
                let tokens = (a["tokens"] as? [String] ?? []).count
                #expect(maps.count == 2 && maps[0].first?.count == tokens)
                // Each query row is a distribution.
                for row in maps[0][0] { #expect(abs(row.reduce(0, +) - 1) < 1e-4) }
            }
            try await client.execute(
                uri: "/api/attention", method: .post, body: try body(["model": "tiny", "example": ["text": "a film"], "layer": 9])
            ) { r in
                try #expect(r.status == .badRequest && apiError(r).field == "layer")
            }
            try await client.execute(
                uri: "/api/metrics", method: .post,
                body: try body(["model": "tiny", "dataset": "reviews", "slices": ["first": ["0", "1", "2"]]])
            ) { r in
                #expect(r.status == .ok)
                let m = try json(r)
                #expect((m["metrics"] as? [String: Any])?["examples"] as? Int == 8)
                #expect(((m["slices"] as? [String: Any])?["first"] as? [String: Any])?["examples"] as? Int == 3)
                let curve = m["pr_curve"] as? [[String: Any]] ?? []
                #expect(!curve.isEmpty && m["best_threshold"] != nil)
            }
            try await client.execute(
                uri: "/api/metrics", method: .post, body: try body(["model": "gpt2", "dataset": "reviews"])
            ) { r in #expect(r.status == .badRequest) }
        }
    }

    /// Added examples get new ids, keep their parent, and survive a restart through the cache directory.
    @Test func addedExamplesPersist() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-serve-\(UUID().uuidString)")
        let app = Application(router: try makeServer(directory: dir).router())
        try await app.test(.router) { client in
            try await client.execute(
                uri: "/api/examples", method: .post,
                body: try body(["dataset": "reviews", "examples": [["text": "an edited film", "parent": "3", "label": "1"]]])
            ) { r in
                #expect(r.status == .ok)
                let added = (try json(r)["examples"] as? [[String: Any]])?.first ?? [:]
                #expect(added["id"] as? String == "reviews:8" && added["parent"] as? String == "3")
            }
            try await client.execute(
                uri: "/api/examples", method: .post, body: try body(["dataset": "nope", "examples": [["text": "x"]]])
            ) { r in #expect(r.status == .notFound) }
        }
        // A crash in the middle of an append leaves a partial line: it is skipped, the server still starts.
        let file = dir.appendingPathComponent("added-examples.jsonl")
        let h = try FileHandle(forWritingTo: file)
        try h.seekToEnd()
        try h.write(contentsOf: Data("{\"id\": \"reviews:9\", \"te".utf8))
        try h.close()
        let again = try makeServer(directory: dir)
        let texts = try again.workspace.examples("reviews").map(\.text)
        #expect(texts.count == 9 && texts.last == "an edited film")
        // Predictions are kept on disk too: a restarted server answers from them without model work.
        let examples = try again.workspace.examples("reviews")
        _ = try again.workspace.predict(model: "tiny", examples: examples, options: PredictRequest(examples: []))
        let third = try makeServer(directory: dir)
        let p = try third.workspace.predict(model: "tiny", examples: examples, options: PredictRequest(examples: []))
        #expect(p.count == 9 && third.workspace.cacheStatistics.misses == 0 && third.workspace.cacheStatistics.hits == 9)
        // The next append starts on a new line: it survives a restart.
        _ = try third.workspace.add([Example(id: "", text: "after the crash")], to: "reviews")
        #expect(try makeServer(directory: dir).workspace.examples("reviews").map(\.text).last == "after the crash")
    }

    @Test func projections() async throws {
        let app = Application(router: try makeServer().router())
        try await app.test(.router) { client in
            for method in ["pca", "umap"] {
                try await client.execute(
                    uri: "/api/project", method: .post,
                    body: try body(["model": "tiny", "dataset": "reviews", "method": method, "dims": 3, "n_neighbors": 3])
                ) { r in
                    #expect(r.status == .ok)
                    let points = try json(r)["points"] as? [[String: Any]] ?? []
                    #expect(points.count == 8 && points.allSatisfy { ($0["coordinates"] as? [Double])?.count == 3 })
                }
            }
            try await client.execute(
                uri: "/api/project", method: .post, body: try body(["model": "tiny", "dataset": "reviews", "dims": 5])
            ) { r in
                try #expect(r.status == .badRequest && apiError(r).field == "dims")
            }
        }
    }

    @Test func counterfactualsAndTCAV() async throws {
        let app = Application(router: try makeServer().router())
        try await app.test(.router) { client in
            let request = try body([
                "model": "tiny", "generator": "word-replacer", "config": ["substitutions": "great -> terrible"],
                "examples": [["id": "g", "text": "a great film"]],
            ])
            try await client.execute(uri: "/api/counterfactuals", method: .post, body: request) { r in
                #expect(r.status == .ok)
                let c = (try json(r)["counterfactuals"] as? [[String: Any]])?.first ?? [:]
                let e = c["example"] as? [String: Any] ?? [:]
                #expect(e["text"] as? String == "a terrible film" && e["parent"] as? String == "g")
                #expect((c["prediction"] as? [String: Any])?["label"] != nil)
            }
            try await client.execute(
                uri: "/api/counterfactuals", method: .post,
                body: try body(["model": "tiny", "generator": "paraphrase", "examples": [["text": "a film"]]])
            ) { r in
                try #expect(r.status == .badRequest && apiError(r).field == "generator")
            }
            // Six more examples so that the random set has enough.
            let more = (0..<6).map { ["text": "filler sentence number \($0) about a film"] }
            try await client.execute(
                uri: "/api/examples", method: .post, body: try body(["dataset": "reviews", "examples": more])
            ) { r in #expect(r.status == .ok) }
            let tcav = try body([
                "model": "tiny", "dataset": "reviews", "concept_ids": ["0", "2", "4", "6"],
                "random_ids": ["reviews:8", "reviews:9", "reviews:10", "reviews:11", "reviews:12", "reviews:13"],
                "class": "positive", "runs": 3,
            ])
            try await client.execute(uri: "/api/tcav", method: .post, body: tcav) { r in
                #expect(r.status == .ok)
                let t = try json(r)
                let score = t["score"] as? Double ?? -1
                #expect(score >= 0 && score <= 1 && t["p_value"] != nil)
            }
            try await client.execute(
                uri: "/api/tcav", method: .post,
                body: try body(["model": "tiny", "dataset": "reviews", "concept_ids": ["0"], "random_ids": ["1"], "class": "positive"])
            ) { r in #expect(r.status == .badRequest) }
        }
    }

    /// With room for one request, a second one while the first computes is refused with 429, not queued.
    @Test func fullQueueAnswers429() async throws {
        let app = Application(router: try makeServer { $0.queueLimit = 1 }.router())
        try await app.test(.router) { client in
            let slow = try body([
                "model": "tiny", "method": "lime", "config": ["samples": 4000], "dataset": "reviews",
            ])
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                group.addTask { try await client.execute(uri: "/api/explain", method: .post, body: slow) { $0.status } }
                try await Task.sleep(for: .milliseconds(300))
                group.addTask {
                    try await client.execute(
                        uri: "/api/predict", method: .post, body: try body(["model": "tiny", "dataset": "reviews"])
                    ) { $0.status }
                }
                var out: [HTTPResponse.Status] = []
                for try await s in group { out.append(s) }
                return out
            }
            #expect(statuses.contains(.ok) && statuses.contains(.tooManyRequests), "\(statuses)")
        }
    }
}
