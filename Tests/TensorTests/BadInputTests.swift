// Bad input to tensor ops stops the process with a message naming the shapes, never corrupts memory.
import Foundation
import Testing
import Tensor

/// Runs `body` in a child process (a Swift Testing exit test) and returns what it wrote to stderr.
@Suite struct BadInputTests {
    @Test func matmulOfIncompatibleShapesNamesBothShapes() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = matmul(Tensor.zeros([2, 3]), Tensor.zeros([4, 5]))
        }
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("[2, 3]") && stderr.contains("[4, 5]"), "stderr: \(stderr)")
    }

    @Test func broadcastMismatchNamesBothShapes() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]) + Tensor.zeros([4])
        }
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("[2, 3]") && stderr.contains("[4]"), "stderr: \(stderr)")
    }

    @Test func outOfRangeAxisIsReported() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).sum(axis: 2)
        }
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("axis 2 out of range for rank 2"), "stderr: \(stderr)")
    }

    @Test func badReshapeNamesShapes() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).reshaped([4, 2])
        }
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("[2, 3]") && stderr.contains("[4, 2]"), "stderr: \(stderr)")
    }

    @Test func embeddingIndexOutOfRangeIsReported() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = embedding(Tensor.zeros([10, 4]), indices: [3, 10])
        }
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("index 10 out of range for weight [10, 4]"), "stderr: \(stderr)")
    }

    @Test func tensorWithWrongScalarCountIsReported() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor(shape: [2, 2], scalars: [1, 2, 3])
        }
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("shape [2, 2] needs 4 scalars, got 3"), "stderr: \(stderr)")
    }
}
