// The HDF5 superblock and object headers (versions 1 and 2) parsed from untrusted bytes, every size bounded.
//
// Source: HDF5 File Format Specification Version 3.0, sections II.A (superblock), IV.A.1.a (version 1 object
// header), IV.A.1.b (version 2 object header) and IV.A.2.q (header continuation message).

/// The fields of the superblock Loupe needs (File Format Specification 3.0, II.A, versions 0-3).
struct HDF5Superblock {
    var version: Int
    var offsetSize: Int
    var lengthSize: Int
    /// Address of the root group's object header.
    var rootAddress: UInt64
    /// The end of file address the writer recorded.
    var endOfFile: UInt64

    /// Parses the superblock at offset 0. A user block (the signature at 512, 1024, ...) is refused: Loupe's
    /// writer and h5py put the signature first.
    init(_ source: HDF5Source) throws(HDF5Problem) {
        let what = "superblock"
        var c = HDF5Cursor(try source.prefix(at: 0, maxLength: 256, what), base: 0, what: what)
        guard c.remaining >= 8, Array(c.bytes[0..<8]) == [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a] else {
            throw .badSignature(what: what, offset: 0, expected: "\\x89HDF\\r\\n\\x1a\\n")
        }
        try c.skip(8)
        version = Int(try c.u8())
        switch version {
        case 0, 1:
            // free-space version, root symbol table entry version, reserved, shared header version
            try c.skip(4)
            offsetSize = Int(try c.u8())
            lengthSize = Int(try c.u8())
            try c.skip(1 + 2 + 2 + 4)  // reserved, group leaf / internal node K, consistency flags
            if version == 1 { try c.skip(4) }  // indexed storage internal node K, reserved
        case 2, 3:
            offsetSize = Int(try c.u8())
            lengthSize = Int(try c.u8())
            try c.skip(1)  // consistency flags
        default:
            throw .unsupported(what: what, detail: "superblock version \(version) is not supported (versions 0-3 are)")
        }
        guard [2, 4, 8].contains(offsetSize), [2, 4, 8].contains(lengthSize) else {
            throw .malformed(what: what, detail: "size of offsets \(offsetSize) / lengths \(lengthSize) (2, 4 or 8)")
        }
        c = HDF5Cursor(c.bytes, base: 0, what: what, offsetSize: offsetSize, lengthSize: lengthSize)
        c.position = version <= 1 ? (version == 0 ? 24 : 28) : 12
        let baseAddress = try c.address()
        guard baseAddress == 0 else {
            throw .unsupported(what: what, detail: "a base address of \(baseAddress) (a user block) is not supported")
        }
        if version <= 1 {
            _ = try c.address()  // free-space info (reserved)
            endOfFile = try c.address()
            _ = try c.address()  // driver information block
            // The root group symbol table entry (III.C): link name offset, object header address, ...
            _ = try c.address()
            rootAddress = try c.address()
        } else {
            let extensionAddress = try c.address()
            guard extensionAddress == hdf5UndefinedAddress else {
                throw .unsupported(what: what, detail: "a superblock extension is not supported")
            }
            endOfFile = try c.address()
            rootAddress = try c.address()
        }
        // As libhdf5 ("truncated file: eof = ..."): a file shorter than its recorded end was cut short.
        guard endOfFile <= UInt64(source.size) else {
            throw .malformed(
                what: what, detail: "truncated file: end of file address \(endOfFile), but the file has \(source.size) bytes")
        }
    }
}

/// One object header message (IV.A.2): its type, flags and body bytes, and the file offset of the body.
struct HDF5Message {
    var type: Int
    var flags: UInt8
    var body: [UInt8]
    var offset: UInt64

    static let nilMessage = 0x00, dataspace = 0x01, linkInfo = 0x02, datatype = 0x03, fillValueOld = 0x04
    static let fillValue = 0x05, link = 0x06, externalFiles = 0x07, layout = 0x08, filters = 0x0B
    static let attribute = 0x0C, continuation = 0x10, symbolTable = 0x11, attributeInfo = 0x15

    /// Flag bit 1: the message is stored in the shared-message heap or another header (IV.A.2, "Shared").
    var isShared: Bool { flags & 0x02 != 0 }
}

/// An object header: the messages of its first chunk and of every continuation block, in file order.
struct HDF5ObjectHeader {
    var address: UInt64
    var messages: [HDF5Message]

    func first(_ type: Int) -> HDF5Message? { messages.first { $0.type == type } }
    func all(_ type: Int) -> [HDF5Message] { messages.filter { $0.type == type } }

    /// Reads the object header at `address`. Continuation blocks are followed at most once each, and their
    /// lengths together may not exceed the file's size, so a cycle or a block repeated under many addresses
    /// cannot make this loop or read more than the file holds.
    init(_ source: HDF5Source, superblock sb: HDF5Superblock, address: UInt64, what: String) throws(HDF5Problem) {
        self.address = address
        self.messages = []
        let cursor = { (bytes: [UInt8], base: UInt64) in
            HDF5Cursor(bytes, base: base, what: what, offsetSize: sb.offsetSize, lengthSize: sb.lengthSize)
        }
        guard address != hdf5UndefinedAddress else { throw .malformed(what: what, detail: "undefined object header address") }
        let start = try source.prefix(at: address, maxLength: 64, "\(what): object header")
        var pending: [(offset: UInt64, length: UInt64)] = []
        var visited: Set<UInt64> = []
        var budget = UInt64(source.size)  // bytes of header chunks still allowed
        let v2 = start.count >= 4 && start[0..<4] == [0x4F, 0x48, 0x44, 0x52]  // "OHDR"
        var creationOrder = false  // v2 flag bit 2: messages carry a creation order

        func take(_ length: UInt64) throws(HDF5Problem) {
            guard length <= budget else { throw .limit(what: "\(what): object header chunks", value: length, limit: budget) }
            budget -= length
        }

        if !v2 {
            // Version 1 (IV.A.1.a): version, reserved, message count (2), reference count (4), header size (4),
            // padding to 16; messages follow, each 8-byte aligned.
            var c = cursor(start, address)
            let version = try c.u8()
            guard version == 1 else {
                throw .malformed(what: what, detail: "object header version \(version) at offset \(address) (1 or 2)")
            }
            try c.skip(1 + 2 + 4)
            let size = try c.u32()
            let (chunkStart, o) = address.addingReportingOverflow(16)
            guard !o else { throw .outOfBounds(what: what, offset: address, length: 16, fileSize: source.size) }
            try take(size)
            visited.insert(chunkStart)
            let chunk = try source.bytes(at: chunkStart, count: size, "\(what): object header")
            try parseMessages(chunk, base: chunkStart, v2: false, creationOrder: false, cursor: cursor, into: &pending)
        } else {
            // Version 2 (IV.A.1.b): "OHDR", version 2, flags, optional times and attribute phase change values,
            // chunk 0 size (1/2/4/8 bytes by flags bits 0-1), messages, gap, checksum.
            var c = cursor(start, address)
            try c.signature("OHDR")
            let version = try c.u8()
            guard version == 2 else {
                throw .malformed(what: what, detail: "object header version \(version) at offset \(address) (2)")
            }
            let flags = try c.u8()
            if flags & 0x20 != 0 { try c.skip(16) }  // access, modification, change, birth times
            if flags & 0x10 != 0 { try c.skip(4) }  // max compact / min dense attributes
            let size = try c.uint(1 << Int(flags & 0x03))
            let chunkStart = address + UInt64(c.position)
            try take(size)
            visited.insert(chunkStart)
            let chunk = try source.bytes(at: chunkStart, count: size, "\(what): object header")
            creationOrder = flags & 0x04 != 0
            try parseMessages(chunk, base: chunkStart, v2: true, creationOrder: creationOrder, cursor: cursor, into: &pending)
        }
        // Continuation blocks: in version 2 "OCHK", messages, checksum (IV.A.1.b); in version 1 messages only.
        while !pending.isEmpty {
            let next = pending.removeFirst()
            guard visited.insert(next.offset).inserted else {
                throw .malformed(what: what, detail: "object header continuation at \(next.offset) is visited twice")
            }
            try take(next.length)
            var block = try source.bytes(at: next.offset, count: next.length, "\(what): continuation block")
            var base = next.offset
            if v2 {
                var b = cursor(block, next.offset)
                try b.signature("OCHK")
                guard block.count >= 8 else { throw .malformed(what: what, detail: "continuation block of \(block.count) bytes") }
                block = Array(block[4..<block.count - 4])
                base += 4
            }
            try parseMessages(block, base: base, v2: v2, creationOrder: creationOrder, cursor: cursor, into: &pending)
        }
    }

    /// Appends the messages of one chunk; continuation messages (IV.A.2.q: offset, length) go to `pending`.
    private mutating func parseMessages(
        _ chunk: [UInt8], base: UInt64, v2: Bool, creationOrder: Bool,
        cursor: ([UInt8], UInt64) -> HDF5Cursor, into pending: inout [(offset: UInt64, length: UInt64)]
    ) throws(HDF5Problem) {
        var c = cursor(chunk, base)
        let headerSize = v2 ? (creationOrder ? 6 : 4) : 8
        while c.remaining >= headerSize {
            let type: Int, size: Int, flags: UInt8
            if v2 {
                type = Int(try c.u8())
                size = try c.u16()
                flags = try c.u8()
                if creationOrder { try c.skip(2) }
            } else {
                type = try c.u16()
                size = try c.u16()
                flags = try c.u8()
                try c.skip(3)
            }
            let at = base + UInt64(c.position)
            let body = Array(try c.take(size))
            if !v2 { c.align(8) }
            guard messages.count < HDF5Limits.maxMessages else {
                throw .limit(what: "\(c.what): object header messages", value: UInt64(messages.count + 1),
                             limit: UInt64(HDF5Limits.maxMessages))
            }
            if type == HDF5Message.continuation {
                var m = cursor(body, at)
                pending.append((try m.address(), try m.length()))
            } else if type != HDF5Message.nilMessage {
                messages.append(HDF5Message(type: type, flags: flags, body: body, offset: at))
            }
        }
    }
}
