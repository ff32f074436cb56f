// End-to-end: every case of Tests/Fixtures/cli/commands.tsv run through the built `loupe`, compared with its golden.
//
// The goldens were written by the binary before the library-API refactor (scripts/cli-goldens), so these tests
// show the refactor changed no output: text byte for byte (numbers may differ in their last printed digit on
// another CPU's kernels), JSON field for field, ignoring only `seconds` (wall time) and `id` (added since, and
// checked separately).
import Foundation
import Testing

let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
let fixtures = root.appendingPathComponent("Tests/Fixtures/cli")

/// The `loupe` beside this test binary (SwiftPM builds it: the test target depends on it).
let loupe: URL = {
    let here = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    for dir in [here, here.deletingLastPathComponent()] {
        let candidate = dir.appendingPathComponent("loupe")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
    }
    return root.appendingPathComponent(".build/release/loupe")
}()

struct Case: CustomTestStringConvertible, Sendable {
    let name: String
    let arguments: [String]
    var testDescription: String { name }

    /// Splits on spaces; a double-quoted run is one argument (as the golden script's `eval` reads it).
    static func split(_ line: String) -> [String] {
        var out: [String] = [], current = "", quoted = false, any = false
        for ch in line {
            if ch == "\"" {
                quoted.toggle()
                any = true
            } else if ch == " " && !quoted {
                if any { out.append(current) }
                current = ""
                any = false
            } else {
                current.append(ch)
                any = true
            }
        }
        if any { out.append(current) }
        return out
    }

    static let all: [Case] = {
        let text = (try? String(contentsOf: fixtures.appendingPathComponent("commands.tsv"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            guard !line.hasPrefix("#"), let tab = line.firstIndex(of: "\t") else { return nil }
            return Case(name: String(line[..<tab]), arguments: split(String(line[line.index(after: tab)...])))
        }
    }()
}

/// Runs the built `loupe` from the package root with one thread, `stdin` piped in when given.
func run(
    _ arguments: [String], stdin: Data? = nil, environment: [String: String] = [:]
) throws -> (status: Int32, stdout: String, stderr: String) {
    let p = Process()
    p.executableURL = loupe
    p.arguments = arguments
    p.currentDirectoryURL = root
    var env = ProcessInfo.processInfo.environment
    env["LOUPE_THREADS"] = "1"
    env.merge(environment) { $1 }
    p.environment = env
    let input = Pipe(), out = Pipe(), err = Pipe()
    if stdin != nil { p.standardInput = input }
    p.standardOutput = out
    p.standardError = err
    try p.run()
    if let stdin {
        input.fileHandleForWriting.write(stdin)
        try input.fileHandleForWriting.close()
    }
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

/// Numbers agree to float32 rounding of the kernels (relative 1e-4, absolute 1e-6), or to one unit of the
/// last digit printed.
func close(_ a: Double, _ b: Double, printedDecimals: Int? = nil) -> Bool {
    if a == b { return true }
    let unit = printedDecimals.map { pow(10, -Double($0)) * 1.0001 } ?? 0
    return abs(a - b) <= max(1e-6 + 1e-4 * abs(b), unit)
}

/// JSON values equal up to `close` numbers, ignoring `seconds` and `id` keys.
func same(_ a: Any, _ b: Any, path: String = "") -> String? {
    switch (a, b) {
    case (let x as [String: Any], let y as [String: Any]):
        let kx = Set(x.keys).subtracting(["seconds", "id"]), ky = Set(y.keys).subtracting(["seconds", "id"])
        guard kx == ky else { return "\(path): keys \(kx.sorted()) vs \(ky.sorted())" }
        for k in kx.sorted() {
            if k == "delta", let dx = x[k] as? NSNumber, let dy = y[k] as? NSNumber,
                let score = y["input_score"] as? NSNumber
            {
                // IG's delta = Σ attributions − (F(x) − F(x′)) is a cancellation residue: float32 rounding of numbers
                // the size of F(x), not of itself, so it is compared at that scale (it differed by 1.2e-6 between
                // two CPUs' BLAS kernels for |F(x)| = 6.9). Its smallness is tested where IG is
                // (CaptumParityTests.integratedGradientsCompleteness).
                let bound = 1e-5 * max(1, abs(score.doubleValue))
                if abs(dx.doubleValue - dy.doubleValue) > bound { return "\(path).delta: \(dx) vs \(dy) (> \(bound))" }
                continue
            }
            if let d = same(x[k]!, y[k]!, path: path + "." + k) { return d }
        }
        return nil
    case (let x as [Any], let y as [Any]):
        guard x.count == y.count else { return "\(path): \(x.count) vs \(y.count) elements" }
        for i in x.indices { if let d = same(x[i], y[i], path: path + "[\(i)]") { return d } }
        return nil
    case (let x as NSNumber, let y as NSNumber):
        return close(x.doubleValue, y.doubleValue) ? nil : "\(path): \(x) vs \(y)"
    case (let x as String, let y as String):
        return x == y ? nil : "\(path): \(x.debugDescription) vs \(y.debugDescription)"
    default: return a is NSNull && b is NSNull ? nil : "\(path): \(a) vs \(b)"
    }
}

/// Text lines equal, except numbers that are `close` (a number in scientific notation is read whole, so that
/// 7.62e-08 is compared with 6.69e-08 as a number, not by its mantissa).
func sameText(_ actual: String, _ expected: String) -> Bool {
    if actual == expected { return true }
    let number = /-?\d+\.\d+(?:e[-+]\d+)?/
    let a = actual.split(separator: "\n", omittingEmptySubsequences: false)
    let e = expected.split(separator: "\n", omittingEmptySubsequences: false)
    guard a.count == e.count else { return false }
    for (x, y) in zip(a, e) where x != y {
        guard x.replacing(number, with: "#") == y.replacing(number, with: "#") else { return false }
        let nx = x.matches(of: number).map { String($0.output) }, ny = y.matches(of: number).map { String($0.output) }
        for (u, v) in zip(nx, ny) {
            let decimals =
                v.count - (v.firstIndex(of: ".").map { v.distance(from: v.startIndex, to: $0) + 1 } ?? v.count)
            guard let du = Double(u), let dv = Double(v), close(du, dv, printedDecimals: decimals) else { return false }
        }
    }
    return true
}

@Suite struct CLIGoldenTests {
    /// The cases come from commands.tsv when the tests are listed; an unreadable file would list none and the
    /// parameterised test below would pass over nothing. Every committed golden has its case.
    @Test func everyGoldenHasACase() throws {
        let goldens = try FileManager.default.contentsOfDirectory(atPath: fixtures.path).filter { $0.hasSuffix(".out") }
        #expect(!Case.all.isEmpty, "no cases read from \(fixtures.appendingPathComponent("commands.tsv").path)")
        #expect(Set(Case.all.map { $0.name + ".out" }) == Set(goldens) && Case.all.count == goldens.count)
    }

    @Test(arguments: Case.all) func matchesGolden(_ c: Case) throws {
        let expected = try String(contentsOf: fixtures.appendingPathComponent(c.name + ".out"), encoding: .utf8)
        let r = try run(c.arguments)
        if c.name.hasPrefix("error-") {
            let stderr = r.stderr.replacingOccurrences(of: root.path, with: "<root>")
            #expect("exit \(r.status)\n\(stderr)" == expected)
            return
        }
        #expect(r.status == 0, "\(r.stderr)")
        guard c.name.hasSuffix("-json") else {
            #expect(sameText(r.stdout, expected), "\(c.name):\n\(r.stdout)")
            return
        }
        // eval prints one pretty-printed object; the others one object per line.
        let pretty = c.name == "eval-json"
        let actualDocs = pretty ? [r.stdout] : r.stdout.split(separator: "\n").map(String.init)
        let expectedDocs = pretty ? [expected] : expected.split(separator: "\n").map(String.init)
        #expect(actualDocs.count == expectedDocs.count)
        for (i, (a, e)) in zip(actualDocs, expectedDocs).enumerated() {
            let x = try JSONSerialization.jsonObject(with: Data(a.utf8))
            let y = try JSONSerialization.jsonObject(with: Data(e.utf8))
            #expect(same(x, y) == nil, "\(c.name) line \(i + 1): \(same(x, y) ?? "")")
            if !pretty && !c.name.hasPrefix("eval-") {
                // Every per-example result carries its example's id: the 0-based position for --text and files
                // without ids.
                #expect((x as? [String: Any])?["id"] as? String == String(i), "\(c.name) line \(i + 1) has no id \(i)")
            }
        }
    }
}
