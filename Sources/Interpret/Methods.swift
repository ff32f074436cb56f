// The salience methods as types: their ids, each one's config spec, and the one switch that builds a method from a config.
import Tensor

/// Every salience method Loupe implements, by the id requests and `loupe explain --method` use.
public enum MethodID: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
    case gradNorm = "grad-norm"
    case gradInput = "grad-input"
    case ig
    case lime
    case kernelShap = "kernel-shap"
    case occlusion
    case attention
    case info
    case smoothgrad
    case vargrad
    case gradientShap = "gradient-shap"
    case conductance
    case inputReduction = "input-reduction"
    case deeplift
    case chefer

    public var description: String { rawValue }

    /// Methods that only run forwards (on perturbed inputs), so they run at a model's reduced precision; the others
    /// differentiate, and gradients are always float32.
    public var isPerturbation: Bool { self == .lime || self == .kernelShap || self == .occlusion }

    /// The method id named `name`, or `InterpretError.unknownMethod` listing the known ones.
    public init(named name: String) throws(InterpretError) {
        guard let id = MethodID(rawValue: name) else {
            throw .unknownMethod(name, known: MethodID.allCases.map(\.rawValue))
        }
        self = id
    }

    /// One line for help texts and the UI.
    public var summary: String {
        switch self {
        case .gradNorm: return "‖∂score/∂embedding‖ per token (LIT's GradientNorm)"
        case .gradInput: return "∂score/∂embedding · embedding, summed per token (Captum's InputXGradient)"
        case .ig: return "integrated gradients along a straight path from a baseline (Sundararajan et al. 2017)"
        case .lime: return "a weighted ridge surrogate on token-masked samples (Ribeiro et al. 2016, as LIT)"
        case .kernelShap: return "Shapley values by weighted least squares on coalitions (Lundberg & Lee 2017)"
        case .occlusion: return "the score drop when each token alone is hidden"
        case .attention: return "the readout token's attention, rolled out through the layers (Abnar & Zuidema 2020)"
        case .info: return "information-based salience of a hidden state (Guan et al. 2019)"
        case .smoothgrad: return "a gradient method averaged over noisy copies of the input (Smilkov et al. 2017)"
        case .vargrad: return "the variance of a gradient method over noisy copies of the input (Adebayo et al. 2018)"
        case .gradientShap: return "expected gradients over random baselines and path points (Captum's GradientShap)"
        case .conductance: return "a hidden state's share of the input-path integral (Captum's LayerConductance)"
        case .inputReduction: return "remove the least important token while the prediction holds (Feng et al. 2018)"
        case .deeplift: return "DeepLIFT's rescale rule where Captum applies it (Shrikumar et al. 2017)"
        case .chefer: return "gradient-weighted attention relevance through the layers (Chefer et al. 2021)"
        }
    }

    /// The method's options (LIT's `config_spec`); `make` validates against it.
    public var spec: ConfigSpec {
        switch self {
        case .gradNorm: return ConfigSpec([Fields.textsPerPass])
        case .inputReduction, .chefer: return ConfigSpec([])
        case .deeplift: return ConfigSpec([IntegratedGradients.spec["baseline"]!])
        case .gradInput: return ConfigSpec([Fields.hiddenLayer, Fields.textsPerPass])
        case .ig: return ConfigSpec(IntegratedGradients.spec.fields + [Fields.hiddenLayer, Fields.neuron])
        case .conductance:
            let ig = ["steps", "rule", "baseline"].map { IntegratedGradients.spec[$0]! }
            return ConfigSpec([Fields.conductanceLayer] + ig)
        case .lime, .kernelShap: return ConfigSpec([Fields.samples, Fields.seed, Fields.perturbation])
        case .occlusion: return ConfigSpec([Fields.perturbation])
        case .attention: return ConfigSpec([Fields.attentionLayer])
        case .info: return ConfigSpec([Fields.infoLayer, Fields.iterations, Fields.seed])
        case .smoothgrad, .vargrad:
            let ig = ["steps", "rule", "baseline"].map { IntegratedGradients.spec[$0]! }
            let type = self == .smoothgrad ? [Fields.noiseTunnelType] : []
            return ConfigSpec([Fields.base] + type + [Fields.noiseSamples, Fields.noise(0.15), Fields.seed] + ig)
        case .gradientShap: return ConfigSpec([Fields.noiseSamples, Fields.noise(0), Fields.shapBaseline, Fields.seed])
        }
    }

    /// What the method needs from a model with its default options (LIT's `is_compatible`).
    public var requirements: Capabilities {
        (try? make(ConfigValues()).requirements) ?? []
    }

    /// How `mergeWords` combines this method's token scores into a word's.
    public var wordMerge: WordMerge {
        switch self {
        case .gradNorm: return .l2
        case .info, .inputReduction: return .mean
        default: return .sum
        }
    }

    /// How its scores map to colours.
    public var colourScale: ColourScale {
        switch self {
        case .gradNorm, .attention, .vargrad, .inputReduction, .chefer: return .unsigned
        case .info: return .inverted
        default: return .signed
        }
    }

    /// Whether the method reads only the gradient at the input, so the prediction's forward pass can be kept
    /// on a tape and reused.
    public var usesInputGradientOnly: Bool { self == .gradNorm || self == .gradInput }

    /// The method configured by `values` (validated against `spec`); `mergeWords` groups word pieces for the
    /// perturbation methods, `regularization` is the information method's r.
    public func make(
        _ values: ConfigValues, mergeWords: Bool = false, regularization: Tensor? = nil
    ) throws(InterpretError) -> any SalienceMethod {
        let c: ValidatedConfig
        do { c = try spec.validate(values) } catch { throw .invalidConfig(error) }
        switch self {
        case .gradNorm: return GradientNorm()
        case .gradInput: return c.int("layer").map { LayerGradientXActivation(layer: $0) } ?? GradientTimesInput()
        case .ig:
            let tolerance = c.double("tolerance")
            let ig = IntegratedGradients(
                steps: c.int("steps") ?? (tolerance == nil ? 32 : IntegratedGradients.toleranceStart),
                rule: c.choice("rule") ?? .gaussLegendre, baseline: c.choice("baseline") ?? .zeros,
                tolerance: tolerance, batchSize: c.int("batch_size"))
            try ig.validate()
            if let neuron = c.string("neuron") {
                let parts = neuron.split(separator: ":", omittingEmptySubsequences: false).map { Int($0) }
                guard parts.count == 2, let l = parts[0], let u = parts[1], l >= 0, u >= 0 else {
                    throw .invalidConfig(OptionError(field: "neuron", value: neuron, problem: .invalid("LAYER:UNIT")))
                }
                return NeuronIntegratedGradients(layer: l, unit: u, ig)
            }
            return c.int("layer").map { LayerIntegratedGradients(layer: $0, ig) } ?? ig
        case .conductance:
            let m = LayerConductance(
                layer: c.int("layer")!, steps: c.int("steps") ?? 32, rule: c.choice("rule") ?? .gaussLegendre,
                baseline: c.choice("baseline") ?? .zeros)
            try IntegratedGradients(steps: m.steps + 1, rule: m.rule, baseline: m.baseline).validate()
            return m
        case .lime:
            return LIME(
                samples: c.int("samples")!, seed: UInt64(c.int("seed")!), perturbation: c.choice("perturbation")!,
                mergeWords: mergeWords)
        case .kernelShap:
            return KernelSHAP(
                samples: c.int("samples")!, seed: UInt64(c.int("seed")!), perturbation: c.choice("perturbation")!,
                mergeWords: mergeWords)
        case .occlusion: return Occlusion(perturbation: c.choice("perturbation")!, mergeWords: mergeWords)
        case .attention: return AttentionSalience(layer: c.int("layer"))
        case .info:
            return InformationSalience(
                layer: c.int("layer"), iterations: c.int("iterations")!, regularization: regularization,
                seed: UInt64(c.int("seed")!))
        case .smoothgrad, .vargrad:
            let ig = IntegratedGradients(
                steps: c.int("steps") ?? 32, rule: c.choice("rule") ?? .gaussLegendre,
                baseline: c.choice("baseline") ?? .zeros)
            if c.choice("base", as: MethodID.self) == .ig { try ig.validate() }
            let s = SmoothGrad(
                base: c.choice("base")!, type: c.choice("nt_type") ?? .vargrad, samples: c.int("samples")!,
                noise: c.double("noise")!, seed: UInt64(c.int("seed")!), integratedGradients: ig)
            return self == .vargrad ? VarGrad(s) : s
        case .inputReduction: return InputReduction()
        case .deeplift: return DeepLift(baseline: c.choice("baseline")!)
        case .chefer: return CheferRelevance()
        case .gradientShap:
            return GradientSHAP(
                samples: c.int("samples")!, noise: c.double("noise")!, baseline: c.choice("baseline")!,
                seed: UInt64(c.int("seed")!))
        }
    }
}

/// Fields shared by several methods, declared once.
enum Fields {
    static let samples = ConfigField(
        "samples", .int, default: .int(256), minimum: 1, help: "LIME / KernelSHAP: perturbed samples.")
    static let seed = ConfigField(
        "seed", .int, default: .int(0), minimum: 0,
        help: "Seed of LIME, KernelSHAP, the information method, SmoothGrad / VarGrad and GradientSHAP.")
    static let perturbation = ConfigField(
        "perturbation", .choice, default: .string(Perturbation.mask.rawValue),
        choices: Perturbation.allCases.map(\.rawValue),
        help: "LIME / KernelSHAP / occlusion: hide tokens with [MASK] (mask) or delete them (remove).")
    static let attentionLayer = ConfigField(
        "layer", .int, defaultNote: "rollout over all layers", minimum: 1,
        help: "attention: show layer l's raw attention (1 … L) instead of the rollout.")
    static let infoLayer = ConfigField(
        "layer", .int, defaultNote: "the last hidden state", minimum: 0,
        help: "info: the hidden state explained (0 = embeddings … L).")
    static let hiddenLayer = ConfigField(
        "layer", .int, defaultNote: "the input embeddings", minimum: 0,
        help: "grad-input / ig: attribute to hidden state l (0 = the embedding output … L), as Captum's Layer* methods.")
    static let conductanceLayer = ConfigField(
        "layer", .int, default: .int(0), minimum: 0,
        help: "conductance: the hidden state l (0 = the embedding output … L; a classifier's last one is [CLS] alone).")
    static let neuron = ConfigField(
        "neuron", .text, defaultNote: "none: the model's score",
        help: "ig: explain unit I of hidden state L at the readout token instead (L:I; NeuronIntegratedGradients).")
    /// Captum's `internal_batch_size`, Hugging Face pipelines' `batch_size`: rows per pass, here whole texts.
    static let textsPerPass = ConfigField(
        "batch_size", .int, default: .int(16), minimum: 1,
        help: "grad-norm / grad-input (at the input) on a classifier: texts explained together in one pass (at most "
            + "2,048 tokens; 1: each text alone).")
    static let iterations = ConfigField("iterations", .int, default: .int(1000), minimum: 1, help: "info: Adam steps.")
    static let base = ConfigField(
        "base", .choice, default: .string(MethodID.gradNorm.rawValue), choices: SmoothGrad.bases.map(\.rawValue),
        help: "smoothgrad / vargrad: the gradient method run on each noisy copy (grad-norm: Smilkov et al.'s).")
    static let noiseTunnelType = ConfigField(
        "nt_type", .choice, default: .string(NoiseTunnelType.smoothgrad.rawValue),
        choices: NoiseTunnelType.allCases.map(\.rawValue),
        help: "smoothgrad: combine the copies' attributions by their mean, mean square or variance (Captum's nt_type).")
    static let noiseSamples = ConfigField(
        "samples", .int, default: .int(16), minimum: 1, help: "smoothgrad / vargrad / gradient-shap: noisy samples.")
    static func noise(_ value: Double) -> ConfigField {
        ConfigField(
            "noise", .double, default: .double(value), minimum: 0,
            help: "smoothgrad / vargrad / gradient-shap: the input noise's σ as a fraction of the embeddings' range.")
    }
    static let shapBaseline = ConfigField(
        "baseline", .choice, default: .string(SHAPBaseline.gaussian.rawValue),
        choices: SHAPBaseline.allCases.map(\.rawValue),
        help: "gradient-shap: Gaussian baselines (σ of the word embeddings), or one as IG's.")
}

extension IntegratedGradients {
    public static let spec = ConfigSpec([
        ConfigField(
            "steps", .int, defaultNote: "32; with tolerance the first rule's, 4", minimum: 1,
            help: "IG: quadrature points."),
        ConfigField(
            "rule", .choice, default: .string(QuadratureRule.gaussLegendre.rawValue),
            choices: QuadratureRule.allCases.map(\.rawValue), help: "IG: the quadrature rule."),
        ConfigField(
            "baseline", .choice, default: .string(Baseline.zeros.rawValue), choices: Baseline.allCases.map(\.rawValue),
            help: "IG: the baseline embeddings."),
        ConfigField(
            "tolerance", .double, defaultNote: "none: a fixed rule", minimum: 0, exclusiveMinimum: true,
            help: "IG: refine the rule until |delta| ≤ tolerance·|F(x) − F(baseline)|."),
        ConfigField(
            "batch_size", .int, defaultNote: "about 2,048 tokens per batch", minimum: 0, exclusiveMinimum: true,
            help: "IG: interpolation points per forward pass."),
    ])
}

/// How word pieces' scores combine into a word's (`mergeWords`).
public enum WordMerge: Sendable {
    case sum, l2, mean
}
