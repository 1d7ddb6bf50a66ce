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

    func run() throws {
        var options = ScalingReport.Options()
        options.machines = try Self.list(machines, "--machines").map { Int($0) }
        options.gbit = try Self.list(gbit, "--gbit")
        options.latencyMicroseconds = latencyUs
        options.entitiesPerSecondPerRank = entitiesPerS
        options.refreshInterval = refreshInterval
        options.blockEntities = blockEntities
        let models = try measurements.map { path -> ScalingModel in
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("\(path): cannot be read") }
            // the last line holding a JSON object (the command may have printed progress lines before it)
            let text = String(decoding: data, as: UTF8.self)
            guard let line = text.split(separator: "\n").last(where: { $0.hasPrefix("{") }) else {
                throw ValidationError("\(path): no JSON object (the output of bench train --json)")
            }
            do {
                return try ScalingModel(measured: JSONDecoder().decode(TrainBenchmark.Result.self, from: Data(line.utf8)))
            } catch let error as DecodingError {
                throw ValidationError("\(path): not a bench train --json result (\(error))")
            }
        }
        print(ScalingReport(models: models, options: options).text)
    }

    static func list(_ text: String, _ name: String) throws -> [Double] {
        let values = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) > 0 }) else { throw ValidationError("\(name): positive numbers separated by commas") }
        return values.compactMap { $0 }
    }
}
