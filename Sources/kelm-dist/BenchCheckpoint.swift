import ArgumentParser
import Foundation
import KELMBenchmarks
import KELMConfig
import KELMTraining
import Logging

/// `kelm-dist bench checkpoint`: size and time of saving (and loading) the model's full
/// checkpoint as `train` does, against the disk's write(2) + fsync floor.
struct BenchCheckpoint: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Time saving and loading a full checkpoint (params, Adam moments, routing state, entity memory).",
        discussion: "The architecture and memory.dtype come from --config (and --set); the default is the MiniLM shape of configs/wordnet-minilm.yaml with WordNet's 117,659 entities. Training waits for a save, so the save time is the stall.")

    @Option(help: "YAML configuration file (DESIGN §10); keys not given take their defaults.")
    var config: String?

    @Option(name: .customLong("set"), help: "Override a configuration key: section.key=value (repeatable).")
    var overrides: [String] = []

    @Option(help: "Rows of the entity memory.")
    var entities = 117_659

    @Option(help: "Timed saves and loads (median and best are reported).")
    var repeats = 5

    @Option(help: "Folder to write the checkpoints in (a fresh subfolder, removed afterwards); default the temporary directory.")
    var dir: String?

    @Flag(help: "Print one JSON object instead of lines.")
    var json = false

    func validate() throws {
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
        guard entities >= 1 else { throw ValidationError("--entities must be positive") }
    }

    func run() throws {
        let loaded = try ConfigLoader.load(file: config, overrides: overrides)
        var options = CheckpointBenchmark.Options(config: loaded,
                                                  directory: dir ?? FileManager.default.temporaryDirectory.path)
        options.entities = entities
        options.repeats = repeats
        var logger = Logger(label: "kelm-dist.bench")
        logger.logLevel = .info
        let result = try CheckpointBenchmark(options: options).run { logger.info("\($0)") }
        try BenchmarkOutput.print(result, report: result.report, json: json)
    }
}
