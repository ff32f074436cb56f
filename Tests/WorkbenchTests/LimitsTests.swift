// The documented limits (`Limits`): sizes over them are refused by name before any work, and lines over the text
// limit are skipped without being held, so a stream goes on after them.
import Foundation
import Interpret
import Testing
import Workbench

@Suite struct LimitsTests {
    /// Method sizes and texts over the limits are refused naming the field and the limit, before the model runs;
    /// the sampler's temperature must be a positive finite number (0, negative and NaN are refused by name).
    @Test func oversizedRequestsAreRefusedByName() throws {
        let m = try Workbench.loadModel(fixture("bert_tiny_cls.h5"))
        let limits = Limits.standard
        let text = [Example(id: "0", text: "a fine film")]
        let cases: [(MethodID, String, Int)] = [
            (.ig, "steps", limits.steps), (.lime, "samples", limits.samples), (.kernelShap, "samples", limits.samples),
            (.ig, "batch_size", limits.batchSize),
        ]
        for (method, field, limit) in cases {
            let request = ExplainRequest(examples: text, method: method, config: [field: .int(1_000_000_000)])
            let e = workbenchError { () throws(WorkbenchError) in _ = try Workbench.explain(request, model: m) }
            #expect(e?.field == field, "\(method) \(field): \(String(describing: e))")
            #expect(e?.description == "\(field) is 1000000000, over the limit of \(limit)")
        }
        let long = [Example(id: "0", text: String(repeating: "a", count: limits.textBytes + 1))]
        let e = workbenchError { () throws(WorkbenchError) in _ = try Workbench.predict(PredictRequest(examples: long), model: m) }
        #expect(e?.description == "text is \(limits.textBytes + 1), over the limit of \(limits.textBytes)")

        var finetune = FinetuneRequest()
        (finetune.model, finetune.out, finetune.epochs) = ("bert-tiny", "/nonexistent/run", 1_000_000_000_000_000_000)
        let f = workbenchError { () throws(WorkbenchError) in try finetune.validate() }
        #expect(f?.description == "epochs is 1000000000000000000, over the limit of \(limits.epochs)")

        let gpt2 = try Workbench.loadModel(fixture("gpt2_tiny.h5"))
        for t: Float in [0, -1, .nan, .infinity] {
            var r = GenerateRequest(examples: [Example(id: "0", text: "The dog")])
            r.temperature = t
            r.maxTokens = 3
            let e = workbenchError { () throws(WorkbenchError) in _ = try Workbench.generate(r, model: gpt2) }
            #expect(e?.field == "temperature", "temperature \(t): \(String(describing: e))")
        }
        var cold = GenerateRequest(examples: [Example(id: "0", text: "The dog")])
        cold.temperature = 1e-38
        cold.maxTokens = 5
        var greedy = cold
        greedy.temperature = nil
        #expect(try Workbench.generate(cold, model: gpt2).map(\.text) == Workbench.generate(greedy, model: gpt2).map(\.text))
    }

    /// A line over the text limit is an error naming the file, line and limit; it is read past in blocks (never
    /// held), and the lines after it read as usual.
    @Test func overlongLinesAreSkippedAndReported() throws {
        let limit = Limits.standard.textBytes
        let body = "first\n" + String(repeating: "x", count: limit + 70_000) + "\nthird\n" + String(repeating: "y", count: limit + 1)
        let p = try temporaryFile("lines.txt", body)
        var reader = try ExampleReader(path: p, format: .text)
        #expect(try reader.next()?.text == "first")
        let second = datasetError { () throws(DatasetError) in _ = try reader.next() }
        #expect(second == .lineTooLong(path: p, line: 2, limit: limit))
        #expect(second?.description == "\(p):2: the line is longer than the limit of \(limit) bytes")
        let third = try reader.next()
        #expect(third?.text == "third" && third?.id == "2")
        let last = datasetError { () throws(DatasetError) in _ = try reader.next() }
        #expect(last == .lineTooLong(path: p, line: 4, limit: limit))
        #expect(try reader.next() == nil)

        // A last line without "\n", then the end (the bookkeeping of the newline search must not outlive it).
        var short = try ExampleReader(path: try temporaryFile("short.txt", "one\ntwo"), format: .text)
        #expect(try short.readAll().map(\.text) == ["one", "two"])
        #expect(try short.next() == nil)
    }
}
