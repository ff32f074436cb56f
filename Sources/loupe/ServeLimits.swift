// `loupe serve`'s limits as flags: each sets one `ServerConfiguration` field (README "Limits" says what each bounds).
import ArgumentParser
import Server

struct ServeLimits: ParsableArguments {
    private static let defaults = ServerConfiguration()

    @Option(help: "Largest request body in bytes (413 above it).") var maxBody = ServeLimits.defaults.maxBodyBytes
    @Option(help: "Seconds a connection may wait for a request head, from connecting or from its last response.")
    var idleTimeout = ServeLimits.defaults.idleTimeoutSeconds
    @Option(help: "Seconds a request's body may take after its head (408 after it).")
    var requestTimeout = ServeLimits.defaults.requestTimeoutSeconds
    @Option(help: "Seconds a client may go without taking any of a response being sent before it is closed.")
    var writeTimeout = ServeLimits.defaults.writeTimeoutSeconds
    @Option(help: "Connections served at once; more wait in the listen backlog.")
    var maxConnections = ServeLimits.defaults.maxConnections
    @Option(help: "Requests admitted to the model queue at once (one computes); more get 429.")
    var queueLimit = ServeLimits.defaults.queueLimit
    @Option(help: "Examples one request may name (explain and counterfactuals: --max-explain-examples).") var maxExamples = ServeLimits.defaults.maxExamples
    @Option(help: "Examples one explain or counterfactuals request may name.") var maxExplainExamples = ServeLimits.defaults.maxExplainExamples
    @Option(help: "Characters of one example's text.") var maxTextLength = ServeLimits.defaults.maxTextLength
    @Option(help: "IG steps one explain request may ask for.") var maxSteps = ServeLimits.defaults.maxSteps
    @Option(help: "Samples one explain request may ask for (LIME, KernelSHAP, noise tunnels; and samples × steps).")
    var maxSamples = ServeLimits.defaults.maxSamples

    private var all: [(flag: String, value: Int)] {
        [("--max-body", maxBody), ("--idle-timeout", idleTimeout), ("--request-timeout", requestTimeout),
         ("--write-timeout", writeTimeout), ("--max-connections", maxConnections), ("--queue-limit", queueLimit),
         ("--max-examples", maxExamples), ("--max-explain-examples", maxExplainExamples),
         ("--max-text-length", maxTextLength), ("--max-steps", maxSteps), ("--max-samples", maxSamples)]
    }

    func validate() throws {
        for (flag, value) in all where value < 1 { throw ValidationError("\(flag) must be at least 1, got \(value)") }
    }

    func apply(to c: inout ServerConfiguration) {
        c.maxBodyBytes = maxBody
        c.idleTimeoutSeconds = idleTimeout
        c.requestTimeoutSeconds = requestTimeout
        c.writeTimeoutSeconds = writeTimeout
        c.maxConnections = maxConnections
        c.queueLimit = queueLimit
        c.maxExamples = maxExamples
        c.maxExplainExamples = maxExplainExamples
        c.maxTextLength = maxTextLength
        c.maxSteps = maxSteps
        c.maxSamples = maxSamples
    }
}
