// `loupe serve`: the LIT-class analysis server over named models and datasets (JSON API under /api).
import ArgumentParser
import Foundation
import Server
import Workbench

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve models and datasets for interactive analysis (JSON API; see docs/openapi.yaml).",
        discussion: """
            With no --model and --data it serves the SST-2 demo: the BERT-tiny of runs/bert-tiny/best.h5 (made by \
            the README's main command; its last.h5 as bert-tiny-last, its curves) on SST-2 dev ($LOUPE_DATA_DIR/sst2, else ../shared/data/sst2). Binds \
            127.0.0.1 unless --host says otherwise. --precision applies to every model's predictions, embeddings and \
            perturbation methods; gradient methods, HotFlip and TCAV run in float32. Ctrl-C stops it.
            """)

    @Option(help: "NAME=PATH: a model to serve (a Loupe .h5, a Hugging Face directory or a run directory); repeatable.")
    var model: [String] = []
    @Option(help: "NAME=PATH: a dataset (GLUE TSV, JSON Lines or text); repeatable.") var data: [String] = []
    @Option(help: "Address to bind (127.0.0.1: this machine only).") var host = "127.0.0.1"
    @Option(help: "Port.") var port = 5432
    @Option(help: "Directory for examples added through the API (kept across restarts).") var cacheDir: String?
    @Option(help: "Prediction cache size in MB.") var cacheMb = 512
    @Option(name: .customLong("run"), help: "A fine-tuning run directory whose metrics.jsonl the page plots as training curves; repeatable.")
    var runDirectories: [String] = []
    @Option(help: ArgumentHelp("Serve the page's files from this directory (development).", visibility: .hidden))
    var uiDir: String?
    @Flag(help: "Predict and embed every dataset before saying ready.") var warmStart = false
    @OptionGroup var precision: PrecisionOption
    @OptionGroup(title: "Limits") var limits: ServeLimits

    func pairs(_ values: [String], _ option: String) throws -> [(name: String, path: String)] {
        try values.map { v in
            guard let eq = v.firstIndex(of: "="), eq != v.startIndex, v.index(after: eq) != v.endIndex else {
                throw ValidationError("\(option) wants NAME=PATH, got \(v)")
            }
            return (String(v[..<eq]), String(v[v.index(after: eq)...]))
        }
    }

    func run() throws {
        var models = try pairs(model, "--model"), datasets = try pairs(data, "--data"), runs = runDirectories
        if models.isEmpty && datasets.isEmpty {
            let best = "runs/bert-tiny/best.h5"
            guard FileManager.default.fileExists(atPath: best) else {
                throw CLIError(
                    "the SST-2 demo serves \(best), which does not exist yet; make it with: "
                        + "swift run -c release loupe finetune --model bert-tiny --out runs/bert-tiny --overwrite")
            }
            let env = ProcessInfo.processInfo.environment["LOUPE_DATA_DIR"].flatMap { $0.isEmpty ? nil : $0 }
            models = [("bert-tiny", best)]
            // The run's last checkpoint too, for the page's model comparison, and its curves.
            if FileManager.default.fileExists(atPath: "runs/bert-tiny/last.h5") { models.append(("bert-tiny-last", "runs/bert-tiny/last.h5")) }
            if runs.isEmpty && FileManager.default.fileExists(atPath: "runs/bert-tiny/metrics.jsonl") { runs = ["runs/bert-tiny"] }
            datasets = [("sst2-dev", (env ?? "../shared/data") + "/sst2/dev.tsv")]
        }
        guard !models.isEmpty, !datasets.isEmpty else { throw ValidationError("give at least one --model and one --data") }
        if !["127.0.0.1", "localhost", "::1"].contains(host) {
            warn("binding \(host): the API is reachable from other machines and has no authentication")
        }
        let workspace = try library { () throws(WorkbenchError) in
            try Workspace.open(
                models: models, datasets: datasets, cacheBytes: cacheMb << 20,
                directory: cacheDir.map { URL(fileURLWithPath: $0) }, precision: precision.precision)
        }
        if warmStart {
            let start = Date()
            try library { () throws(WorkbenchError) in
                try workspace.warmStart { done, total in
                    FileHandle.standardError.write(Data("\rwarm start: \(done)/\(total) predictions".utf8))
                }
            }
            FileHandle.standardError.write(Data(String(format: "\nwarm start done in %.1f s\n", Date().timeIntervalSince(start)).utf8))
        }
        var configuration = ServerConfiguration()
        configuration.host = host
        configuration.port = port
        limits.apply(to: &configuration)
        configuration.uiDirectory = uiDir
        for dir in runs {
            guard FileManager.default.fileExists(atPath: dir + "/metrics.jsonl") else {
                throw ValidationError("--run \(dir): no metrics.jsonl there (a run directory of `loupe finetune --out`)")
            }
            configuration.runs.append((URL(fileURLWithPath: dir).standardized.lastPathComponent, dir))
        }
        let server = LoupeServer(workspace: workspace, configuration: configuration)
        let url = "http://\(host.contains(":") ? "[\(host)]" : host):\(port)/"
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var failure: (any Error)?
        Task {
            do {
                try await server.application {
                    FileHandle.standardOutput.write(Data("loupe serving on \(url)\n".utf8))
                }.runService()
            } catch {
                failure = error
            }
            done.signal()
        }
        done.wait()
        if let failure { throw CLIError("cannot serve on \(url): \(failure)") }
    }
}
