// Decoders of the HDF5 object header messages a dataset or attribute needs: datatype, dataspace, data layout,
// attribute. Source: HDF5 File Format Specification Version 3.0, IV.A.2.b (dataspace), IV.A.2.d (datatype),
// IV.A.2.i (data layout), IV.A.2.m (attribute).

/// An element type, reduced to the classes Loupe reads; anything else is `.other` and refused where read.
enum HDF5Datatype: Equatable {
    /// Fixed-point (class 0): `size` bytes, two's complement when `signed`.
    case integer(size: Int, signed: Bool, bigEndian: Bool)
    /// Floating-point (class 1); `ieeeLittleEndian` when the bit fields are exactly IEEE 754 binary16/binary32
    /// little-endian (sign, exponent and mantissa positions and the bias checked, as `H5T_IEEE_F16LE/F32LE`).
    case float(size: Int, ieeeLittleEndian: Bool)
    /// A fixed-length string (class 3) of `size` bytes.
    case fixedString(size: Int)
    /// A variable-length string (class 9, type 1): elements are global heap references.
    case vlenString
    /// Any other class (compound, enum, array, reference, vlen sequence, ...): `typeClass` is HDF5's class number.
    case other(typeClass: Int, size: Int)

    /// Bytes per element in the file (16 for a vlen reference with 8-byte offsets: length 4, heap id 8 + 4).
    func storageSize(offsetSize: Int) -> Int {
        switch self {
        case .integer(let s, _, _), .float(let s, _), .fixedString(let s), .other(_, let s): return s
        case .vlenString: return 4 + offsetSize + 4
        }
    }

    /// "float64", "int32", "string", ... for error messages (as the libhdf5-based reader named them).
    var name: String {
        switch self {
        case .float(let s, _): return "float\(s * 8)"
        case .integer(let s, _, _): return "int\(s * 8)"
        case .fixedString, .vlenString: return "string"
        case .other(let c, _): return "HDF5 type class \(c)"
        }
    }

    /// Parses a datatype message (IV.A.2.d): class and version (1 byte), class bit fields (3), size (4),
    /// properties.
    init(_ c: inout HDF5Cursor) throws(HDF5Problem) {
        let classAndVersion = try c.u8()
        let typeClass = Int(classAndVersion & 0x0F)
        let version = Int(classAndVersion >> 4)
        guard (1...4).contains(version) else {
            throw .malformed(what: c.what, detail: "datatype version \(version)")
        }
        let bits = try c.uint(3)
        let sizeField = try c.u32()
        guard sizeField > 0, sizeField <= 1 << 20 else {
            throw .malformed(what: c.what, detail: "datatype size \(sizeField)")
        }
        let size = Int(sizeField)
        switch typeClass {
        case 0:
            _ = try c.u16()  // bit offset
            _ = try c.u16()  // precision
            self = .integer(size: size, signed: bits & 0x08 != 0, bigEndian: bits & 0x01 != 0)
        case 1:
            // Bit fields: 0 byte order (with 6: VAX), 1-3 padding, 4-5 mantissa normalisation, 8-15 sign position.
            // Properties: bit offset, precision, exponent location and size, mantissa location and size, bias.
            let offset = try c.u16(), precision = try c.u16()
            let eLoc = try c.u8(), eSize = try c.u8(), mLoc = try c.u8(), mSize = try c.u8()
            let bias = try c.u32()
            let littleEndian = bits & 0x41 == 0
            let implied = (bits >> 4) & 0x03 == 2
            let sign = Int((bits >> 8) & 0xFF)
            let padding = bits & 0x0E == 0
            let layout = [offset, precision, Int(eLoc), Int(eSize), Int(mLoc), Int(mSize), Int(bias), sign]
            let ieee: Bool
            switch size {
            case 2: ieee = layout == [0, 16, 10, 5, 0, 10, 15, 15]
            case 4: ieee = layout == [0, 32, 23, 8, 0, 23, 127, 31]
            case 8: ieee = layout == [0, 64, 52, 11, 0, 52, 1023, 63]
            default: ieee = false
            }
            self = .float(size: size, ieeeLittleEndian: ieee && littleEndian && implied && padding)
        case 3:
            self = .fixedString(size: size)
        case 9:
            // Variable-length: bits 0-3 type (0 sequence, 1 string); the base type follows as properties.
            // The base type (a 1-byte character for strings) is not parsed: not needed, and parsing it would
            // recurse as deep as a crafted file nests vlen types.
            if bits & 0x0F == 1 {
                self = .vlenString
            } else {
                self = .other(typeClass: typeClass, size: size)
            }
        default:
            self = .other(typeClass: typeClass, size: size)
        }
    }
}

/// A dataspace (IV.A.2.b): scalar (rank 0), simple with `dims`, or null (no elements).
struct HDF5Dataspace: Equatable {
    var dims: [Int]
    var isScalar: Bool
    var isNull: Bool

    /// The element count, overflow-checked.
    func elementCount(_ what: String) throws(HDF5Problem) -> Int {
        if isNull { return 0 }
        var n = 1
        for d in dims {
            let (p, o) = n.multipliedReportingOverflow(by: d)
            guard !o else { throw .malformed(what: what, detail: "impossible extent \(dims)") }
            n = p
        }
        return n
    }

    init(_ c: inout HDF5Cursor) throws(HDF5Problem) {
        let version = try c.u8()
        let rank = Int(try c.u8())
        let flags = try c.u8()
        var type = rank == 0 ? 0 : 1  // version 1: rank 0 is a scalar
        switch version {
        case 1: try c.skip(5)  // reserved (1), reserved (4)
        case 2: type = Int(try c.u8())
        default: throw .malformed(what: c.what, detail: "dataspace version \(version)")
        }
        guard rank <= HDF5Limits.maxRank else {
            throw .limit(what: "\(c.what): dataspace rank", value: UInt64(rank), limit: UInt64(HDF5Limits.maxRank))
        }
        guard type <= 2 else { throw .malformed(what: c.what, detail: "dataspace type \(type)") }
        var dims: [Int] = []
        for _ in 0..<rank {
            let d = try c.length()
            guard d <= UInt64(Int.max) else { throw .malformed(what: c.what, detail: "dimension \(d)") }
            dims.append(Int(d))
        }
        // Maximum dimensions (flags bit 0) and, in version 1, a permutation index (bit 1) follow; not needed.
        _ = flags
        self.dims = type == 1 ? dims : []
        self.isScalar = type == 0
        self.isNull = type == 2
    }
}

/// Where a dataset's elements are (IV.A.2.i): contiguous at an address, or compact inside the header.
enum HDF5Layout: Equatable {
    case contiguous(address: UInt64, size: UInt64)
    case compact(bytes: [UInt8])

    init(_ c: inout HDF5Cursor) throws(HDF5Problem) {
        let version = try c.u8()
        switch version {
        case 1, 2:
            // Dimensionality, layout class, 5 reserved, address (not for compact), dimensions (4 bytes each; the
            // last is the element size), compact data size and data.
            let rank = Int(try c.u8())
            let layoutClass = try c.u8()
            try c.skip(5)
            guard rank <= HDF5Limits.maxRank + 1 else {
                throw .limit(what: "\(c.what): layout rank", value: UInt64(rank), limit: UInt64(HDF5Limits.maxRank + 1))
            }
            switch layoutClass {
            case 0:
                try c.skip(4 * rank)
                let n = Int(try c.u32())
                self = .compact(bytes: Array(try c.take(n)))
            case 1:
                let address = try c.address()
                var size: UInt64 = 1
                for _ in 0..<rank {
                    let (p, o) = size.multipliedReportingOverflow(by: try c.u32())
                    guard !o else { throw .malformed(what: c.what, detail: "layout dimensions overflow") }
                    size = p
                }
                self = .contiguous(address: address, size: size)
            default: throw Self.refuse(layoutClass, c.what)
            }
        case 3, 4:
            let layoutClass = try c.u8()
            switch layoutClass {
            case 0:
                let n = try c.u16()
                self = .compact(bytes: Array(try c.take(n)))
            case 1:
                self = .contiguous(address: try c.address(), size: try c.length())
            default: throw Self.refuse(layoutClass, c.what)
            }
        default:
            throw .malformed(what: c.what, detail: "data layout version \(version)")
        }
    }

    private static func refuse(_ layoutClass: UInt8, _ what: String) -> HDF5Problem {
        switch layoutClass {
        case 2: return .unsupported(what: what, detail: "chunked storage is not supported; re-save with contiguous layout")
        case 3: return .unsupported(what: what, detail: "virtual datasets are not supported")
        default: return .malformed(what: what, detail: "data layout class \(layoutClass)")
        }
    }
}

/// An attribute message (IV.A.2.m, versions 1-3): name, type, space and the raw value bytes.
struct HDF5Attribute {
    var name: String
    var datatype: HDF5Datatype
    var dataspace: HDF5Dataspace
    var data: [UInt8]
    /// File offset of `data`, for error messages.
    var dataOffset: UInt64

    init(_ message: HDF5Message, template: HDF5Cursor) throws(HDF5Problem) {
        var c = HDF5Cursor(
            message.body, base: message.offset, what: template.what, offsetSize: template.offsetSize,
            lengthSize: template.lengthSize)
        guard !message.isShared else { throw .unsupported(what: c.what, detail: "shared attribute messages are not supported") }
        let version = try c.u8()
        guard (1...3).contains(version) else { throw .malformed(what: c.what, detail: "attribute message version \(version)") }
        let flags = try c.u8()  // version 1: reserved
        if version >= 2 && flags & 0x03 != 0 {
            throw .unsupported(what: c.what, detail: "attributes with a shared datatype or dataspace are not supported")
        }
        let nameSize = try c.u16(), typeSize = try c.u16(), spaceSize = try c.u16()
        if version == 3 { try c.skip(1) }  // name character set
        // Version 1 pads the name, datatype and dataspace each to a multiple of 8 bytes.
        func padded(_ n: Int) -> Int { version == 1 ? (n + 7) / 8 * 8 : n }
        let nameBytes = try c.take(padded(nameSize))
        guard nameSize > 0, let nul = nameBytes.prefix(nameSize).firstIndex(of: 0),
            let name = String(validating: nameBytes[nameBytes.startIndex..<nul], as: UTF8.self)
        else { throw .malformed(what: c.what, detail: "attribute name is not a NUL-terminated UTF-8 string") }
        self.name = name
        var t = HDF5Cursor(
            Array(try c.take(padded(typeSize))), base: message.offset, what: "\(c.what): attribute \(name)",
            offsetSize: c.offsetSize, lengthSize: c.lengthSize)
        datatype = try HDF5Datatype(&t)
        var s = HDF5Cursor(
            Array(try c.take(padded(spaceSize))), base: message.offset, what: "\(c.what): attribute \(name)",
            offsetSize: c.offsetSize, lengthSize: c.lengthSize)
        dataspace = try HDF5Dataspace(&s)
        dataOffset = message.offset + UInt64(c.position)
        data = Array(try c.take(c.remaining))
    }
}
