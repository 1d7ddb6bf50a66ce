import ArgumentParser
import Foundation
import KELMConfig
import KELMTraining

struct DebugDumpBatch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump-batch",
        abstract: "Run one batch forward and backward (dropout off) and write it as an HDF5 file (DESIGN §9).",
        discussion: "The batch is the first micro-batch of data.path (a prepared dataset, or 'synthetic'); without data.path a synthetic one. See docs/debug-batch-dump.md.")

    @Option(help: "YAML configuration file.")
    var config: String?

    @Option(name: .customLong("set"), help: "Override a configuration key: section.key=value (repeatable).")
    var overrides: [String] = []

    @Option(name: .customLong("init-from"), help: "Hugging Face BERT folder (config.json + model.safetensors) for the LM.")
    var initFrom: String?

    @Option(help: "Output file (.h5).")
    var out: String

    @Option(help: "KG relations R of the synthetic batch (without data.path).")
    var relations = 20

    @Option(help: "Entities of the synthetic batch (without data.path).")
    var entities = 5000

    @Option(help: "Segments in the batch (default: train.micro_batch).")
    var batch: Int?

    func run() throws {
        let loaded = try ConfigLoader.load(file: config, overrides: overrides)
        var job = BatchDumpJob(config: loaded, initFrom: initFrom, output: out)
        job.relations = relations
        job.entities = entities
        job.batch = batch
        let s = try job.run()
        print("wrote \(out): loss \(s.loss) (mlm \(s.mlmLoss), lp \(s.lpLoss)); \(s.parameters) parameters, \(s.nodes) nodes, \(s.edges) edges, \(s.positives) link positives")
    }
}
