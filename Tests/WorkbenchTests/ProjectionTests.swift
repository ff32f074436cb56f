// PCA and UMAP projections against scikit-learn and umap-learn on the 872 MiniLM SST-2 dev embeddings.
import Foundation
import Testing
import Transformer
import Workbench

/// Tests/Fixtures/projection_golden.json (weights-scripts/make_projection_goldens.py).
struct ProjectionGolden: Decodable {
    struct PCA: Decodable {
        var explained_variance_ratio: [Double]
        var coordinates: [[Double]]
    }
    struct UMAP: Decodable {
        struct Run: Decodable {
            var seed: Int
            var trustworthiness: Double
            var seconds: Double
        }
        var runs: [Run]
        var mean_trustworthiness: Double
    }
    var pca: PCA
    var pca_trustworthiness: Double
    var umap: UMAP
    var find_ab_params: [String: [Double]]
}

@Suite struct ProjectionTests {
    let golden = try! JSONDecoder().decode(
        ProjectionGolden.self, from: Data(contentsOf: URL(fileURLWithPath: fixture("projection_golden.json"))))
    let vectors: [[Float]] = {
        let t = try! HDF5Reader(URL(fileURLWithPath: fixture("minilm_sst2_dev_embeddings.h5"))).tensor("/embeddings")
        let d = t.shape[1]
        return (0..<t.shape[0]).map { Array(t.scalars[($0 * d)..<(($0 + 1) * d)]) }
    }()
    var ids: [String] { vectors.indices.map(String.init) }

    /// Explained variance ratios within 1e-5 and coordinates within 1e-4 of sklearn's exact PCA, same signs
    /// (each component's largest entry positive); the trustworthiness of its 2-D projection as sklearn's.
    @Test func pcaMatchesScikitLearn() throws {
        let p = try Workbench.project(ProjectionRequest(method: .pca, dims: 3), vectors: vectors, ids: ids)
        #expect(p.points.map(\.id) == ids && p.umap == nil)
        let ratios = try #require(p.explainedVarianceRatio)
        // The golden holds sklearn's first 10 ratios; ours are the 3 asked for.
        #expect(ratios.count == 3 && golden.pca.explained_variance_ratio.count >= 3)
        for (ours, theirs) in zip(ratios, golden.pca.explained_variance_ratio.prefix(3)) { #expect(abs(ours - theirs) <= 1e-5) }
        var worst = 0.0
        #expect(golden.pca.coordinates.count == p.points.count)
        for (point, reference) in zip(p.points, golden.pca.coordinates) {
            #expect(point.coordinates.count == 3 && reference.count == 3)
            for (x, y) in zip(point.coordinates, reference) { worst = max(worst, abs(x - y)) }
        }
        #expect(worst <= 1e-4, "largest coordinate difference \(worst)")
        print(
            "PCA vs scikit-learn: ratios \(ratios) (sklearn \(golden.pca.explained_variance_ratio.prefix(3))), "
                + "max |coordinate difference| \(worst)")
        let tw = try Workbench.trustworthiness(
            original: vectors, projected: p.points.map { Array($0.coordinates[0..<2]) })
        #expect(
            abs(tw - golden.pca_trustworthiness) <= 1e-5,
            "trustworthiness \(tw) vs sklearn \(golden.pca_trustworthiness)")
    }

    /// UMAP's 2-D layout keeps local neighbourhoods as well as umap-learn's (trustworthiness within 0.02 of the
    /// mean over umap-learn's seeds 0, 1, 2); a and b as umap-learn's curve fit.
    @Test func umapTrustworthinessMatchesUmapLearn() throws {
        let start = Date()
        let p = try Workbench.project(ProjectionRequest(method: .umap, dims: 2), vectors: vectors, ids: ids)
        let seconds = Date().timeIntervalSince(start)
        let details = try #require(p.umap)
        #expect(details.epochs == 500 && details.nNeighbors == 15 && details.initialization == "spectral")
        let ab = golden.find_ab_params["0.1"]!
        #expect(abs(details.a - ab[0]) <= 1e-4 * ab[0] && abs(details.b - ab[1]) <= 1e-4 * ab[1], "\(details)")
        let tw = try Workbench.trustworthiness(original: vectors, projected: p.points.map(\.coordinates))
        let reference = golden.umap.mean_trustworthiness
        print(
            String(
                format: "UMAP trustworthiness (k=5): Loupe %.4f in %.2f s; umap-learn %.4f (seeds %@; %.2f s per fit)",
                tw, seconds, reference,
                golden.umap.runs.map { String(format: "%.4f", $0.trustworthiness) }
                    .joined(separator: ", "),
                golden.umap.runs.map(\.seconds).reduce(0, +) / Double(golden.umap.runs.count)))
        #expect(abs(tw - reference) <= 0.02, "Loupe \(tw), umap-learn \(reference)")
        #expect(p.points.allSatisfy { $0.coordinates.count == 2 && $0.coordinates.allSatisfy(\.isFinite) })
    }

    /// Same seed, same layout; another seed, another; 3-D; min_dist 0.5's a, b.
    @Test func umapIsDeterministic() throws {
        let few = Array(vectors.prefix(150)), fewIDs = Array(ids.prefix(150))
        var r = ProjectionRequest(method: .umap, dims: 3)
        r.epochs = 50
        r.seed = 7
        let first = try Workbench.project(r, vectors: few, ids: fewIDs)
        #expect(try Workbench.project(r, vectors: few, ids: fewIDs) == first)
        #expect(first.points.allSatisfy { $0.coordinates.count == 3 })
        r.seed = 8
        #expect(try Workbench.project(r, vectors: few, ids: fewIDs) != first)
        r.minDist = 0.5
        let ab = golden.find_ab_params["0.5"]!
        let u = try #require(try Workbench.project(r, vectors: few, ids: fewIDs).umap)
        #expect(abs(u.a - ab[0]) <= 1e-4 * ab[0] && abs(u.b - ab[1]) <= 1e-4 * ab[1], "\(u)")
        // Fewer points than neighbours: n_neighbors N − 1 and random initialisation, as umap-learn.
        let tiny = try Workbench.project(r, vectors: Array(few.prefix(6)), ids: Array(fewIDs.prefix(6)))
        #expect(tiny.umap?.nNeighbors == 5 && tiny.umap?.initialization == "random")
    }

    @Test func requestsDecodeWithDefaultsAndOptionsAreChecked() throws {
        let r = try JSONDecoder().decode(ProjectionRequest.self, from: Data(#"{"method": "umap", "dims": 3}"#.utf8))
        #expect(r.method == .umap && r.dims == 3 && r.nNeighbors == 15 && r.minDist == 0.1 && r.epochs == nil)
        #expect(ProjectionRequest.spec["n_neighbors"]?.defaultValue == .int(15))
        var bad = ProjectionRequest(method: .pca, dims: 4)
        let few = Array(vectors.prefix(10)), fewIDs = Array(ids.prefix(10))
        #expect(
            workbenchError { () throws(WorkbenchError) in _ = try Workbench.project(bad, vectors: few, ids: fewIDs) }?
                .description == "dims must be at most 3, got 4")
        bad.dims = 2
        #expect(
            workbenchError { () throws(WorkbenchError) in
                _ = try Workbench.project(bad, vectors: few, ids: Array(fewIDs.prefix(9)))
            }?.field == "ids")
        // Encoded with snake_case keys and decoded back.
        let p = try Workbench.project(ProjectionRequest(), vectors: few, ids: fewIDs)
        let json = String(decoding: try JSONEncoder().encode(p), as: UTF8.self)
        #expect(json.contains("explained_variance_ratio"))
        #expect(try JSONDecoder().decode(Projection.self, from: Data(json.utf8)) == p)
    }

    /// The model-based entry point: sentence embeddings or [CLS] states of examples, ids carried through.
    @Test func projectsExamplesThroughAModel() throws {
        let m = try Workbench.loadModel(fixture("bert_tiny_cls.h5"))
        let examples = ["a gorgeous , witty movie .", "dull and flat", "the best film of the year", "it never ends"]
            .enumerated().map { Example(id: "e\($0.offset)", text: $0.element) }
        for field in ProjectionField.allCases {
            let p = try Workbench.project(
                ProjectionRequest(method: .pca, dims: 2, field: field), examples: examples, model: m)
            #expect(p.field == field && p.points.map(\.id) == ["e0", "e1", "e2", "e3"])
            #expect(p.points.allSatisfy { $0.coordinates.count == 2 })
        }
    }
}
