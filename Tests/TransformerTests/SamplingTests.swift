// Sampled GPT-2 generation: seeded reproducibility, top-k and top-p honoured at every step, stop at end-of-text.
//
// Each sampled token is checked against the next-token distribution of a plain forward over the sequence so far
// (no KV cache), so the reference is independent of the decoding path under test.
import Foundation
import Tensor
import Testing
import Transformer

@Suite struct SamplingTests {
    let model: LoadedModel
    let net: GPT2
    let prompt: [Int]

    init() throws {
        model = try LoadedModel.load(fixture("gpt2_tiny.h5"))
        guard case .gpt2(let g) = model.network else { throw MeasureError("gpt2_tiny.h5 is not GPT-2") }
        net = g
        prompt = model.tokenizer.encode("The dog", addSpecialTokens: true).ids
    }

    /// Next-token logits after `ids`.
    func nextLogits(_ ids: [Int]) -> [Float] {
        var cache: KVCache? = nil
        return net(TokenBatch(ids: ids, batchSize: 1, length: ids.count), cache: &cache, lastPositionOnly: true)
            .logits!.scalars
    }

    func generate(_ config: GenerationConfig, prompts: [[Int]]? = nil) -> [[Int]] {
        net.generate(prompts: prompts ?? [prompt], config: config, padID: model.padID)
    }

    /// Every (prefix, chosen token) of the continuations of `prompt` under `config` for seeds 0..<seeds.
    func draws(_ config: GenerationConfig, seeds: Int) -> [(prefix: [Int], token: Int)] {
        var out: [(prefix: [Int], token: Int)] = []
        for seed in 0..<seeds {
            var c = config
            c.seed = UInt64(seed)
            let ids = generate(c)[0]
            #expect(ids.count == prompt.count + c.maxNewTokens, "seed \(seed): stopped early")
            for n in prompt.count..<ids.count { out.append((Array(ids[..<n]), ids[n])) }
        }
        return out
    }

    /// The same seed gives the same tokens, alone or in a batch; other seeds give other continuations, none of them
    /// the greedy one.
    @Test func sameSeedSameTokens() throws {
        let config = GenerationConfig(maxNewTokens: 12, temperature: 0.9, topK: 40, topP: 0.95, seed: 5)
        let once = generate(config)
        #expect(generate(config) == once)
        let other = model.tokenizer.encode("Hello world, this is", addSpecialTokens: true).ids
        let batch = generate(config, prompts: [prompt, other])
        #expect(generate(config, prompts: [prompt, other]) == batch)
        let greedy = generate(GenerationConfig(maxNewTokens: 12))[0]
        var distinct = Set<[Int]>()
        for seed: UInt64 in 0..<6 {
            var c = config
            c.seed = seed
            distinct.insert(generate(c)[0])
        }
        #expect(distinct.count >= 4, "6 seeds gave \(distinct.count) continuations")
        #expect(!distinct.contains(greedy) && once[0] != greedy, "sampling returned the greedy continuation")
    }

    /// top-k = 3: at every step of 8 seeds × 16 tokens the chosen token is among the 3 most likely (its logit at
    /// least the 3rd largest, less 1e-4 for the cached path's rounding), and more than the first is drawn.
    @Test func topKIsHonoured() throws {
        let k = 3
        var ranks: [Int: Int] = [:]
        for (prefix, token) in draws(GenerationConfig(maxNewTokens: 16, temperature: 1, topK: k), seeds: 8) {
            let logits = nextLogits(prefix)
            let kth = logits.sorted(by: >)[k - 1]
            #expect(logits[token] >= kth - 1e-4, "token \(token) after \(prefix): logit \(logits[token]) < \(kth)")
            ranks[logits.filter { $0 > logits[token] }.count + 1, default: 0] += 1
        }
        #expect(ranks.keys.allSatisfy { $0 <= k } && ranks.count > 1, "ranks drawn: \(ranks)")
    }

    /// top-p = 0.6 at temperature 0.7: the chosen token is in the nucleus, i.e. the tokens more likely than it hold
    /// less than p of softmax(logits / T) (plus 1e-4 for rounding); tokens other than the most likely are drawn.
    @Test func topPIsHonoured() throws {
        let (p, temperature): (Double, Double) = (0.6, 0.7)
        var notFirst = 0, total = 0
        for (prefix, token) in draws(GenerationConfig(maxNewTokens: 16, temperature: 0.7, topP: 0.6), seeds: 8) {
            let logits = nextLogits(prefix).map(Double.init)
            let top = logits.max()!
            let weights = logits.map { exp(($0 - top) / temperature) }
            let sum = weights.reduce(0, +)
            let above = zip(logits, weights).filter { $0.0 > logits[token] }.reduce(0) { $0 + $1.1 } / sum
            #expect(above < p + 1e-4, "token \(token) after \(prefix): \(above) of the mass is more likely")
            if logits[token] < top { notFirst += 1 }
            total += 1
        }
        #expect(total == 128 && notFirst > 0, "\(notFirst) of \(total) draws were not the most likely token")
    }

    /// A sequence stops at its end token: run once without one, take the token drawn at step 5 as the end token,
    /// and the same seed stops right after it. In a batch, the finished row is padded while the other goes on.
    @Test func stopsAtTheEndToken() throws {
        var config = GenerationConfig(maxNewTokens: 20, temperature: 1, seed: 11)
        let free = generate(config)[0]
        let end = free[prompt.count + 5]
        let first = try #require(free[prompt.count...].firstIndex(of: end))
        config.eosTokenID = end
        #expect(generate(config)[0] == Array(free[...first]), "did not stop at \(end)")

        // A batch: the end token is the one row 0 draws at step 2. Until then both rows draw as without it; after
        // it row 0 is padding (no draws) while row 1 goes on.
        config.eosTokenID = nil
        let other = model.tokenizer.encode("Hello world, this is", addSpecialTokens: true).ids
        let freeRows = generate(config, prompts: [prompt, other])
        let stop = freeRows[0][prompt.count + 2]
        #expect(!freeRows[0][prompt.count..<(prompt.count + 2)].contains(stop))
        config.eosTokenID = stop
        let rows = generate(config, prompts: [prompt, other])
        #expect(rows[0].prefix(prompt.count + 3) == freeRows[0].prefix(prompt.count + 3))
        #expect(rows[0].count == prompt.count + 20 && rows[1].count == other.count + 20, "\(rows)")
        #expect(rows[0][(prompt.count + 3)...].allSatisfy { $0 == model.padID }, "row 0 after its end token: \(rows[0])")
        #expect(rows[1].prefix(other.count + 3) == freeRows[1].prefix(other.count + 3))
    }

    /// GPT-2's end-of-text (id 1256 in the fixture) ends generation with the model's end token, as Workbench's
    /// generate sets it: at temperature 50 the distribution is nearly flat, and seed 0 draws <|endoftext|> within
    /// 40 tokens (asserted, so a changed sampler shows); with the end token set, generation ends right after it.
    @Test func stopsAtEndOfText() throws {
        let eos = try #require(model.eosID)
        #expect(model.tokenizer.decode([eos], skipSpecialTokens: false) == "<|endoftext|>")
        var config = GenerationConfig(maxNewTokens: 40, temperature: 50, seed: 0)
        let free = generate(config)[0]
        let at = try #require(free[prompt.count...].firstIndex(of: eos), "seed 0 no longer draws <|endoftext|>: \(free)")
        config.eosTokenID = eos
        let stopped = generate(config)[0]
        #expect(stopped == Array(free[...at]), "\(stopped) vs \(free)")
        #expect(stopped.count < prompt.count + 40)
    }
}
