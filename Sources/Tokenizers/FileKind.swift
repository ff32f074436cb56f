// What is at a path, found with stat(2) without opening it, and the size limits of the files a tokenizer reads.
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What a path names. Found with `stat` (following symbolic links), which never blocks: `open` on a FIFO waits
/// for a writer forever and on a character device may never end, so every loader asks this first and opens
/// only a regular file (or a directory where it expects one).
public enum FileKind: Equatable, Sendable {
    case missing
    case regular(bytes: Int)
    case directory
    /// A FIFO, socket, device, or a path `stat` cannot resolve (permissions): named for messages.
    case other(String)

    public init(path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else {
            let e = errno
            self = e == ENOENT || e == ENOTDIR ? .missing : .other(String(cString: strerror(e)))
            return
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG: self = .regular(bytes: Int(st.st_size))
        case S_IFDIR: self = .directory
        case S_IFIFO: self = .other("a FIFO (named pipe), not a regular file")
        case S_IFSOCK: self = .other("a socket, not a regular file")
        case S_IFCHR, S_IFBLK: self = .other("a device, not a regular file")
        default: self = .other("not a regular file")
        }
    }

    /// Why `path` cannot be read as a regular file, or nil when it can: "no such file", "is a directory", ...
    public var notRegularReason: String? {
        switch self {
        case .missing: "no such file"
        case .regular: nil
        case .directory: "is a directory"
        case .other(let why): why
        }
    }

    /// The size of a regular file, else nil.
    public var bytes: Int? { if case .regular(let n) = self { n } else { nil } }
}

/// The documented size limits of the tokenizer files (README, "Limits"). Real vocabularies stay far below them
/// (BERT 30,522 tokens, GPT-2 50,257 tokens and 50,000 merges, the largest multilingual ones ~256,000), so a
/// larger file is damaged or hostile; refusing it early keeps a load's memory bounded by these, not by the file.
public enum TokenizerLimits {
    /// Most vocabulary entries (tokens) a tokenizer file may hold.
    public static let maxVocabulary = 1 << 21
    /// Most merges a BPE merges file may hold.
    public static let maxMerges = 1 << 21
    /// Largest tokenizer file (vocab.txt, merges.txt, vocab.json, tokenizer.json, ...) read into memory, in bytes.
    public static let maxFileBytes = 256 << 20
}
