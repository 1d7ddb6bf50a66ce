import ArgumentParser
import Foundation
import KELMBenchmarks
import KELMConfig
import KELMDistributed
import KELMMPI
import KELMTraining

/// `kelm-dist bench memory`: refresh time of the entity memory against |E| and the number of
/// ranks (run under mpirun -np N, one thread per rank), and the encoding the refresh schedule
/// saves against encoding every step's subgraph entities on the fly.
struct BenchMemory: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memory",
        abstract: "Time a refresh of the entity memory (run under mpirun -np N) and its saving against on-the-fly encoding.",
        discussion: "The architecture, data, memory.* schedule and train.steps come from --config (and --set). The timed refresh covers the first --entities entities; the schedule's cost is extrapolated from its rate. Weights are random: the time does not depend on them.")

    @Option(help: "YAML configuration file (DESIGN §10); keys not given take their defaults.")
    var config: String?

    @Option(name: .customLong("set"), help: "Override a configuration key: section.key=value (repeatable).")
    var overrides: [String] = []

    @Option(help: "Entities the timed refresh covers (the first ones); default every entity.")
    var entities: Int?

    @Option(help: "memory.dtype for the benchmark: float32 or float16 (default: the configuration's).")
    var dtype: String?

    @Option(help: "Timed refreshes (the median is reported), after one untimed.")
    var repeats = 3

    @Flag(help: "Print one JSON object instead of lines.")
    var json = false

    func validate() throws {
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
        if let entities, entities < 1 { throw ValidationError("--entities must be positive") }
        if let dtype, !["float32", "float16"].contains(dtype) { throw ValidationError("--dtype must be float32 or float16, not \(dtype)") }
    }

    func run() throws {
        try BenchmarkOutput.runOnEveryRank(json: json) { collective, progress in
            let loaded = try ConfigLoader.load(file: config, overrides: overrides + (dtype.map { ["memory.dtype=\($0)"] } ?? []))
            try TrainCommandSupport.setThreadsPerRank(collective.communicator)
            var options = MemoryBenchmark.Options(config: loaded)
            options.entities = entities
            options.repeats = repeats
            let result = try MemoryBenchmark(options: options).run(collective: collective, log: progress)
            return (result, result.report)
        }
    }
}
