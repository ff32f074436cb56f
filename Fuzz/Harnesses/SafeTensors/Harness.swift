// The safetensors reader (`SafeTensorsFile`: the 8-byte header length, the JSON header, dtypes, shapes and
// data_offsets) on arbitrary bytes written to a scratch file, then every tensor it accepted read back.
//
// Checks: no crash, and a one-line error for every refusal; for an accepted file, the entries are packed back to
// back from offset 0 in data order, each exactly elements × dtype size, and end at the end of the file; every F32,
// F16 and BF16 tensor reads into a tensor of its shape (other dtypes are refused by name).
import FuzzSupport
import Foundation
import Tensor
@testable import Transformer

let sizes: [String: Int] = [
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8, "C64": 8,
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let path = Scratch.write(bytes(data, size), to: "model.safetensors")
    do {
        let set = try SafeTensorsSet(single: path)
        let file = set.files[0]
        var offset = 0
        for e in file.entries {
            guard let s = sizes[e.dtype] else { fuzzFail("accepted dtype \(e.dtype)") }
            fuzzCheck(e.begin == offset, "\(e.name) begins at \(e.begin), expected \(offset)")
            fuzzCheck(e.end - e.begin == e.shape.reduce(s, *), "\(e.name): \(e.end - e.begin) bytes for \(e.dtype) \(e.shape)")
            offset = e.end
        }
        fuzzCheck(file.dataStart + offset == size, "tensors end at \(file.dataStart + offset) of \(size) bytes")
        for name in set.names {
            let e = set.byName[name]!.entry
            do {
                let t = try set.read(name, key: name)
                fuzzCheck(["F32", "F16", "BF16"].contains(e.dtype), "read a \(e.dtype) tensor")
                fuzzCheck(t.shape == e.shape, "\(name): read shape \(t.shape), header says \(e.shape)")
            } catch {
                fuzzCheck(!["F32", "F16", "BF16"].contains(e.dtype), "\(name): \(e.dtype) refused: \(error)")
                checkMessage(error)
            }
        }
    } catch {
        checkMessage(error)
    }
    return 0
}
