// HDF5 group members: old-style groups (symbol table message, version 1 B-tree, symbol table nodes, local heap)
// and compact new-style groups (link messages in the header).
//
// Source: HDF5 File Format Specification Version 3.0, III.A.1 (version 1 B-trees), III.B (group symbol table
// nodes), III.C (symbol table entry), III.D (local heaps), IV.A.2.c (link info), IV.A.2.g (link message),
// IV.A.2.r (symbol table message).

extension HDF5Parser {
    /// The members of the group whose header is `header`: name → object header address, in name order as the
    /// B-tree keeps them. Refuses dense link storage (a fractal heap) and soft or external links.
    func groupMembers(_ header: HDF5ObjectHeader, what: String) throws(HDF5Problem) -> [(name: String, address: UInt64)] {
        if let table = header.first(HDF5Message.symbolTable) {
            var c = cursor(table.body, base: table.offset, what: what)
            let btree = try c.address()
            let heap = try c.address()
            return try symbolTableMembers(btree: btree, heap: heap, what: what)
        }
        if let info = header.first(HDF5Message.linkInfo) {
            // Link info (IV.A.2.c): version 0, flags, [max creation index], fractal heap address, name index.
            var c = cursor(info.body, base: info.offset, what: what)
            _ = try c.u8()
            let flags = try c.u8()
            if flags & 0x01 != 0 { try c.skip(8) }
            if try c.address() != hdf5UndefinedAddress {
                throw .unsupported(
                    what: what, detail: "dense link storage (a group of many links in a fractal heap) is not supported")
            }
        }
        var members: [(name: String, address: UInt64)] = []
        for m in header.all(HDF5Message.link) {
            members.append(try link(m, what: what))
        }
        return members
    }

    /// A link message (IV.A.2.g): version 1, flags, [type], [creation order], [charset], name length, name, target.
    private func link(_ m: HDF5Message, what: String) throws(HDF5Problem) -> (name: String, address: UInt64) {
        var c = cursor(m.body, base: m.offset, what: what)
        let version = try c.u8()
        guard version == 1 else { throw .malformed(what: what, detail: "link message version \(version)") }
        let flags = try c.u8()
        let type = flags & 0x08 != 0 ? try c.u8() : 0
        if flags & 0x04 != 0 { try c.skip(8) }
        if flags & 0x10 != 0 { try c.skip(1) }
        let length = Int(try c.uint(1 << Int(flags & 0x03)))
        guard length > 0, length <= c.remaining,
            let name = String(validating: try c.take(length), as: UTF8.self)
        else { throw .malformed(what: what, detail: "link name is not UTF-8 or runs past its message") }
        guard type == 0 else {
            throw .unsupported(what: "\(what): link \(name)", detail: "soft and external links are not supported")
        }
        return (name, try c.address())
    }

    /// Walks the version 1 B-tree of group nodes (type 0) from `btree` down to its symbol table nodes and names
    /// each entry from the local heap. Every node is visited at most once, levels must strictly decrease and the
    /// depth is bounded, so a cyclic or overlong tree is refused rather than followed.
    private func symbolTableMembers(btree: UInt64, heap: UInt64, what: String) throws(HDF5Problem)
        -> [(name: String, address: UInt64)]
    {
        let names = try localHeap(heap, what: what)
        var members: [(name: String, address: UInt64)] = []
        var visited: Set<UInt64> = []
        // (address, expected level; nil for the root, whose level the node itself gives)
        var stack: [(UInt64, Int?)] = [(btree, nil)]
        while let (address, expected) = stack.popLast() {
            guard visited.insert(address).inserted else {
                throw .malformed(what: what, detail: "B-tree node at \(address) is reached twice")
            }
            guard visited.count <= source.size / 24 + 1 else {
                throw .limit(what: "\(what): B-tree nodes", value: UInt64(visited.count), limit: UInt64(source.size / 24 + 1))
            }
            let head = try source.bytes(at: address, count: UInt64(8 + 2 * sb.offsetSize), "\(what): B-tree node")
            var c = cursor(head, base: address, what: "\(what): B-tree node")
            try c.signature("TREE")
            let nodeType = try c.u8()
            let level = Int(try c.u8())
            let entries = try c.u16()
            guard nodeType == 0 else { throw .malformed(what: what, detail: "B-tree node type \(nodeType), expected 0 (group)") }
            if let expected, level != expected {
                throw .malformed(what: what, detail: "B-tree node at \(address) has level \(level), expected \(expected)")
            }
            guard level < HDF5Limits.maxTreeDepth else {
                throw .limit(what: "\(what): B-tree depth", value: UInt64(level), limit: UInt64(HDF5Limits.maxTreeDepth))
            }
            // Keys (a heap offset, size of lengths) and children (addresses) interleave: key, child, ..., key.
            let bodyLength = UInt64(entries) * UInt64(sb.lengthSize + sb.offsetSize) + UInt64(sb.lengthSize)
            let body = try source.bytes(at: address + UInt64(head.count), count: bodyLength, "\(what): B-tree node")
            var b = cursor(body, base: address + UInt64(head.count), what: "\(what): B-tree node")
            var children: [UInt64] = []
            for _ in 0..<entries {
                _ = try b.length()
                children.append(try b.address())
            }
            if level == 0 {
                for child in children {
                    guard visited.insert(child).inserted else {
                        throw .malformed(what: what, detail: "symbol table node at \(child) is reached twice")
                    }
                    try symbolNode(child, names: names, what: what, into: &members)
                }
            } else {
                // Pushed in reverse so that children are visited in key order.
                for child in children.reversed() { stack.append((child, level - 1)) }
            }
        }
        return members
    }

    /// A symbol table node (III.B): "SNOD", version 1, reserved, symbol count, then entries (III.C): name offset
    /// in the local heap, object header address, cache type (4), reserved (4), scratch pad (16).
    private func symbolNode(
        _ address: UInt64, names: [UInt8], what: String, into members: inout [(name: String, address: UInt64)]
    ) throws(HDF5Problem) {
        let head = try source.bytes(at: address, count: 8, "\(what): symbol table node")
        var c = cursor(head, base: address, what: "\(what): symbol table node")
        try c.signature("SNOD")
        let version = try c.u8()
        guard version == 1 else { throw .malformed(what: what, detail: "symbol table node version \(version)") }
        try c.skip(1)
        let count = try c.u16()
        let entrySize = 2 * sb.offsetSize + 24
        let body = try source.bytes(
            at: address + 8, count: UInt64(count * entrySize), "\(what): symbol table node")
        var b = cursor(body, base: address + 8, what: "\(what): symbol table node")
        for _ in 0..<count {
            let nameOffset = try b.uint(sb.offsetSize)
            let header = try b.address()
            try b.skip(24)
            guard nameOffset < UInt64(names.count), let name = hdf5CString(names, at: Int(nameOffset)), !name.isEmpty
            else {
                throw .malformed(
                    what: what, detail: "link name at local heap offset \(nameOffset) is not a NUL-terminated UTF-8 string")
            }
            members.append((name, header))
        }
    }

    /// The data segment of a local heap (III.D): "HEAP", version 0, reserved (3), data segment size, free list
    /// offset, data segment address.
    private func localHeap(_ address: UInt64, what: String) throws(HDF5Problem) -> [UInt8] {
        let head = try source.bytes(at: address, count: UInt64(8 + 2 * sb.lengthSize + sb.offsetSize), "\(what): local heap")
        var c = cursor(head, base: address, what: "\(what): local heap")
        try c.signature("HEAP")
        let version = try c.u8()
        guard version == 0 else { throw .malformed(what: what, detail: "local heap version \(version)") }
        try c.skip(3)
        let size = try c.length()
        _ = try c.length()
        let data = try c.address()
        return try source.bytes(at: data, count: size, "\(what): local heap data")
    }
}
