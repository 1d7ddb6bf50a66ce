import Foundation
import KELMTraining

/// How the bench subcommands print a result: a table, or one JSON object.
enum BenchmarkOutput {
    static func print(_ result: BenchmarkResult, json: Bool) throws {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            Swift.print(String(decoding: try encoder.encode(result), as: UTF8.self))
        } else {
            Swift.print(result.report)
        }
    }
}
