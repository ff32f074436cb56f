// `project`: 2-D or 3-D PCA or UMAP of vectors, or of a model's embeddings of examples, each point with its id.
import Foundation
import Interpret
import Tensor
import Transformer

public enum ProjectionMethod: String, Codable, Sendable, CaseIterable {
    case pca, umap
}

/// What the model-based `project` embeds: the checkpoint's sentence embedding (`Workbench.embed`: mean-pooled
/// for all-MiniLM-L6-v2), or the [CLS] row of the last hidden state.
public enum ProjectionField: String, Codable, Sendable, CaseIterable {
    case embedding, cls
}

public struct ProjectionRequest: Codable, Sendable, SpecifiedOptions {
    public var method: ProjectionMethod = .pca
    /// 2 or 3.
    public var dims = 2
    /// Used by `project(_:examples:model:)` only.
    public var field: ProjectionField = .embedding
    /// UMAP: neighbours of each point, itself included (umap-learn's `n_neighbors`; N − 1 when N is smaller).
    public var nNeighbors = 15
    /// UMAP: how tightly points may pack in the layout (umap-learn's `min_dist`, with spread 1).
    public var minDist = 0.1
    /// UMAP: optimisation epochs; nil: umap-learn's default, 500 for up to 10,000 points, else 200.
    public var epochs: Int?
    /// UMAP: seeds the initialisation noise and the negative sampling (the result is deterministic).
    public var seed: UInt64 = 0

    public init(method: ProjectionMethod = .pca, dims: Int = 2, field: ProjectionField = .embedding) {
        self.method = method
        self.dims = dims
        self.field = field
    }

    public static let spec = ConfigSpec([
        ConfigField(
            "method", .choice, default: .string("pca"), choices: ProjectionMethod.allCases.map(\.rawValue),
            help: "Principal components (exact, through LAPACK) or UMAP."),
        ConfigField("dims", .int, default: .int(2), minimum: 2, maximum: 3, help: "Dimensions of the projection."),
        ConfigField(
            "field", .choice, default: .string("embedding"), choices: ProjectionField.allCases.map(\.rawValue),
            help: "What to project: the sentence embedding or the [CLS] hidden state."),
        ConfigField(
            "n_neighbors", .int, default: .int(15), minimum: 2, maximum: 200,
            help: "UMAP: neighbours per point, itself included."),
        ConfigField(
            "min_dist", .double, default: .double(0.1), minimum: 0, maximum: 1,
            help: "UMAP: minimum distance between points in the layout."),
        ConfigField(
            "epochs", .int, defaultNote: "500 for up to 10,000 points, else 200", minimum: 1, maximum: 10_000,
            help: "UMAP: optimisation epochs."),
        ConfigField("seed", .int, default: .int(0), minimum: 0, help: "UMAP: random seed."),
    ])

    public var optionValues: ConfigValues {
        var v: ConfigValues = [
            "method": .string(method.rawValue), "dims": .int(dims), "field": .string(field.rawValue),
            "n_neighbors": .int(nNeighbors), "min_dist": .double(minDist),
            "seed": .int(Int(truncatingIfNeeded: seed) & Int.max),
        ]
        if let epochs { v["epochs"] = .int(epochs) }
        return v
    }

    enum CodingKeys: String, CodingKey {
        case method, dims, field, nNeighbors = "n_neighbors", minDist = "min_dist", epochs, seed
    }

    /// Absent fields take their defaults, so `{"method": "umap"}` is a whole request.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        method = try c.decodeIfPresent(ProjectionMethod.self, forKey: .method) ?? .pca
        dims = try c.decodeIfPresent(Int.self, forKey: .dims) ?? 2
        field = try c.decodeIfPresent(ProjectionField.self, forKey: .field) ?? .embedding
        nNeighbors = try c.decodeIfPresent(Int.self, forKey: .nNeighbors) ?? 15
        minDist = try c.decodeIfPresent(Double.self, forKey: .minDist) ?? 0.1
        epochs = try c.decodeIfPresent(Int.self, forKey: .epochs)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 0
    }
}

public struct ProjectedPoint: Codable, Sendable, Equatable {
    public var id: String
    /// `dims` numbers.
    public var coordinates: [Double]
}

/// How a UMAP projection was computed (the defaults resolved).
public struct UMAPDetails: Codable, Sendable, Equatable {
    public var nNeighbors: Int
    public var minDist: Double
    public var epochs: Int
    public var seed: UInt64
    /// The curve 1 / (1 + a·d^{2b}) fitted to `min_dist` (umap-learn's `find_ab_params`).
    public var a: Double
    public var b: Double
    /// "spectral"; "pca" when the neighbour graph is disconnected or N > 2,000; "random" when N ≤ n_neighbors.
    public var initialization: String

    enum CodingKeys: String, CodingKey {
        case nNeighbors = "n_neighbors", minDist = "min_dist", epochs, seed, a, b, initialization
    }
}

public struct Projection: Codable, Sendable, Equatable {
    public var method: ProjectionMethod
    public var dims: Int
    /// Set by the model-based `project`.
    public var field: ProjectionField?
    /// One per input, in input order.
    public var points: [ProjectedPoint]
    /// PCA: each component's share of the total variance, largest first (scikit-learn's
    /// `explained_variance_ratio_`).
    public var explainedVarianceRatio: [Double]?
    public var umap: UMAPDetails?

    enum CodingKeys: String, CodingKey {
        case method, dims, field, points, explainedVarianceRatio = "explained_variance_ratio", umap
    }
}

extension Workbench {
    /// Projects N vectors of one length D, `ids[i]` naming `vectors[i]`. PCA as scikit-learn's exact PCA (signs by
    /// its `svd_flip` rule: each component's largest entry positive; needs N ≥ 2 and D ≥ dims); UMAP as umap-learn
    /// with `init="spectral"` (see UMAP.swift), deterministic for a seed. N = 0 gives no points.
    public static func project(
        _ request: ProjectionRequest, vectors: [[Float]], ids: [String]
    ) throws(WorkbenchError) -> Projection {
        let d = vectors.first?.count ?? 0
        if let bad = vectors.firstIndex(where: { $0.count != d }) {
            throw invalidInput(
                "vectors",
                "\(vectors[bad].count) numbers in vector \(ids.indices.contains(bad) ? ids[bad] : String(bad))",
                "all of one length (\(d), as the first)")
        }
        return try project(request, flat: vectors.flatMap { $0 }, rows: vectors.count, columns: d, ids: ids)
    }

    /// The same for a [N, D] tensor.
    public static func project(
        _ request: ProjectionRequest, vectors: Tensor, ids: [String]
    ) throws(WorkbenchError) -> Projection {
        guard vectors.shape.count == 2 else {
            throw invalidInput("vectors", "shape \(vectors.shape)", "a matrix [N, D]")
        }
        return try project(request, flat: vectors.scalars, rows: vectors.shape[0], columns: vectors.shape[1], ids: ids)
    }

    /// Embeds the examples with the model (`request.field`: the sentence embedding through `embed`, or the [CLS]
    /// row of the last hidden state), then projects them; the points carry the examples' ids. Over-long texts are
    /// truncated. BERT models only.
    public static func project(
        _ request: ProjectionRequest, examples: [Example], model: LoadedModel
    ) throws(WorkbenchError) -> Projection {
        try request.validateOptions()
        let vectors: Tensor
        switch request.field {
        case .embedding:
            let e = try embed(EmbedRequest(examples: examples), model: model)
            vectors = Tensor(
                shape: [e.count, e.first?.embedding.count ?? 0], scalars: e.flatMap { $0.embedding.map(Float.init) })
        case .cls:
            guard case .bert(let bert) = model.network else {
                throw .wrongModel(
                    file: model.url.relativePath, operation: "project", needs: "a BERT model",
                    found: model.kindDescription)
            }
            var rows: [Float] = []
            var start = 0
            while start < examples.count {
                let chunk = Array(examples[start..<min(start + 32, examples.count)])
                let (batch, _, _) = try encode(model, chunk, truncate: true)
                let h = bert(batch).lastHiddenState  // [B, T, H]
                rows += h.slice(axis: 1, 0..<1).squeezed(axis: 1).scalars  // [B, H]
                start += chunk.count
            }
            vectors = Tensor(shape: [examples.count, bert.config.hiddenSize], scalars: rows)
        }
        var p = try project(request, vectors: vectors, ids: examples.map(\.id))
        p.field = request.field
        return p
    }

    /// scikit-learn's `trustworthiness(X, X_embedded, n_neighbors=neighbors)` with Euclidean distances: how far
    /// each point's nearest neighbours in the projection rank among its neighbours in the original space
    /// (1: all are among the true `neighbors` nearest). Needs neighbors < N / 2.
    public static func trustworthiness(
        original: [[Float]], projected: [[Double]], neighbors: Int = 5
    ) throws(WorkbenchError) -> Double {
        let n = original.count, d = original.first?.count ?? 0, k = projected.first?.count ?? 0
        guard projected.count == n, original.allSatisfy({ $0.count == d }), projected.allSatisfy({ $0.count == k })
        else {
            throw invalidInput(
                "projected", "\(projected.count) points", "one per original vector (\(n)), all of one length")
        }
        guard neighbors >= 1, Double(neighbors) < Double(n) / 2 else {
            throw invalidInput("neighbors", String(neighbors), "at least 1 and less than half the points (\(n))")
        }
        return trustworthinessScore(
            original: PointSet(original.flatMap { $0 }, rows: n, columns: d),
            embedded: PointSet(projected.flatMap { $0 }, rows: n, columns: k), neighbors: neighbors)
    }

    static func project(
        _ request: ProjectionRequest, flat x: [Float], rows n: Int, columns d: Int, ids: [String]
    ) throws(WorkbenchError) -> Projection {
        try request.validateOptions()
        guard ids.count == n else { throw invalidInput("ids", String(ids.count), "one per vector (\(n))") }
        if let bad = x.firstIndex(where: { !$0.isFinite }) {
            throw invalidInput("vectors", "\(x[bad]) in vector \(ids[bad / d])", "finite numbers")
        }
        let dims = request.dims
        var out = Projection(method: request.method, dims: dims, points: [])
        guard n > 0 else { return out }
        let coordinates: [Double]
        switch request.method {
        case .pca:
            guard n >= 2 else { throw invalidInput("vectors", "1 vector", "at least 2 vectors for PCA") }
            guard d >= dims else {
                throw invalidInput("dims", String(dims), "at most the vectors' length (\(d)) for PCA")
            }
            guard let p = principalComponents(x, rows: n, columns: d, components: dims) else {
                throw invalidInput("vectors", nil, "data whose covariance LAPACK can diagonalise")
            }
            coordinates = p.coordinates
            out.explainedVarianceRatio = p.explainedVarianceRatio
        case .umap:
            let u = UMAP.embed(
                PointSet(x, rows: n, columns: d), dims: dims, neighbors: request.nNeighbors, minDist: request.minDist,
                epochs: request.epochs, seed: request.seed)
            coordinates = u.coordinates.map(Double.init)
            out.umap = UMAPDetails(
                nNeighbors: u.neighbors, minDist: request.minDist, epochs: u.epochs, seed: request.seed, a: u.a,
                b: u.b, initialization: u.initialization)
        }
        out.points = ids.enumerated().map { i, id in
            ProjectedPoint(id: id, coordinates: Array(coordinates[(i * dims)..<((i + 1) * dims)]))
        }
        return out
    }

    /// An input (not a declared option) that the projection cannot use, named by its field.
    static func invalidInput(_ field: String, _ value: String?, _ requirement: String) -> WorkbenchError {
        .invalidOption(OptionError(field: field, value: value, problem: .invalid(requirement)))
    }
}
