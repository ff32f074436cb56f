// GPT2Tokenizer against Hugging Face `tokenizers`: SST-2 ids, round trips, hard strings, pairs, padding.
import Foundation
import Testing
import Tokenizers

@Suite struct GPT2GoldenTests {
    @Test func theDog() throws {
        let gpt2 = try Reference.gpt2()
        let e = gpt2.encode("The dog")
        #expect(e.ids == [464, 3290])
        #expect(e.tokens == ["The", "Ġdog"])
        #expect(e.offsets == [Offset(0, 3), Offset(3, 7)])
        #expect(gpt2.vocabularySize == 50_257)
        #expect(gpt2.tokenToID("<|endoftext|>") == 50_256)
    }

    @Test(arguments: ["train", "dev"])
    func sst2IDsMatchHF(split: String) throws {
        let gpt2 = try Reference.gpt2()
        let sentences = try sst2Sentences(split)
        // train: per-sentence digests of HF's ids (see make_tokenizer_goldens.py); dev: the ids themselves.
        let report =
            split == "train"
            ? compareDigests(sentences, try digestLines("gpt2_sst2_train.fnv"), name: "gpt2 train") {
                gpt2.encode($0).ids
            }
            : compareIDs(sentences, try idLines("gpt2_sst2_dev.ids"), name: "gpt2 dev") { gpt2.encode($0).ids }
        #expect(report == nil, "\(report ?? "")")
    }

    @Test(arguments: ["train", "dev"])
    func sst2RoundTrips(split: String) throws {
        let gpt2 = try Reference.gpt2()
        var bad: [String] = []
        for s in try sst2Sentences(split) where gpt2.decode(gpt2.encode(s).ids) != s { bad.append(s) }
        #expect(bad.isEmpty, "\(bad.count) sentences do not round-trip, e.g. \(bad.prefix(3))")
    }

    @Test func hardStringsMatchHF() throws {
        let gpt2 = try Reference.gpt2()
        let hard = try HardStrings.loaded.get()
        for c in hard.strings + hard.random_strings {
            let e = gpt2.encode(c.text)
            #expect(e.ids == c.gpt2.ids, "ids of \(String(reflecting: c.text))")
            #expect(e.tokens == c.gpt2.tokens, "tokens of \(String(reflecting: c.text))")
            #expect(pairs(e.offsets) == c.gpt2.offsets, "offsets of \(String(reflecting: c.text))")
            #expect(e.wordIDs == c.gpt2.word_ids, "word ids of \(String(reflecting: c.text))")
            #expect(gpt2.decode(e.ids) == c.gpt2.decode)
            #expect(gpt2.decode(e.ids) == c.text, "round trip of \(String(reflecting: c.text))")
            #expect(gpt2.decode(e.ids, skipSpecialTokens: true) == c.gpt2.decode_skip)
            #expect(gpt2.tokenize(c.text) == c.gpt2.tokens)
        }
    }

    /// Pairs (concatenated, type ids 0 then 1), HF longest_first truncation, padding with <|endoftext|>.
    @Test func pairsTruncationPaddingMatchHF() throws {
        let vocab = try Paths.shared("vocab/gpt2-encoder.json"), merges = try Paths.shared("vocab/gpt2-vocab.bpe")
        let gpt2 = try GPT2Tokenizer(
            vocabularyFile: vocab, mergesFile: merges, options: .init(padToken: "<|endoftext|>"))
        for b in try HardStrings.loaded.get().gpt2_batches {
            let got = try gpt2.encodeBatch(
                b.pairs.map { $0[0] }, pairs: b.pairs.map { $0[1] },
                truncation: b.max_length.map { Truncation(maxLength: $0) }, padding: .longest)
            #expect(got.count == b.encodings.count && !got.isEmpty)
            for (g, w) in zip(got, b.encodings) {
                #expect(g.ids == w.ids, "max_length \(String(describing: b.max_length))")
                #expect(g.typeIDs == w.type_ids)
                #expect(g.attentionMask == w.attention_mask)
                #expect(pairs(g.offsets) == w.offsets)
                #expect(g.wordIDs == w.word_ids)
            }
        }
    }

    @Test func truncationStrategiesMatchHF() throws {
        let gpt2 = try Reference.gpt2()
        for c in try HardStrings.loaded.get().truncation_cases {
            checkTruncation(c, c.gpt2) { () throws(TokenizerError) in
                try gpt2.encode(c.text, pair: c.pair, truncation: c.truncation)
            }
        }
    }

    /// Round trips on text built to stress byte-level BPE: every scalar class, joiners, flags, lone
    /// combining marks, and a byte-level symbol written literally.
    @Test func roundTripsOnAwkwardText() throws {
        let gpt2 = try Reference.gpt2()
        var samples = [
            "", " ", "  ", "\n", "\r\n", "Ġ", "ĠĠx", "<|endoftext", "<|endoftext|", "<|endoftext|>x<|endoftext|>",
            "\u{301}", "e\u{301}\u{302}", "👩‍👩‍👧‍👦", "🇫🇷🇩🇪", "\u{FEFF}", "\u{10FFFF}", "\0", "a\tb\u{B}c\u{C}d",
            String(repeating: "💥", count: 300), String(repeating: " ", count: 1000) + "x",
        ]
        var s = ""
        for c in stride(from: 0x20, to: 0x3000, by: 7) { if let u = Unicode.Scalar(c) { s.unicodeScalars.append(u) } }
        samples.append(s)
        for t in samples {
            #expect(gpt2.decode(gpt2.encode(t).ids) == t, "\(String(reflecting: t))")
        }
    }
}
