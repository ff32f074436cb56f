// The one declaration of each model's tensors: kinds, parts and order as the loaders, the check and training read them.
import Foundation
import Tensor
import Testing
import Transformer

@Suite struct ParameterTableTests {
    /// The declared kind decides weight decay exactly as transformers' name rule does (no decay for biases and
    /// LayerNorm parameters), for every tensor of every task.
    @Test func weightDecayByKindMatchesTheNameRule() throws {
        let bert = BertConfig(
            vocabSize: 30, hiddenSize: 8, numHiddenLayers: 2, numAttentionHeads: 2, intermediateSize: 16)
        for task in [Checkpoint.Task.featureExtraction, .sequenceClassification, .maskedLM] {
            for p in Bert.parameterTable(bert, task: task).entries {
                let decays = !(p.name.hasSuffix(".bias") || p.name.contains("LayerNorm."))
                #expect(p.kind.takesWeightDecay == decays, "\(p.name)")
            }
        }
        let checkpoint = try Checkpoint.load(fixture("gpt2_tiny.h5"))
        for p in GPT2.parameterTable(checkpoint.config.gpt2!, task: .causalLM).entries {
            let norm = p.name.hasPrefix("ln_") || p.name.contains(".ln_")
            #expect(p.kind.takesWeightDecay == !(p.name.hasSuffix(".bias") || norm), "\(p.name)")
        }
    }

    /// A loaded model holds its task's parts and a stored pooler; the visitor walks the table in its order.
    @Test(arguments: ["bert_tiny_cls", "bert_tiny_mlm", "gpt2_tiny"])
    func visitorFollowsTheTable(name: String) throws {
        let checkpoint = try Checkpoint.load(fixture("\(name).h5"))
        let model = try LoadedModel(checkpoint)
        let visited = model.network.namedParameters.map(\.name)
        let table: [(name: String, held: Bool)]
        switch model.network {
        case .bert(let b):
            table = Bert.parameterTable(b.config, task: b.task).entries.map { ($0.name, $0.path != nil) }
            #expect(b.heldParameters.map(\.name) == visited)
        case .gpt2(let g):
            table = GPT2.parameterTable(g.config, task: g.task).entries.map { ($0.name, $0.path != nil) }
            #expect(g.heldParameters.map(\.name) == visited)
        }
        // Every stored tensor the model can hold is held, in table order (these fixtures store only those).
        #expect(visited == table.filter { $0.held && checkpoint.tensors[$0.name] != nil }.map(\.name))
    }
}
