// Loupe's own read-only HDF5 parser: resolves paths to objects and reads attributes and contiguous datasets, every
// size and address from the file checked before use (issue #17: libhdf5 1.10 crashes and hangs on crafted files).
//
// Supported subset (what Loupe's writer and h5py's defaults produce): superblock versions 0-3 without a user
// block; object headers v1 and v2; groups as symbol tables (v1 B-tree + local heap) or compact link messages;
// contiguous and compact layouts without filters; integer, IEEE float, fixed and variable-length string types;
// vlen strings in the global heap. Everything else is refused with a message naming the object.

/// A parsed object: its header and, for datasets, the facts needed to read it.
struct HDF5Object {
    var header: HDF5ObjectHeader
    var isGroup: Bool {
        header.first(HDF5Message.symbolTable) != nil || header.first(HDF5Message.linkInfo) != nil
            || header.first(HDF5Message.link) != nil || header.first(0x0A) != nil  // group info
    }
    var isDataset: Bool { header.first(HDF5Message.layout) != nil && header.first(HDF5Message.datatype) != nil }
}

/// A dataset's element type, shape and storage, validated against the file.
struct HDF5Dataset {
    var datatype: HDF5Datatype
    var dataspace: HDF5Dataspace
    var layout: HDF5Layout
    var elementCount: Int
    var elementSize: Int
}

final class HDF5Parser {
    let source: HDF5Source
    let sb: HDF5Superblock
    private var headers: [UInt64: HDF5ObjectHeader] = [:]
    private var members: [UInt64: [String: UInt64]] = [:]
    /// Global heap collections read so far (`HDF5GlobalHeap.swift`), and their bytes together.
    var collections: [UInt64: HDF5GlobalHeapCollection] = [:]
    var collectionBytes = 0

    init(_ source: HDF5Source) throws(HDF5Problem) {
        self.source = source
        self.sb = try HDF5Superblock(source)
    }

    func cursor(_ bytes: [UInt8], base: UInt64, what: String) -> HDF5Cursor {
        HDF5Cursor(bytes, base: base, what: what, offsetSize: sb.offsetSize, lengthSize: sb.lengthSize)
    }

    /// The object header at `address`, parsed once.
    func header(at address: UInt64, what: String) throws(HDF5Problem) -> HDF5ObjectHeader {
        if let h = headers[address] { return h }
        let h = try HDF5ObjectHeader(source, superblock: sb, address: address, what: what)
        headers[address] = h
        return h
    }

    /// The object at `path` ("/", "/weights/x", "tokenizer/vocab"), or nil when a component does not exist.
    /// Problems in the file on the way (a broken B-tree, an unsupported link) are thrown.
    func object(_ path: String) throws(HDF5Problem) -> HDF5Object? {
        var address = sb.rootAddress
        var walked = ""
        let parts = path.split(separator: "/")
        guard parts.count <= HDF5Limits.maxPathDepth else {
            throw .limit(what: "path \(path)", value: UInt64(parts.count), limit: UInt64(HDF5Limits.maxPathDepth))
        }
        var h = try header(at: address, what: "/")
        for part in parts {
            let group = HDF5Object(header: h)
            guard group.isGroup else { return nil }
            let what = walked.isEmpty ? "/" : walked
            guard let next = try memberMap(h, what: what)[String(part)] else { return nil }
            walked += "/" + part
            address = next
            h = try header(at: address, what: walked)
        }
        return HDF5Object(header: h)
    }

    /// A group's members by name, read once per group.
    func memberMap(_ h: HDF5ObjectHeader, what: String) throws(HDF5Problem) -> [String: UInt64] {
        if let m = members[h.address] { return m }
        var map: [String: UInt64] = [:]
        for (name, address) in try groupMembers(h, what: what) where map[name] == nil { map[name] = address }
        members[h.address] = map
        return map
    }

    /// A dataset's type, space and layout, checked: no filters or external files, and an element count whose
    /// bytes fit in an Int (the storage is checked when read, `checkStorage`).
    func dataset(_ object: HDF5Object, path: String) throws(HDF5Problem) -> HDF5Dataset {
        let h = object.header
        if h.first(HDF5Message.filters) != nil {
            throw .unsupported(what: path, detail: "compressed or filtered storage is not supported; re-save without filters")
        }
        if h.first(HDF5Message.externalFiles) != nil {
            throw .unsupported(what: path, detail: "external data files are not supported")
        }
        guard let typeMessage = h.first(HDF5Message.datatype), let spaceMessage = h.first(HDF5Message.dataspace),
            let layoutMessage = h.first(HDF5Message.layout)
        else { throw .malformed(what: path, detail: "dataset without a datatype, dataspace or layout message") }
        for m in [typeMessage, spaceMessage, layoutMessage] where m.isShared {
            throw .unsupported(what: path, detail: "shared object header messages are not supported")
        }
        var t = cursor(typeMessage.body, base: typeMessage.offset, what: path)
        let datatype = try HDF5Datatype(&t)
        var s = cursor(spaceMessage.body, base: spaceMessage.offset, what: path)
        let dataspace = try HDF5Dataspace(&s)
        var l = cursor(layoutMessage.body, base: layoutMessage.offset, what: path)
        let layout = try HDF5Layout(&l)
        let count = try dataspace.elementCount(path)
        let size = datatype.storageSize(offsetSize: sb.offsetSize)
        let (_, o) = count.multipliedReportingOverflow(by: size)
        guard !o else { throw .malformed(what: path, detail: "impossible extent \(dataspace.dims)") }
        return HDF5Dataset(datatype: datatype, dataspace: dataspace, layout: layout, elementCount: count, elementSize: size)
    }

    /// Checks, before anything is read, that a dataset's storage holds its elements: contiguous storage allocated,
    /// as large as elements × element size and inside the file; compact data as large.
    func checkStorage(_ d: HDF5Dataset, path: String) throws(HDF5Problem) {
        let (count, size) = (d.elementCount, d.elementSize)
        let bytes = count * size  // overflow-checked in `dataset`
        switch d.layout {
        case .contiguous(let address, let stored):
            if bytes > 0 {
                guard address != hdf5UndefinedAddress else {
                    throw .malformed(what: path, detail: "no storage allocated for \(count) elements")
                }
                guard stored >= UInt64(bytes) else {
                    throw .malformed(what: path, detail: "storage of \(stored) bytes for \(count) elements of \(size) bytes")
                }
                try source.check(address, UInt64(bytes), "\(path): data")
            }
        case .compact(let raw):
            guard raw.count >= bytes else {
                throw .malformed(what: path, detail: "compact data of \(raw.count) bytes for \(count) elements of \(size) bytes")
            }
        }
    }

    /// Copies a dataset's raw element bytes into `destination`, which has room for count × element size bytes:
    /// one pread for contiguous storage, straight into the caller's buffer.
    func readRaw(_ d: HDF5Dataset, into destination: UnsafeMutableRawPointer, path: String) throws(HDF5Problem) {
        try checkStorage(d, path: path)
        let bytes = d.elementCount * d.elementSize
        guard bytes > 0 else { return }
        switch d.layout {
        case .contiguous(let address, _):
            try source.read(into: destination, offset: address, length: bytes, "\(path): data")
        case .compact(let raw):
            raw.withUnsafeBytes { destination.copyMemory(from: $0.baseAddress!, byteCount: bytes) }
        }
    }

    /// The attribute `name` of an object, or nil; dense attribute storage is refused.
    func attribute(_ name: String, of object: HDF5Object, what: String) throws(HDF5Problem) -> HDF5Attribute? {
        try attributes(of: object, what: what).first { $0.name == name }
    }

    /// All attributes stored in an object's header, in header order.
    func attributes(of object: HDF5Object, what: String) throws(HDF5Problem) -> [HDF5Attribute] {
        if let info = object.header.first(HDF5Message.attributeInfo) {
            // Attribute info (IV.A.2.v): version 0, flags, [max creation index], fractal heap address, ...
            var c = cursor(info.body, base: info.offset, what: what)
            _ = try c.u8()
            let flags = try c.u8()
            if flags & 0x01 != 0 { try c.skip(2) }
            if try c.address() != hdf5UndefinedAddress {
                throw .unsupported(what: what, detail: "dense attribute storage (a fractal heap) is not supported")
            }
        }
        let template = cursor([], base: 0, what: what)
        var result: [HDF5Attribute] = []
        for m in object.header.all(HDF5Message.attribute) {
            result.append(try HDF5Attribute(m, template: template))
        }
        return result
    }
}
