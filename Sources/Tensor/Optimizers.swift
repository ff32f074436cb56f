// Optimisers (SGD, AdamW), gradient clipping by global norm and the linear warm-up/decay schedule.

/// Plain SGD with optional momentum (PyTorch `torch.optim.SGD`, dampening 0, no Nesterov).
public struct SGD: Sendable {
    public var learningRate: Float
    public var momentum: Float
    var velocity: [Tensor] = []

    public init(learningRate: Float, momentum: Float = 0) {
        self.learningRate = learningRate
        self.momentum = momentum
    }

    /// Updates `parameters[i]` in place with `gradients[i]`.
    public mutating func update(_ parameters: inout [Tensor], gradients: [Tensor]) {
        checkPairs(parameters, gradients, "SGD")
        if momentum != 0 && velocity.isEmpty {
            velocity = gradients.map { $0.detached }
        } else if momentum != 0 {
            for i in velocity.indices { velocity[i] = velocity[i] * momentum + gradients[i].detached }
        }
        for i in parameters.indices {
            let d = momentum != 0 ? velocity[i] : gradients[i].detached
            parameters[i] = parameters[i].detached - d * learningRate
        }
    }
}

/// AdamW (Loshchilov & Hutter, 2019) exactly as PyTorch's `torch.optim.AdamW` (single-tensor path):
/// p ← p·(1 − lr·λ); m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
/// p ← p − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε).
public struct AdamW: Sendable, Codable {
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float
    /// Steps taken so far (PyTorch's `state['step']`).
    public private(set) var step: Int = 0
    /// First and second moment estimates, one per parameter, created on the first step.
    public private(set) var m: [[Float]] = []
    public private(set) var v: [[Float]] = []
    /// Per parameter, a byte per whole block of `OptimizerKernels.untouchedBlock` entries, non-zero while the
    /// block's m and v are all +0 (no gradient has reached it yet); derived from m and v, so not saved.
    private var untouched: [[UInt8]] = []

    private enum CodingKeys: String, CodingKey {
        case learningRate, beta1, beta2, epsilon, weightDecay, step, m, v
    }

    public init(
        learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
        weightDecay: Float = 0.01
    ) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }

    /// Restores saved state (for resuming training).
    public mutating func restore(step: Int, m: [[Float]], v: [[Float]]) {
        check(m.count == v.count, "AdamW: \(m.count) first moments but \(v.count) second moments")
        self.step = step
        self.m = m
        self.v = v
        untouched = []
    }

    /// Updates `parameters[i]` in place with `gradients[i]`. With `gradientScale`, each gradient is read as
    /// `g·scale + 0`, exactly what `clipGradientNorm` would have stored (so clipping can skip its copy pass).
    /// Vectorised over all parameters at once on all threads (`OptimizerKernels.adamW`), with the scalar
    /// reference's arithmetic per element, so results are bit-identical to it.
    public mutating func update(_ parameters: inout [Tensor], gradients: [Tensor], gradientScale: Float? = nil) {
        checkPairs(parameters, gradients, "AdamW")
        if m.isEmpty {
            m = parameters.map { [Float](repeating: 0, count: $0.count) }
            v = parameters.map { [Float](repeating: 0, count: $0.count) }
        }
        check(m.count == parameters.count, "AdamW: state for \(m.count) parameters, given \(parameters.count)")
        for i in parameters.indices {
            check(
                m[i].count == parameters[i].count,
                "AdamW: state size \(m[i].count) for parameter \(parameters[i].shape)")
        }
        if untouched.count != m.count { untouched = m.indices.map { untouchedBlocks(m[$0], v[$0]) } }
        step += 1
        let constants = stepConstants()
        // Every buffer is made unique here and then left alone until the kernel returns.
        let p = mutableBuffers(&parameters)
        let mb = m.indices.map { i in m[i].withUnsafeMutableBufferPointer { $0 } }
        let vb = v.indices.map { i in v[i].withUnsafeMutableBufferPointer { $0 } }
        let ub = untouched.indices.map { i in untouched[i].withUnsafeMutableBufferPointer { $0 } }
        let g = gradients.map { t in t.storage.withUnsafeBufferPointer { $0 } }
        withExtendedLifetime(gradients) {
            OptimizerKernels.adamW(
                parameters: p, m: mb, v: vb, gradients: g, constants, gradientScale: gradientScale, untouched: ub)
        }
    }

    /// The untouched flags of one parameter's moments: 1 for each whole block whose m and v bits are all zero.
    private func untouchedBlocks(_ m: [Float], _ v: [Float]) -> [UInt8] {
        let block = OptimizerKernels.untouchedBlock
        return (0..<(m.count / block)).map { b in
            let r = (b * block)..<((b + 1) * block)
            return m[r].allSatisfy { $0.bitPattern == 0 } && v[r].allSatisfy { $0.bitPattern == 0 } ? 1 : 0
        }
    }

    /// The element update's constants for the current `step` (PyTorch's bias corrections in Double).
    public func stepConstants() -> AdamWStepConstants {
        let bc1 = 1 - Float(Double(beta1).power(step))
        let bc2Sqrt = Float(Double(1 - Double(beta2).power(step)).squareRoot())
        return AdamWStepConstants(
            decay: 1 - learningRate * weightDecay, beta1: beta1, beta2: beta2, epsilon: epsilon, bc2Sqrt: bc2Sqrt,
            stepSize: learningRate / bc1)
    }
}

/// Mutable buffers over the tensors' storage, each made unique (copied if shared) and detached from its tape.
/// Valid until the tensors are next changed.
func mutableBuffers(_ tensors: inout [Tensor]) -> [UnsafeMutableBufferPointer<Float>] {
    tensors.indices.map { i in tensors[i].withUnsafeMutableBufferPointer { $0 } }
}

extension Double {
    fileprivate func power(_ n: Int) -> Double {
        var r = 1.0
        for _ in 0..<n { r *= self }
        return r
    }
}

private func checkPairs(_ parameters: [Tensor], _ gradients: [Tensor], _ name: String) {
    check(
        parameters.count == gradients.count, "\(name): \(parameters.count) parameters but \(gradients.count) gradients")
    for (p, g) in zip(parameters, gradients) {
        check(p.shape == g.shape, "\(name): gradient shape \(g.shape) != parameter shape \(p.shape)")
    }
}

/// Scales `gradients` so their global L2 norm is at most `maxNorm`, as
/// `torch.nn.utils.clip_grad_norm_` (coefficient maxNorm / (norm + 1e-6), clamped to 1), in place.
/// Returns the norm before clipping.
@discardableResult
public func clipGradientNorm(_ gradients: inout [Tensor], maxNorm: Float) -> Float {
    let norm = gradientNorm(gradients)
    let coef = clipCoefficient(norm: norm, maxNorm: maxNorm)
    if coef < 1 { OptimizerKernels.scale(mutableBuffers(&gradients), by: coef) }
    return norm
}

/// The global L2 norm of `gradients`: a Float sum of squares per tensor in element order, summed over the
/// tensors in Double (bit-identical to that scalar loop; see `OptimizerKernels.globalNorm`).
public func gradientNorm(_ gradients: [Tensor]) -> Float {
    let buffers = gradients.map { t in t.storage.withUnsafeBufferPointer { $0 } }
    return withExtendedLifetime(gradients) { OptimizerKernels.globalNorm(buffers) }
}

/// Clipping's coefficient for a global norm: min(maxNorm / (norm + 1e-6), 1). Gradients are scaled only
/// when it is below 1.
public func clipCoefficient(norm: Float, maxNorm: Float) -> Float {
    min(maxNorm / (norm + 1e-6), 1)
}

/// Linear warm-up from 0 to the peak, then linear decay to 0 at `totalSteps`
/// (transformers `get_linear_schedule_with_warmup`).
public struct LinearWarmupSchedule: Sendable, Codable {
    public var peak: Float
    public var warmupSteps: Int
    public var totalSteps: Int

    public init(peak: Float, warmupSteps: Int, totalSteps: Int) {
        check(
            warmupSteps >= 0 && totalSteps >= warmupSteps,
            "schedule: warm-up \(warmupSteps) must be in 0...\(totalSteps)")
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
    }

    /// The learning rate for optimiser step `step` (0-based, as the scheduler's `last_epoch`).
    public func learningRate(at step: Int) -> Float {
        if step < warmupSteps { return peak * Float(step) / Float(max(1, warmupSteps)) }
        let remaining = Float(totalSteps - step) / Float(max(1, totalSteps - warmupSteps))
        return peak * max(0, remaining)
    }
}
