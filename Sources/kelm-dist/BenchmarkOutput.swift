import Foundation
import KELMBenchmarks
import KELMDistributed
import KELMMPI
import KELMTraining
import Logging

/// How the bench subcommands print a result: a table, or one JSON object.
enum BenchmarkOutput {
    static func print(_ result: BenchmarkResult, json: Bool) throws {
        try print(result, report: result.report, json: json)
    }

    /// Any benchmark's result: `report` as lines, or the result as one JSON object (sorted keys).
    static func print<R: Encodable>(_ result: R, report: String, json: Bool) throws {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            Swift.print(String(decoding: try encoder.encode(result), as: UTF8.self))
        } else {
            Swift.print(report)
        }
    }

    /// A benchmark that every rank runs (under mpirun, or as one process): when one rank fails,
    /// every rank stops; rank 0 alone logs the progress lines and prints the result.
    static func runOnEveryRank<R: Encodable>(
        json: Bool, _ benchmark: (_ collective: MPICollective, _ progress: (String) -> Void) throws -> (result: R, report: String)
    ) throws {
        let world = try MPIRuntime.world()
        let logger = Logger(label: "kelm-dist.bench")
        // made out here: what it shares between the ranks is freed collectively, so it must
        // outlive an error unwinding the benchmark on one rank (which then aborts them all)
        let collective = MPICollective(world)
        try TrainCommandSupport.stoppingEveryRankOnError(world) {
            let (result, report) = try benchmark(collective) { line in if world.rank == 0 { logger.info("\(line)") } }
            try collective.close()
            if world.rank == 0 { try print(result, report: report, json: json) }
            try MPIRuntime.finalize()
        }
    }
}
