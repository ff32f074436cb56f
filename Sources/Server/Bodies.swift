// The JSON bodies of the /api routes: what each request may hold, and the envelopes results go out in.
import Interpret
import Workbench

/// Which examples a request is about: `ids` of `dataset` (all of it without ids), or `examples` given inline.
struct Selection: Decodable {
    var dataset: String?
    var ids: [String]?
    var examples: [Example]?
}

struct PredictBody: Decodable {
    var model: String
    var dataset: String?
    var ids: [String]?
    var examples: [Example]?
    var topK: Int?
    var includeLogits: Bool?
    var includeEmbeddings: Bool?
    enum CodingKeys: String, CodingKey {
        case model, dataset, ids, examples, topK = "top_k", includeLogits = "include_logits"
        case includeEmbeddings = "include_embeddings"
    }
}

struct ExplainBody: Decodable {
    var model: String
    var method: String
    var config: ConfigValues?
    var dataset: String?
    var ids: [String]?
    var examples: [Example]?
    var target: String?
    var score: String?
    var mergeWords: Bool?
    var maxTokens: Int?
    var contrast: String?
    enum CodingKeys: String, CodingKey {
        case model, method, config, dataset, ids, examples, target, score, mergeWords = "merge_words"
        case maxTokens = "max_tokens", contrast
    }
}

struct AttentionBody: Decodable {
    var model: String
    var example: Example?
    var dataset: String?
    var id: String?
    var layer: Int?
}

struct CounterfactualsBody: Decodable {
    var model: String
    var generator: String
    var config: ConfigValues?
    var dataset: String?
    var ids: [String]?
    var examples: [Example]?
}

struct TCAVBody: Decodable {
    var model: String
    var dataset: String
    var conceptIDs: [String]
    var randomIDs: [String]
    var targetClass: String
    /// The examples whose directional derivatives are measured (default: the whole dataset).
    var ids: [String]?
    var layer: Int?
    var runs: Int?
    var seed: Int?
    enum CodingKeys: String, CodingKey {
        case model, dataset, conceptIDs = "concept_ids", randomIDs = "random_ids", targetClass = "class", ids, layer, runs
        case seed
    }
    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decode(String.self, forKey: .model)
        dataset = try c.decode(String.self, forKey: .dataset)
        conceptIDs = try c.decode([String].self, forKey: .conceptIDs)
        randomIDs = try c.decode([String].self, forKey: .randomIDs)
        // A class name or index.
        if let i = try? c.decode(Int.self, forKey: .targetClass) { targetClass = String(i) } else {
            targetClass = try c.decode(String.self, forKey: .targetClass)
        }
        ids = try c.decodeIfPresent([String].self, forKey: .ids)
        layer = try c.decodeIfPresent(Int.self, forKey: .layer)
        runs = try c.decodeIfPresent(Int.self, forKey: .runs)
        seed = try c.decodeIfPresent(Int.self, forKey: .seed)
    }
}

/// `/api/project`'s body: which examples, plus the projection's own options (`ProjectionRequest`, same object).
struct ProjectBody: Decodable {
    var model: String
    var dataset: String
    var ids: [String]?
}

struct AddExamplesBody: Decodable {
    var dataset: String
    var examples: [Example]
}

struct Predictions: Encodable { let predictions: [Prediction] }
struct Explanations: Encodable { let explanations: [Explanation] }
struct AddedExamples: Encodable { let examples: [Example] }
struct Counterfactuals: Encodable { let counterfactuals: [Counterfactual] }
struct ExamplesPage: Encodable {
    let dataset: String
    let offset: Int
    let limit: Int
    let total: Int
    let examples: [Example]
}
