import ArgumentParser
import KELMTraining

extension CheckpointExport.Format: ExpressibleByArgument {}
extension CheckpointExport.DType: ExpressibleByArgument {}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a checkpoint's weights: a weights-only HDF5 file, or a Hugging Face BertForMaskedLM folder.",
        discussion: "--format weights (default) writes /params (and with --with-memory /memory/entity_context) in float32 or float16. --format hf writes model.safetensors, config.json and vocab.txt that transformers.BertForMaskedLM.from_pretrained loads; the vocabulary is --vocab, else the stored data.path's, else the stored model.init_from folder's, else the installed MiniLM's when vocab_size is 30522. See docs/checkpoints.md.")

    @Argument(help: "A checkpoint file, or a run directory (its latest checkpoint).")
    var checkpoint: String

    @Option(help: "Output file (weights) or folder (hf).")
    var out: String

    @Option(help: "What to write.")
    var format: CheckpointExport.Format = .weights

    @Option(help: "Float type of the weights file.")
    var dtype: CheckpointExport.DType = .float32

    @Flag(name: .customLong("with-memory"), help: "Include the entity memory (weights only).")
    var withMemory = false

    @Option(help: "vocab.txt for --format hf (one token per line, vocab_size lines).")
    var vocab: String?

    @Flag(name: .customLong("reference-batch"),
          help: "With --format hf: also write kelm_reference_batch.h5, our logits on a fixed batch (for Tests/Fixtures/check_hf_export.py).")
    var referenceBatch = false

    func run() throws {
        var job = CheckpointExport(checkpoint: checkpoint, output: out)
        job.format = format
        job.dtype = dtype
        job.withMemory = withMemory
        job.vocabulary = vocab
        job.referenceBatch = referenceBatch
        let s = try job.run()
        print("wrote \(s.output): \(s.tensors) tensors, \(s.parameters) parameters, \(s.bytes) bytes, from \(s.checkpoint) (step \(s.step))"
              + (s.memoryRows.map { ", memory \($0) rows" } ?? "") + (s.vocabularySource.map { ", vocabulary from \($0)" } ?? ""))
    }
}
