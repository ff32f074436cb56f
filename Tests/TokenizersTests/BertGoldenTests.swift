// BertTokenizer against Hugging Face: SST-2 ids, SQuAD questions, hard strings, pairs, truncation, padding.
import Foundation
import Testing
import Tokenizers

@Suite struct BertGoldenTests {
    @Test(arguments: ["train", "dev"])
    func sst2IDsMatchHF(split: String) throws {
        let bert = try Reference.bert()
        let sentences = try sst2Sentences(split)
        #expect(split != "train" || sentences.count == 67_349)
        // train: per-sentence digests of HF's ids (see make_tokenizer_goldens.py); dev: the ids themselves.
        let report =
            split == "train"
            ? compareDigests(sentences, try digestLines("bert_sst2_train.fnv"), name: "bert train") {
                bert.encode($0).ids
            }
            : compareIDs(sentences, try idLines("bert_sst2_dev.ids"), name: "bert dev") { bert.encode($0).ids }
        #expect(report == nil, "\(report ?? "")")
    }

    /// The 10,570 SQuAD v1.1 dev questions tokenized by Google's Python BERT tokenizer (ids without
    /// [CLS]/[SEP]), plus its BasicTokenizer words, which are normalize + preTokenize here.
    @Test func squadQuestionsMatchReference() throws {
        let bert = try Reference.bert()
        struct Question: Decodable { let original: String; let basic: [String]; let wordpiece: [String] }
        let questions = try JSONDecoder().decode(
            [Question].self,
            from: Data(
                contentsOf: URL(
                    fileURLWithPath: Paths.shared("reference/tokenizer/bert_squad_dev_questions_tokens.json"))))
        let ids = try JSONDecoder().decode(
            [[Int]].self,
            from: Data(
                contentsOf: URL(fileURLWithPath: Paths.shared("reference/tokenizer/bert_squad_dev_questions_ids.json")))
        )
        #expect(questions.count == 10_570 && ids.count == 10_570)
        var bad: [String] = []
        for (q, expected) in zip(questions, ids) {
            let enc = bert.encode(q.original, addSpecialTokens: false)
            let basic = bert.preTokenize(bert.normalize(q.original)).map(\.0)
            if enc.ids != expected || enc.tokens != q.wordpiece || basic != q.basic {
                bad.append(
                    "\(String(reflecting: q.original)): ids \(enc.ids) vs \(expected), tokens \(enc.tokens), basic \(basic)"
                )
            }
        }
        #expect(bad.isEmpty, "\(bad.count) questions differ, e.g. \(bad.prefix(3))")
    }

    @Test func hardStringsMatchHF() throws {
        let bert = try Reference.bert()
        let hard = try HardStrings.loaded.get()
        for c in hard.strings + hard.random_strings {
            let e = bert.encode(c.text)
            #expect(e.ids == c.bert.ids, "ids of \(String(reflecting: c.text))")
            #expect(e.tokens == c.bert.tokens, "tokens of \(String(reflecting: c.text))")
            #expect(pairs(e.offsets) == c.bert.offsets, "offsets of \(String(reflecting: c.text))")
            #expect(e.typeIDs == c.bert.type_ids)
            #expect(e.wordIDs == c.bert.word_ids, "word ids of \(String(reflecting: c.text))")
            #expect(e.attentionMask == Array(repeating: 1, count: e.count))
            #expect(bert.tokenize(c.text) == c.bert.tokenize, "tokenize(\(String(reflecting: c.text)))")
            #expect(bert.decode(e.ids) == c.bert.decode, "decode of \(String(reflecting: c.text))")
            #expect(
                bert.decode(e.ids, skipSpecialTokens: true) == c.bert.decode_skip,
                "decode(skip) of \(String(reflecting: c.text))")
        }
    }

    @Test func pairsMatchHF() throws {
        let bert = try Reference.bert()
        for c in try HardStrings.loaded.get().bert_pairs {
            let e = try bert.encode(c.text, pair: c.pair)
            #expect(e.ids == c.bert.ids && e.tokens == c.bert.tokens, "\(c.text) / \(c.pair)")
            #expect(e.typeIDs == c.bert.type_ids)
            #expect(pairs(e.offsets) == c.bert.offsets)
            #expect(e.wordIDs == c.bert.word_ids)
            #expect(
                e.sequenceIDs.compactMap { $0 }
                    == e.typeIDs.enumerated().filter { e.sequenceIDs[$0.offset] != nil }.map(\.element))
        }
    }

    /// Batches of singles and pairs, truncated to several lengths (HF longest_first) and padded to the longest.
    @Test func truncationAndPaddingMatchHF() throws {
        let bert = try Reference.bert()
        for b in try HardStrings.loaded.get().bert_batches {
            let trunc = b.max_length.map { Truncation(maxLength: $0) }
            let single = try bert.encodeBatch(b.firsts, truncation: trunc, padding: .longest)
            let paired = try bert.encodeBatch(b.firsts, pairs: b.seconds, truncation: trunc, padding: .longest)
            #expect(single.count == b.single.count && paired.count == b.pairs.count && !single.isEmpty)
            for (got, want) in zip(single + paired, b.single + b.pairs) {
                #expect(got.ids == want.ids, "max_length \(String(describing: b.max_length))")
                #expect(got.typeIDs == want.type_ids)
                #expect(got.attentionMask == want.attention_mask)
                #expect(pairs(got.offsets) == want.offsets)
                #expect(got.wordIDs == want.word_ids)
            }
        }
    }

    /// 400 seeded cases over all three strategies, including HF's errors (onlySecond without a pair,
    /// a sequence too short to cut).
    @Test func truncationStrategiesMatchHF() throws {
        let bert = try Reference.bert()
        for c in try HardStrings.loaded.get().truncation_cases {
            checkTruncation(c, c.bert) { () throws(TokenizerError) in
                try bert.encode(c.text, pair: c.pair, truncation: c.truncation)
            }
        }
    }

    @Test func wordsGroupPiecesBack() throws {
        let bert = try Reference.bert()
        let text = "Unaffable tokenizers, héllo!"
        let e = bert.encode(text)
        let scalars = Array(text.unicodeScalars)
        let words = e.words().map { w in String(String.UnicodeScalarView(scalars[w.offset.start..<w.offset.end])) }
        #expect(words == ["Unaffable", "tokenizers", ",", "héllo", "!"])
        #expect(e.wordToTokens(0) == 1..<4)
        #expect(e.tokens[1..<4] == ["una", "##ffa", "##ble"])
        #expect(e.wordToChars(3) == Offset(22, 27))
        #expect(e.wordToTokens(9) == nil)
    }

    @Test func optionsChangeNormalization() throws {
        let vocab = try TextFile.readLines(Paths.shared("vocab/bert-base-uncased-vocab.txt"))
        let keepAccents = try BertTokenizer(vocabulary: vocab, options: .init(doLowerCase: true, stripAccents: false))
        #expect(keepAccents.normalize("Héllo") == "héllo")
        let cased = try BertTokenizer(vocabulary: vocab, options: .init(doLowerCase: false))
        #expect(cased.normalize("Héllo") == "Héllo")
        #expect(cased.tokenize("Héllo") == ["[UNK]"])
        let noCJK = try BertTokenizer(vocabulary: vocab, options: .init(tokenizeChineseChars: false))
        #expect(noCJK.normalize("a中b") == "a中b")
        #expect(try Reference.bert().normalize("a中b") == "a 中 b")
        let short = try BertTokenizer(vocabulary: vocab, options: .init(maxInputCharsPerWord: 3))
        #expect(short.tokenize("cat dogs") == ["cat", "[UNK]"])
    }

    @Test func lookupsAndSpecialIDs() throws {
        let bert = try Reference.bert()
        #expect(bert.vocabularySize == 30_522)
        #expect((bert.unkID, bert.clsID, bert.sepID, bert.padID, bert.maskID) == (100, 101, 102, 0, 103))
        #expect(bert.convertTokensToIds(["the", "##ing", "nope-not-a-token"]) == [1996, 2075, nil])
        #expect(bert.convertIdsToTokens([1996, -1, 30_522]) == ["the", nil, nil])
        #expect(bert.tokenToID("[MASK]") == 103)
    }
}
