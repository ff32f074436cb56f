// Variable-length strings from HDF5 global heap collections, each collection read once and every object bounded.
//
// Source: HDF5 File Format Specification Version 3.0, III.E (global heap) and IV.A.2.d (variable-length
// datatype: an element on disk is a 4-byte length, then a global heap ID: collection address, object index).

/// One global heap collection: its bytes and where each object's data lies in them.
struct HDF5GlobalHeapCollection {
    var bytes: [UInt8]
    var objects: [Int: Range<Int>]
}

extension HDF5Parser {
    /// Bytes of a vlen element on disk: length (4), collection address, object index (4).
    var vlenElementSize: Int { 4 + sb.offsetSize + 4 }

    /// Decodes the vlen string element at `element[0...]`: nil for a NULL string (collection address 0, as
    /// libhdf5 reads it), else the bytes up to the first NUL (as C-string readers see them) as UTF-8. Throws when
    /// the reference or the heap is broken, or the string is not UTF-8 (`badUTF8`).
    func vlenString(_ element: ArraySlice<UInt8>, what: String) throws(HDF5Problem) -> String? {
        var c = cursor(Array(element), base: 0, what: what)
        let length = try c.u32()
        let collection = try c.address()
        let index = Int(try c.u32())
        if collection == 0 { return nil }
        if length == 0 { return "" }
        let heap = try globalHeap(at: collection, what: what)
        guard let range = heap.objects[index] else {
            throw .malformed(what: what, detail: "global heap collection at \(collection) has no object \(index)")
        }
        guard UInt64(range.count) >= length else {
            throw .malformed(
                what: what, detail: "string of \(length) bytes in a global heap object of \(range.count) bytes")
        }
        let bytes = heap.bytes[range.lowerBound..<range.lowerBound + Int(length)]
        let text = bytes.firstIndex(of: 0).map { bytes[bytes.startIndex..<$0] } ?? bytes
        guard let s = String(validating: text, as: UTF8.self) else { return nil }
        return s
    }

    /// The collection at `address` (III.E): "GCOL", version 1, reserved (3), collection size (including this
    /// header), then objects: index (2), reference count (2), reserved (4), size, data padded to 8 bytes; index 0
    /// is the free space and ends the list. Collections read together may not hold more bytes than the file, so
    /// references to many overlapping "collections" cannot multiply memory.
    private func globalHeap(at address: UInt64, what: String) throws(HDF5Problem) -> HDF5GlobalHeapCollection {
        if let c = collections[address] { return c }
        let headerSize = 8 + sb.lengthSize
        var h = cursor(try source.bytes(at: address, count: UInt64(headerSize), "\(what): global heap"), base: address,
                       what: "\(what): global heap")
        try h.signature("GCOL")
        let version = try h.u8()
        guard version == 1 else { throw .malformed(what: what, detail: "global heap version \(version) at \(address)") }
        try h.skip(3)
        let size = try h.length()
        guard size >= UInt64(headerSize) else {
            throw .malformed(what: what, detail: "global heap collection at \(address) of \(size) bytes")
        }
        guard UInt64(collectionBytes) + size <= UInt64(source.size) else {
            throw .limit(what: "\(what): global heap bytes", value: UInt64(collectionBytes) + size, limit: UInt64(source.size))
        }
        let bytes = try source.bytes(at: address, count: size, "\(what): global heap")
        collectionBytes += bytes.count
        var c = cursor(bytes, base: address, what: "\(what): global heap")
        c.position = headerSize
        var objects: [Int: Range<Int>] = [:]
        while c.remaining >= 8 + sb.lengthSize {
            let index = try c.u16()
            try c.skip(6)  // reference count, reserved
            let objectSize = try c.length()
            if index == 0 {
                // The free space is the rest of the collection, its size counted from its own header (libhdf5's
                // H5HG_create); any other size means the collection's size or an object's is wrong.
                guard objectSize == UInt64(c.remaining + 8 + sb.lengthSize) else {
                    throw .malformed(
                        what: what, detail: "global heap collection at \(address) of \(size) bytes does not end "
                            + "with its free space (\(objectSize) bytes, \(c.remaining + 8 + sb.lengthSize) left)")
                }
                break
            }
            guard objectSize <= UInt64(c.remaining) else {
                throw .malformed(what: what, detail: "global heap object \(index) of \(objectSize) bytes runs past its collection")
            }
            guard objects[index] == nil else {
                throw .malformed(what: what, detail: "global heap object \(index) appears twice in the collection at \(address)")
            }
            objects[index] = c.position..<c.position + Int(objectSize)
            try c.skip(Int(objectSize))
            c.align(8)
        }
        let collection = HDF5GlobalHeapCollection(bytes: bytes, objects: objects)
        collections[address] = collection
        return collection
    }
}
