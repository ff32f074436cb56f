// `loupe serve`'s request decoding: the JSON body of every POST route decoded by the routes' own
// `LoupeServer.decode(_:from:)` (the nesting check, then a default `JSONDecoder`, then `APIError(decoding:)`), and the
// example selection that every route resolves next (`LoupeServer.examples`, over a workspace with one small dataset
// and no models).
//
// Input: arbitrary bytes, tried as the body of each route. Checks: no crash; every refusal is an `APIError` with a
// 4xx status and a one-line message, and renders as a JSON response.
import FuzzSupport
import Foundation
@testable import Server
import Workbench

let server: LoupeServer = {
    let examples = [Example(id: "0", text: "a fine film", label: "1"), Example(id: "1", text: "dull", label: "0")]
    do {
        return LoupeServer(
            workspace: try Workspace(models: [:], datasets: ["sst2": examples]), configuration: ServerConfiguration())
    } catch {
        fuzzFail("cannot build the workspace: \(error)")
    }
}()

/// Decodes `bytes` as the body `T`; a refusal must be a 4xx `APIError` with a one-line message.
func attempt<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) -> T? {
    do { return try server.decode(type, from: bytes) } catch { refused(error, "\(T.self)"); return nil }
}

func refused(_ error: any Error, _ what: String) {
    guard let e = error as? APIError else { fuzzFail("\(what): not an APIError: \(error)") }
    fuzzCheck((400..<500).contains(e.status.code), "\(what): status \(e.status.code) for \(e.message)")
    fuzzCheck(!e.message.isEmpty && !e.message.contains(where: \.isNewline), "\(what): message \(String(reflecting: e.message))")
    do { _ = try e.response() } catch { fuzzFail("\(what): the error does not render: \(error)") }
}

func select(_ s: Selection, limit: Int) {
    do { _ = try server.examples(s, limit: limit) } catch { refused(error, "examples") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = bytes(data, size)
    let limit = server.configuration.maxExamples
    if let b = attempt(PredictBody.self, input) {
        select(Selection(dataset: b.dataset, ids: b.ids, examples: b.examples), limit: limit)
    }
    if let b = attempt(ExplainBody.self, input) {
        select(Selection(dataset: b.dataset, ids: b.ids, examples: b.examples), limit: server.configuration.maxExplainExamples)
    }
    if let b = attempt(AttentionBody.self, input), let e = b.example { select(Selection(examples: [e]), limit: 1) }
    _ = attempt(MetricsRequest.self, input)
    if let b = attempt(CounterfactualsBody.self, input) {
        select(Selection(dataset: b.dataset, ids: b.ids, examples: b.examples), limit: server.configuration.maxExplainExamples)
    }
    if let b = attempt(TCAVBody.self, input) {
        select(Selection(dataset: b.dataset, ids: b.conceptIDs), limit: limit)
        select(Selection(dataset: b.dataset, ids: b.ids), limit: limit)
    }
    if attempt(ProjectBody.self, input) != nil, let options = attempt(ProjectionRequest.self, input) {
        do { try options.validateOptions() } catch { checkMessage(error) }
    }
    _ = attempt(AddExamplesBody.self, input)
    return 0
}
