import ArgumentParser
import Foundation
import KELMBenchmarks
import KELMNumerics
import KELMTraining

struct DebugBLAS: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blas",
        abstract: "Print OpenBLAS's kernel choice and the sgemm rate on one square shape.")

    @Option(help: "Matrix size n of the n×n×n product.")
    var size = 1024

    @Option(help: "OpenBLAS threads.")
    var threads = 1

    func run() throws {
        let report = BLASReport.measure(size: size, threads: threads)
        print(report.text)
    }
}
