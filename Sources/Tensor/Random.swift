// The documented, seedable random number generator behind initialisation, dropout and shuffling.
import Foundation

/// xoshiro256** (Blackman & Vigna, 2018), state seeded from a 64-bit seed through SplitMix64.
/// The same seed gives the same stream on every platform and Swift version. Normal variates come
/// from the Box–Muller transform on two uniform draws, uniform floats from the top 24 bits.
public struct RandomGenerator: RandomNumberGenerator, Sendable, Codable, Equatable {
    private var s0, s1, s2, s3: UInt64

    public init(seed: UInt64) {
        var s = SplitMix64(seed: seed)
        (s0, s1, s2, s3) = (s.next(), s.next(), s.next(), s.next())
    }

    public mutating func next() -> UInt64 {
        let result = rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        return result
    }

    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in [0, 1) with 24 random bits.
    public mutating func nextUniform() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// Standard normal (Box–Muller; u1 is kept away from 0 so log stays finite).
    public mutating func nextNormal() -> Float {
        let u1 = (Double(next() >> 11) + 1) * 0x1p-53
        let u2 = Double(next() >> 11) * 0x1p-53
        return Float((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2))
    }
}

extension Tensor {
    /// Normal(mean, std) entries drawn from `generator`.
    public static func randomNormal(
        _ shape: [Int], mean: Float = 0, std: Float = 1, generator: inout RandomGenerator
    ) -> Tensor {
        Tensor(shape: shape) { out in
            for i in 0..<out.count { out[i] = mean + std * generator.nextNormal() }
        }
    }

    /// Uniform[low, high) entries drawn from `generator`.
    public static func randomUniform(
        _ shape: [Int], low: Float = 0, high: Float = 1, generator: inout RandomGenerator
    ) -> Tensor {
        Tensor(shape: shape) { out in
            for i in 0..<out.count { out[i] = low + (high - low) * generator.nextUniform() }
        }
    }

    /// Normal entries from a fresh generator seeded with `seed`.
    public static func randomNormal(_ shape: [Int], mean: Float = 0, std: Float = 1, seed: UInt64) -> Tensor {
        var g = RandomGenerator(seed: seed)
        return randomNormal(shape, mean: mean, std: std, generator: &g)
    }

    /// Uniform entries from a fresh generator seeded with `seed`.
    public static func randomUniform(_ shape: [Int], low: Float = 0, high: Float = 1, seed: UInt64) -> Tensor {
        var g = RandomGenerator(seed: seed)
        return randomUniform(shape, low: low, high: high, generator: &g)
    }
}

/// SplitMix64 (Steele, Lea & Flood 2014): a tiny seeded generator, the seeding stream of `RandomGenerator`, and
/// the generator of UMAP's initialisation and negative samples, TCAV's and the counterfactuals' draws, and the
/// tests' reproducible data.
public struct SplitMix64: Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1), 53 bits.
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }
    public mutating func uniform(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * unit() }
    /// Standard normal (Box–Muller).
    public mutating func normal() -> Double {
        let u = 1 - unit(), v = unit()
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }
}
