// Loupe's own HDF5 parser against libhdf5 (the oracle): every group, attribute and dataset of every fixture and
// of files Loupe's writer and libhdf5's newest format write must read identically (bit-identical floats).

import CHDF5
import Foundation
import Tensor
import Testing
import Transformer

/// What one walk compared, so a test can require that it compared something.
struct ParityCount {
    var groups = 0, attributes = 0, floatDatasets = 0, integerDatasets = 0, stringDatasets = 0, refused = 0
}

/// Walks `url` with libhdf5 and compares everything the old libhdf5 reader read with `HDF5Reader`'s answers.
func compareWithLibHDF5(_ url: URL) throws -> ParityCount {
    var count = ParityCount()
    let oracle = try LibHDF5Oracle(url.path)
    let reader = try HDF5Reader(url)
    let file = url.lastPathComponent
    func walk(_ group: String) throws {
        count.groups += 1
        let names = try oracle.members(group)
        #expect(try reader.memberNames(ofGroup: group) == names, "\(file): members of \(group)")
        for name in names {
            let path = (group == "/" ? "" : group) + "/" + name
            switch oracle.kind(path) {
            case .group:
                #expect(reader.hasGroup(path), "\(file): \(path) is a group")
                try walk(path)
            case .dataset:
                #expect(reader.hasDataset(path), "\(file): \(path) is a dataset")
                try compareDataset(path)
            case .other: break
            }
            try compareAttributes(path)
        }
    }
    func compareAttributes(_ object: String) throws {
        let names = oracle.attributeNames(object)
        #expect(try reader.attributeNames(of: object).sorted() == names.sorted(), "\(file): attributes of \(object)")
        for name in names {
            count.attributes += 1
            switch oracle.attribute(name, of: object) {
            case .string(let s?):
                #expect(try reader.stringAttribute(name, of: object) == s, "\(file): \(object) @\(name)")
            case .string(nil):
                #expect(throws: WeightError.self, "\(file): \(object) @\(name) is NULL") {
                    try reader.stringAttribute(name, of: object)
                }
            case .integer(let v):
                #expect(try reader.int64Attribute(name, of: object) == v, "\(file): \(object) @\(name)")
            case .other: count.refused += 1
            }
        }
    }
    func compareDataset(_ path: String) throws {
        let info = try oracle.datasetInfo(path)
        let mine = try reader.datasetInfo(path)
        #expect(mine.shape == info.shape, "\(file): shape of \(path)")
        let n = info.shape.reduce(1, *)
        switch info.typeClass {
        case H5T_FLOAT where info.size == 2 || info.size == 4:
            let expected = try oracle.floats(path, count: n).map(\.bitPattern)
            #expect(try reader.tensor(path).scalars.map(\.bitPattern) == expected, "\(file): \(path)")
            #expect(mine.dtype == "float\(info.size * 8)")
            count.floatDatasets += 1
        case H5T_INTEGER:
            let expected = try oracle.integers(path, count: n).map { Int($0) }
            let got = try reader.integers(path)
            #expect(got.shape == info.shape && got.values == expected, "\(file): \(path)")
            if info.size == 1 && info.signed {
                #expect(try reader.int8(path).map { Int($0) } == expected, "\(file): \(path) as int8")
            }
            count.integerDatasets += 1
        case H5T_STRING where info.vlen && info.shape.count == 1:
            let expected = try oracle.strings(path, count: n)
            if expected.allSatisfy({ $0 != nil }) {
                #expect(try reader.strings(path) == expected.map { $0! }, "\(file): \(path)")
            } else {
                #expect(throws: WeightError.self) { try reader.strings(path) }
            }
            count.stringDatasets += 1
        default:
            // float64 and other types: the old reader refused them as tensors; so must this one.
            #expect(throws: WeightError.self, "\(file): \(path)") { try reader.tensor(path) }
            count.refused += 1
        }
    }
    try compareAttributes("/")
    try walk("/")
    return count
}

@Suite("HDF5 reader parity with libhdf5")
struct HDF5ReaderParityTests {
    /// Every .h5 under Tests/Fixtures: the same members, attributes and data; where libhdf5 cannot open a
    /// file (not_hdf5, truncated), neither can Loupe.
    @Test func everyFixtureReadsAsLibHDF5Does() throws {
        let files = FileManager.default.enumerator(at: fixturesDirectory, includingPropertiesForKeys: nil)!
            .compactMap { $0 as? URL }.filter { $0.pathExtension == "h5" }
        #expect(files.count >= 19)
        var total = ParityCount()
        for url in files {
            guard (try? LibHDF5Oracle(url.path)) != nil else {
                #expect(throws: WeightError.self, "\(url.lastPathComponent)") { try HDF5Reader(url) }
                continue
            }
            let c = try compareWithLibHDF5(url)
            total.groups += c.groups
            total.attributes += c.attributes
            total.floatDatasets += c.floatDatasets
            total.integerDatasets += c.integerDatasets
            total.stringDatasets += c.stringDatasets
            total.refused += c.refused
        }
        print("HDF5 parity over \(files.count) fixtures: \(total)")
        #expect(total.floatDatasets >= 387 && total.attributes >= 270 && total.stringDatasets >= 11)  // as counted at commit
        #expect(total.integerDatasets > 0)
    }

    /// A checkpoint written by Loupe's writer (with extras: optimizer tensors, training strings) reads back
    /// identically through both readers, and loads to the same tensors.
    @Test func loupeWriterOutputReadsAsLibHDF5Does() throws {
        let dir = try makeTemporaryDirectory()
        defer { removeTemporary(dir) }
        let checkpoint = try Checkpoint.load(fixture("bert_tiny_cls.h5"))
        var extras = LoupeFileExtras()
        extras.tensors = [("/optimizer/exp_avg/x", Tensor(shape: [2, 3], scalars: [1, -2, 3.5, .pi, 0, -0.0]))]
        extras.strings = [("/training", "state", "{\"epoch\": 1, \"ü\": \"ß\"}")]
        let url = dir.appendingPathComponent("out.h5")
        try LoupeFileWriter.write(checkpoint, to: url, extras: extras)
        let c = try compareWithLibHDF5(url)
        #expect(c.floatDatasets >= checkpoint.tensors.count + 1 && c.stringDatasets >= 1)
        let back = try Checkpoint.load(url)
        for (key, t) in checkpoint.tensors {
            #expect(back.tensors[key]?.scalars.map(\.bitPattern) == t.scalars.map(\.bitPattern), "\(key)")
        }
        #expect(try HDF5Reader(url).stringAttribute("state", of: "/training") == "{\"epoch\": 1, \"ü\": \"ß\"}")
    }
}
