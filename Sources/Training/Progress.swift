// Training progress for people: a one-line bar on a terminal, plain log lines when stdout is not a terminal.
import Foundation

/// A snapshot of a running training, passed to a reporter after each step.
public struct TrainingProgress: Sendable {
    public var epoch: Int  // 1-based
    public var epochs: Int
    public var step: Int  // optimiser steps done
    public var totalSteps: Int
    /// Mean training loss over the recent steps.
    public var loss: Double
    public var learningRate: Float
    public var examplesPerSecond: Double
    /// Estimated seconds left (training steps only).
    public var etaSeconds: Double
}

/// Receives progress and messages from a `Trainer`.
public protocol TrainingReporter: AnyObject {
    func progress(_ p: TrainingProgress)
    func message(_ line: String)
}

/// Writes to stdout. On a terminal the progress bar is redrawn in place (at most ~10 times a second) and
/// messages are printed above it; otherwise a progress line is printed every `logEvery` steps, as CI logs want.
public final class ConsoleReporter: TrainingReporter {
    public let isTerminal: Bool
    private let logEvery: Int
    private var lastDraw = 0.0
    private var barShown = false

    public init(isTerminal: Bool = isatty(STDOUT_FILENO) != 0, logEvery: Int = 50) {
        self.isTerminal = isTerminal
        self.logEvery = logEvery
    }

    public func progress(_ p: TrainingProgress) {
        if isTerminal {
            let now = Date().timeIntervalSince1970
            guard now - lastDraw >= 0.1 || p.step == p.totalSteps else { return }
            lastDraw = now
            let width = 24
            let done = p.totalSteps > 0 ? min(width, width * p.step / p.totalSteps) : 0
            let bar =
                String(repeating: "=", count: done) + (done < width ? ">" : "")
                + String(repeating: " ", count: max(0, width - done - 1))
            write("\r\u{1B}[2K" + "epoch \(p.epoch)/\(p.epochs) [\(bar)] " + stats(p))
            barShown = true
        } else if p.step % logEvery == 0 || p.step == p.totalSteps {
            write("epoch \(p.epoch)/\(p.epochs)  " + stats(p) + "\n")
        }
    }

    public func message(_ line: String) {
        if barShown {
            write("\r\u{1B}[2K")
            barShown = false
        }
        write(line + "\n")
    }

    private func stats(_ p: TrainingProgress) -> String {
        "step \(p.step)/\(p.totalSteps)  loss \(String(format: "%.4f", p.loss))  lr \(String(format: "%.2e", p.learningRate))  "
            + "\(Int(p.examplesPerSecond.rounded())) ex/s  ETA \(formatDuration(p.etaSeconds))"
    }

    private func write(_ s: String) {
        FileHandle.standardOutput.write(Data(s.utf8))
    }
}

/// "1:02:03", "4:05" or "0:07".
public func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    let s = Int(seconds.rounded())
    return s >= 3600
        ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
}
