// config.json: `ModelConfig.decode` for BERT and for GPT-2 (JSONDecoder into BertConfig / GPT2Config, then
// `validate`), and the JSON readers the directory loader uses on it first (`readJSONObject`, `JSONValue`, the
// syntax-error locator), on arbitrary bytes.
//
// Checks: no crash; a one-line error for every refusal; a config that validates re-encodes and decodes to itself.
import FuzzSupport
import Foundation
@testable import Transformer

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = Data(bytes(data, size))
    for architecture in Checkpoint.Architecture.allCases {
        do {
            let config = try ModelConfig.decode(input, architecture: architecture, file: "config.json")
            let again: ModelConfig
            switch config {
            case .bert(let c): again = try ModelConfig.decode(JSONEncoder().encode(c), architecture: .bert, file: "again")
            case .gpt2(let c): again = try ModelConfig.decode(JSONEncoder().encode(c), architecture: .gpt2, file: "again")
            }
            fuzzCheck(again == config, "config does not survive encode/decode: \(config) vs \(again)")
        } catch let error as WeightError {
            checkMessage(error)
        } catch {
            fuzzFail("encoding a valid config failed: \(error)")
        }
    }
    do {
        let value = try JSONValue(parsing: input)
        _ = value.jsonText
    } catch {
        checkMessage(error)
    }
    let path = Scratch.write(input, to: "config.json")
    do { _ = try readJSONObject(path) } catch { checkMessage(error) }
    if let located = JSONSyntaxError(locating: input) { checkMessage(located) }
    return 0
}
