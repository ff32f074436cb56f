// Model-level input handling: truncation (or refusal), empty texts, and the wrong model for a task.
import Foundation
import Tensor
import Testing
import Transformer

@Suite struct ModelInputTests {
    @Test func overlongTextIsTruncatedToThePositionsOrRefused() throws {
        let model = try LoadedModel.load(fixture("bert_tiny_cls.h5"))
        let long = Array(repeating: "good", count: 400).joined(separator: " ")
        let (batch, encodings, truncated) = try model.encode([long, "fine"])
        #expect(truncated == [true, false])
        #expect(batch.length == model.maxLength && encodings[0].count == model.maxLength)
        #expect(encodings[0].tokens.last == "[SEP]")
        guard case .bert(let bert) = model.network else { Issue.record("not BERT"); return }
        #expect(bert(batch).logits!.shape == [2, 2])
        #expect(throws: ModelError.self) { try model.encode([long], truncate: false) }
        do {
            _ = try model.encode(["ok", long], truncate: false)
        } catch {
            #expect(error.description.contains("input 2 has") && error.description.contains("128 positions"))
        }
    }

    @Test func emptyTextStillRuns() throws {
        let model = try LoadedModel.load(fixture("bert_tiny_cls.h5"))
        let (batch, encodings, _) = try model.encode([""])
        #expect(encodings[0].tokens == ["[CLS]", "[SEP]"])
        guard case .bert(let bert) = model.network else { Issue.record("not BERT"); return }
        let p = softmax(bert(batch).logits!).scalars
        #expect(p.count == 2 && abs(p[0] + p[1] - 1) < 1e-6)
        let gpt = try LoadedModel.load(fixture("gpt2_tiny.h5"))
        let (gb, ge, _) = try gpt.encode(["", "The dog"])
        let n = ge[1].count
        #expect(ge[0].ids.isEmpty && n > 0 && gb.length == n)
        #expect(gb.attentionMask == [Int](repeating: 0, count: 2 * n - n) + [Int](repeating: 1, count: n))
        guard case .gpt2(let g) = gpt.network else { Issue.record("not GPT-2"); return }
        var cache: KVCache? = nil
        let logits = g(gb, cache: &cache, lastPositionOnly: true).logits!
        #expect(logits.scalars.allSatisfy { $0.isFinite })
    }

    @Test func embeddingsNeedBERT() throws {
        let gpt = try LoadedModel.load(fixture("gpt2_tiny.h5"))
        do {
            _ = try gpt.sentenceEmbeddings(["x"])
            Issue.record("GPT-2 gave sentence embeddings")
        } catch {
            #expect(error.description.contains("needs a BERT model") && error.description.contains("gpt2_tiny.h5"))
        }
    }
}
