// The page's files as the binary serves them (every file of Public/, byte for byte, with its type and the CSP),
// and /api/runs (a run's metrics.jsonl as curves).
import Foundation
import Hummingbird
import HummingbirdTesting
import Server
import Testing
import Workbench

let publicDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Sources/Server/Public")

@Suite struct PageTests {
    /// Every file under Public/, by its path relative to it.
    func publicFiles() -> [String] {
        let e = FileManager.default.enumerator(atPath: publicDirectory.path)
        var out: [String] = []
        while let name = e?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: publicDirectory.appendingPathComponent(name).path, isDirectory: &isDirectory)
            if !isDirectory.boolValue { out.append(name) }
        }
        return out.sorted()
    }

    @Test func everyFileIsEmbeddedAndServed() async throws {
        let files = publicFiles()
        #expect(files.contains("index.html") && files.contains("app.js") && files.contains("modules/table.js"))
        let app = Application(router: try makeServer().router())
        try await app.test(.router) { client in
            for name in files {
                try await client.execute(uri: "/ui/\(name)", method: .get) { r in
                    #expect(r.status == .ok, "\(name) is not embedded: add it to StaticFiles.embedded")
                    guard r.status == .ok else { return }
                    let disk = try Data(contentsOf: publicDirectory.appendingPathComponent(name))
                    let same = Data(r.body.readableBytesView) == disk
                    #expect(same, "\(name) differs from the embedded copy (rebuild)")
                    let type = r.headers[.contentType] ?? ""
                    if name.hasSuffix(".js") { #expect(type.hasPrefix("text/javascript")) }
                    if name.hasSuffix(".css") { #expect(type.hasPrefix("text/css")) }
                    #expect(r.headers[.contentSecurityPolicy]?.contains("default-src 'self'") == true)
                }
            }
            try await client.execute(uri: "/", method: .get) { r in
                #expect(r.status == .ok)
                #expect(r.headers[.contentType]?.hasPrefix("text/html") == true)
                #expect(String(buffer: r.body).contains("/ui/app.js"))
            }
        }
    }

    @Test func unknownOrEscapingNamesAre404() async throws {
        let app = Application(router: try makeServer().router())
        try await app.test(.router) { client in
            for uri in ["/ui/nope.js", "/ui/../Package.swift", "/ui/%2e%2e/Package.swift", "/ui/modules/../../StaticFiles.swift"] {
                try await client.execute(uri: uri, method: .get) { r in
                    #expect(r.status == .notFound, "\(uri)")
                    #expect(!String(buffer: r.body).contains("import"), "\(uri) served a source file")
                }
            }
        }
    }

    @Test func aDevelopmentDirectoryServesOnlyItsOwnFiles() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-ui-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("edited".utf8).write(to: dir.appendingPathComponent("app.js"))
        let app = Application(router: try makeServer { $0.uiDirectory = dir.path }.router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/ui/app.js", method: .get) { r in #expect(String(buffer: r.body) == "edited") }
            try await client.execute(uri: "/ui/../\(dir.lastPathComponent)/app.js", method: .get) { r in
                #expect(r.status == .notFound)
            }
        }
    }

    @Test func runsServeMetricsAndNameBadLines() async throws {
        let run = fixtures.appendingPathComponent("ui/run").path
        let app = Application(router: try makeServer { $0.runs = [("run", run)] }.router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/api/runs", method: .get) { r in
                #expect(r.status == .ok)
                let runs = try json(r)["runs"] as? [[String: Any]] ?? []
                let evaluations = runs.first?["evaluations"] as? [[String: Any]] ?? []
                #expect(runs.first?["name"] as? String == "run")
                #expect(evaluations.map { $0["step"] as? Int } == [2105, 4210, 6315])
                #expect(evaluations.last?["accuracy"] as? Double == 0.8061926605504587)
            }
        }
        // A line cut by a write in progress is left for the next read; a bad line before it is an error naming it.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8)
        try Data((good + "{\"step\": 99").utf8).write(to: dir.appendingPathComponent("metrics.jsonl"))
        #expect(try Workbench.trainingRun(name: "r", directory: dir.path).evaluations.count == 3)
        try Data(("not json\n" + good).utf8).write(to: dir.appendingPathComponent("metrics.jsonl"))
        #expect {
            try Workbench.trainingRun(name: "r", directory: dir.path)
        } throws: { error in
            "\(error)".contains("metrics.jsonl:1")
        }
    }

    /// Examples added from the page without a label (edits, counterfactuals) are left out of metrics and counted,
    /// rather than failing the whole call.
    @Test func metricsLeaveOutUnlabeledExamples() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-cache-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let app = Application(router: try makeServer(directory: dir).router())
        try await app.test(.router) { client in
            var added = ""
            try await client.execute(
                uri: "/api/examples", method: .post,
                body: try body(["dataset": "reviews", "examples": [["text": "a new film", "parent": "0"]]])
            ) { r in
                added = ((try json(r)["examples"] as? [[String: Any]])?.first?["id"] as? String) ?? ""
            }
            #expect(!added.isEmpty)
            try await client.execute(
                uri: "/api/metrics", method: .post,
                body: try body(["model": "tiny", "dataset": "reviews", "slices": ["s": ["0", "1", added]]])
            ) { r in
                #expect(r.status == .ok)
                let m = try json(r)
                #expect((m["metrics"] as? [String: Any])?["examples"] as? Int == 8)
                #expect(m["unlabeled"] as? Int == 1)
                #expect(((m["slices"] as? [String: Any])?["s"] as? [String: Any])?["examples"] as? Int == 2)
            }
        }
    }
}
