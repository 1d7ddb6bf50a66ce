import Foundation
import KELMTraining

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
}
