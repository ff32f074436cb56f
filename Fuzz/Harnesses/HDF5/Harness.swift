// The Loupe weight-file loader (HDF5, docs/weights-format.md) on arbitrary bytes written to a scratch `.h5`:
// `Checkpoint.load` (root attributes, config, /weights names, dtypes and shapes, /tokenizer, then the tensors),
// then `LoadedModel` (the network from the tensors, the tokenizer from the vocabulary).
//
// Checks: no crash, and a one-line error for every refusal; an accepted file's tensors have the shapes the
// config implies (the loader's own check) and its tokenizer encodes a sentence.
import FuzzSupport
import Foundation
import Tensor
import Transformer

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let path = Scratch.write(bytes(data, size), to: "model.h5")
    let checkpoint: Checkpoint
    do { checkpoint = try Checkpoint.load(URL(fileURLWithPath: path)) } catch {
        checkMessage(error)
        return 0
    }
    fuzzCheck(checkpoint.tokenizer.vocab.count <= checkpoint.config.vocabSize, "vocab larger than the embeddings")
    do {
        let model = try LoadedModel(checkpoint)
        _ = try model.encode(["the movie was a charming and often affecting journey ."])
    } catch {
        checkMessage(error)
    }
    return 0
}
