// Hostile tokenizer files: FIFOs and oversized files refused from stat, merges that repeat or chain into "cycles".
import Foundation
import Testing
import Tokenizers

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct HostileTokenizerFileTests {
    /// A FIFO is refused by `stat` before `open` (which would wait for a writer forever); a file over the size
    /// limit, and a vocabulary with more lines than the entry limit, are refused before being split into lines.
    @Test func specialAndOversizedFilesAreRefusedBeforeReading() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let fifo = dir.appendingPathComponent("vocab.txt").path
        #expect(mkfifo(fifo, 0o600) == 0)
        DispatchQueue.global().asyncAfter(deadline: .now() + 30) {  // a regression fails instead of hanging
            let fd = open(fifo, O_WRONLY | O_NONBLOCK)
            if fd >= 0 { close(fd) }
        }
        expectError(.unreadableFile(path: fifo, reason: "a FIFO (named pipe), not a regular file"), mentions: [fifo]) {
            () throws(TokenizerError) in _ = try BertTokenizer(vocabularyFile: fifo)
        }
        #expect(FileKind(path: fifo) == .other("a FIFO (named pipe), not a regular file"))
        #expect(FileKind(path: dir.path) == .directory)
        #expect(FileKind(path: dir.appendingPathComponent("absent").path) == .missing)

        // A sparse file over the size limit: only its length is looked at.
        let sparse = dir.appendingPathComponent("huge.json").path
        #expect(FileManager.default.createFile(atPath: sparse, contents: nil))
        #expect(truncate(sparse, off_t(TokenizerLimits.maxFileBytes + 1)) == 0)
        expectError(
            .unreadableFile(
                path: sparse, reason: "the file is \(TokenizerLimits.maxFileBytes + 1) bytes, over the limit of \(TokenizerLimits.maxFileBytes)"),
            mentions: [sparse]
        ) { () throws(TokenizerError) in _ = try GPT2Tokenizer(vocabularyFile: sparse, mergesFile: sparse) }

        let lines = TokenizerLimits.maxVocabulary + 1
        let many = try temporaryFile("vocab.txt", (0..<lines).map { "t\($0)\n" }.joined())
        expectError(
            .unreadableFile(path: many, reason: "\(lines) lines, over the limit of \(TokenizerLimits.maxVocabulary)"),
            mentions: [many]
        ) { () throws(TokenizerError) in _ = try BertTokenizer(vocabularyFile: many) }
    }

    /// Merges cannot loop: each one joins two symbols, so a word of n bytes takes at most n − 1 merges whatever the
    /// list says. A list that repeats pairs and chains back and forth ("a b", "b a", "ab a", "ba b", "a b" again)
    /// encodes a long run quickly and round-trips; a repeated pair keeps its last rank, as Hugging Face's
    /// `HashMap` collect and OpenAI's `dict(zip(merges, range))` do.
    @Test func repeatedAndChainedMergesAreBoundedAndKeepTheLastRank() throws {
        let merges = ["a b", "b a", "ab a", "ba b", "aba b", "bab a", "a b"]
        let tokenizer = try GPT2Tokenizer(
            vocabulary: byteVocabulary(["ab", "ba", "aba", "bab", "abab", "baba"]), merges: merges)
        let text = String(repeating: "ab", count: 5_000)
        let ids = tokenizer.encode(text, addSpecialTokens: false).ids
        #expect(tokenizer.decode(ids) == text)
        #expect(ids.count < text.utf8.count)

        // "a b" is listed at ranks 0 and 6: with the last rank, "b a" (rank 1) merges first in "bab"; with the first, "a b".
        let bab = tokenizer.encode("bab", addSpecialTokens: false).tokens
        #expect(bab == ["bab"])  // (b, a) at rank 1, then (ba, b) at rank 3
        let firstRank = try GPT2Tokenizer(vocabulary: byteVocabulary(["ab", "ba"]), merges: ["a b", "b a"])
        #expect(firstRank.encode("bab", addSpecialTokens: false).tokens == ["b", "ab"])
    }
}
