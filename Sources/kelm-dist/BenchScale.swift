import ArgumentParser
import Foundation
import KELMBenchmarks

/// `kelm-dist bench scale`: predicted step time and efficiency at many machines, from one
/// machine's `bench train --json` (docs/scaling.md).
struct BenchScale: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale",
        abstract: "Predict step time and weak-scaling efficiency at N machines × L ranks from bench train measurements.",
        discussion: "Give the JSON that `mpirun -np L kelm-dist bench train --json --policy P` printed on one machine (one file per policy). See docs/scaling.md.")

    @Argument(help: "bench train --json outputs (2 or more ranks on one machine).")
    var measurements: [String]

    @Option(help: "Machine counts, comma-separated.")
    var machines = "1,2,3,8,16,64,256"

    @Option(help: "Link rates in Gbit/s, comma-separated.")
    var gbit = "1,10,100"

    @Option(help: "One message's latency in microseconds.")
    var latencyUs = 50.0

    @Option(help: "Descriptions one rank encodes per second during a memory refresh (train's memory_entities_per_s ÷ ranks).")
    var entitiesPerS = 360.0

    @Option(help: "Steps between memory refreshes once the schedule reaches memory.max_interval.")
    var refreshInterval = 500

    @Option(help: "Entities a rolling refresh covers (memory.block_entities).")
    var blockEntities = 8192

    @Option(name: .customLong("check"), help: ArgumentHelp("A bench train --json run on the simulated cluster (P hosts of one rank) and its link rate, as GBIT:FILE (repeatable): prints the model's prediction beside it, from the measurement of P ranks on one machine.", valueName: "gbit:file"))
    var checks: [String] = []

    @Option(help: "With --check: core-milliseconds the simulated hosts' TCP stacks spend per MB a rank sends (bench allreduce on unlimited simulated links: time × cores ÷ MB all ranks send); 0 leaves it out.")
    var networkCoreMsPerMb = 0.0

    @Option(help: "With --check: the cores the simulated cluster shares (default: this machine's).")
    var cores = ProcessInfo.processInfo.activeProcessorCount

    func run() throws {
        var options = ScalingReport.Options()
        options.machines = try Self.list(machines, "--machines").map { Int($0) }
        options.gbit = try Self.list(gbit, "--gbit")
        options.latencyMicroseconds = latencyUs
        options.entitiesPerSecondPerRank = entitiesPerS
        options.refreshInterval = refreshInterval
        options.blockEntities = blockEntities
        options.checks = try checks.map { spec in
            guard let colon = spec.firstIndex(of: ":"), let g = Double(spec[..<colon]), g > 0, g.isFinite else {
                throw ValidationError("--check \(spec): expected GBIT:FILE, e.g. 1:cluster-full-1gbit.json")
            }
            let path = String(spec[spec.index(after: colon)...])
            return ScalingReport.Check(name: (path as NSString).lastPathComponent, gbit: g, measured: try Self.result(path))
        }
        guard networkCoreMsPerMb >= 0, cores >= 1 else { throw ValidationError("--network-core-ms-per-mb must be 0 or more, --cores positive") }
        guard networkCoreMsPerMb == 0 || !checks.isEmpty else { throw ValidationError("--network-core-ms-per-mb applies to --check runs only (the simulated cluster's shared cores)") }
        if networkCoreMsPerMb > 0 { options.networkCost = .init(coreMsPerMB: networkCoreMsPerMb, cores: cores) }
        let models = try measurements.map { try ScalingModel(measured: Self.result($0)) }
        let report = ScalingReport(models: models, options: options)
        print(options.checks.isEmpty ? report.text : try report.checkTable())
    }

    /// The bench train --json result in `path`: its last line holding a JSON object (the command
    /// may have printed progress lines before it).
    static func result(_ path: String) throws -> TrainBenchmark.Result {
        guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("\(path): cannot be read") }
        let text = String(decoding: data, as: UTF8.self)
        guard let line = text.split(separator: "\n").last(where: { $0.hasPrefix("{") }) else {
            throw ValidationError("\(path): no JSON object (the output of bench train --json)")
        }
        do {
            return try JSONDecoder().decode(TrainBenchmark.Result.self, from: Data(line.utf8))
        } catch let error as DecodingError {
            throw ValidationError("\(path): not a bench train --json result (\(error))")
        }
    }

    static func list(_ text: String, _ name: String) throws -> [Double] {
        let values = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) > 0 }) else { throw ValidationError("\(name): positive numbers separated by commas") }
        return values.compactMap { $0 }
    }
}
