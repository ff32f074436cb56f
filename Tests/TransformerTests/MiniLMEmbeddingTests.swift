// Real weights: all-MiniLM-L6-v2 sentence embeddings against transformers + mean pooling on SST-2 dev.
import Foundation
import Tensor
import TestData
import Testing
import Transformer

@Suite struct MiniLMEmbeddingTests {
    /// Every SST-2 dev sentence: mean-pooled, L2-normalised embeddings within 1e-5 of the reference
    /// (weights-scripts/make_minilm_goldens.py), from the Hugging Face directory opened directly.
    @Test func sst2DevEmbeddingsMatchTransformers() throws {
        let model = try LoadedModel.load(try TestData.miniLM())
        #expect(model.pooling == .mean && model.normalize)
        let dev = try String(contentsOf: TestData.shared("sst2/dev.tsv"), encoding: .utf8)
        let sentences = dev.split(separator: "\n").dropFirst().map { line in
            String(line[..<line.lastIndex(of: "\t")!])
        }
        #expect(sentences.count == 872)
        let golden = try HDF5Reader(fixture("minilm_sst2_dev_embeddings.h5")).tensor("/embeddings")
        // The reference's token ids, per sentence (FNV-1a 64 of the decimal ids joined by spaces).
        let idDigests = try HDF5Reader(fixture("minilm_sst2_dev_embeddings.h5")).integers("/input_ids_digest").values
        let (_, encodings, _) = try model.encode(sentences)
        #expect(encodings.count == sentences.count && idDigests.count == sentences.count)
        let differing = zip(encodings, idDigests).filter { idsDigest($0.0.ids) != UInt64(bitPattern: Int64($0.1)) }
        #expect(differing.isEmpty, "\(differing.count) sentences tokenize differently")
        let ours = try model.sentenceEmbeddings(sentences)
        #expect(ours.shape == golden.shape)
        var worst: Float = 0, worstRow = 0
        for r in 0..<golden.shape[0] {
            let d = maxAbsDiff(
                Array(ours.scalars[(r * 384)..<((r + 1) * 384)]), Array(golden.scalars[(r * 384)..<((r + 1) * 384)]))
            if d > worst { (worst, worstRow) = (d, r) }
        }
        #expect(worst <= 1e-5, "worst sentence \(worstRow + 1): \(sentences[worstRow])")
    }
}

/// FNV-1a 64 of the UTF-8 bytes of `ids` in decimal joined by single spaces (the goldens' id digest).
func idsDigest(_ ids: [Int]) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in ids.map(String.init).joined(separator: " ").utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
    return h
}
