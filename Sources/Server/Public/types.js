// The API's JSON shapes as JSDoc types (docs/openapi.yaml is the contract; these mirror it for tsc).
export {};

/**
 * @typedef {{id: string, text: string, label?: string | null, parent?: string | null}} Example
 * @typedef {{name: string, kind: 'bool'|'int'|'double'|'choice'|'text', defaultValue?: any, defaultNote?: string,
 *   choices?: string[], minimum?: number, maximum?: number, exclusiveMinimum?: boolean, help: string}} ConfigField
 * @typedef {{fields: ConfigField[]}} ConfigSpec
 * @typedef {{id: string, summary: string, spec: ConfigSpec, compatible: boolean, reason?: string}} ComponentInfo
 * @typedef {{name: string, architecture: string, task: string, labels: string[], layers: number, heads: number,
 *   hidden_size: number, max_length: number, capabilities: string[], operations: string[], methods: ComponentInfo[],
 *   generators: ComponentInfo[], metrics: string[], projections: string[]}} ModelInfo
 * @typedef {{name: string, size: number, fields: string[], labels: string[]}} DatasetInfo
 * @typedef {{models: ModelInfo[], datasets: DatasetInfo[]}} Info
 * @typedef {{token: string, id: number, probability: number}} TokenProbability
 * @typedef {{position: number, candidates: TokenProbability[]}} MaskFill
 * @typedef {{id: string, text: string, label?: string, probabilities?: Record<string, number>, masks?: MaskFill[],
 *   next_tokens?: TokenProbability[], logits?: number[], embedding?: number[], truncated?: boolean}} Prediction
 * @typedef {{token: string, position: number, scores: number[], prediction?: Record<string, number>,
 *   input_score?: number, score?: string, delta?: number, steps?: number, contrast?: string}} SequenceTarget
 * @typedef {{id: string, method: string, text: string, tokens?: string[], offsets?: number[][], scores?: number[],
 *   target?: string, prediction?: Record<string, number>, input_score?: number, score?: string, delta?: number,
 *   seconds?: number, steps?: number, converged?: boolean, baseline_score?: number, ids?: number[],
 *   prompt_tokens?: number, targets?: SequenceTarget[]}} Explanation
 * @typedef {{id: string, tokens: string[], layers: number[], attention: number[][][][], rollout: number[][]}} Attention
 * @typedef {{label: string, precision: number, recall: number, f1: number, support: number}} ClassMetrics
 * @typedef {{accuracy: number, examples: number, f1?: number, macro_f1: number, confusion: number[][],
 *   per_class: ClassMetrics[]}} ClassificationMetrics
 * @typedef {{threshold: number, precision: number, recall: number, f1: number}} PRPoint
 * @typedef {{metrics: ClassificationMetrics, pr_curve?: PRPoint[], best_threshold?: PRPoint,
 *   slices?: Record<string, ClassificationMetrics>}} MetricsResult
 * @typedef {{id: string, coordinates: number[]}} ProjectedPoint
 * @typedef {{method: string, dims: number, points: ProjectedPoint[], explained_variance_ratio?: number[]}} Projection
 * @typedef {{example: Example, prediction: Prediction, edits?: any[], estimated_change?: number}} Counterfactual
 * @typedef {{step: number, epoch: number, accuracy: number, f1: number, macro_f1: number, precision: number[],
 *   recall: number[], learning_rate: number, train_seconds: number, examples_per_second: number, best: boolean,
 *   loss?: number}} Evaluation
 * @typedef {{name: string, evaluations: Evaluation[]}} TrainingRun
 */
