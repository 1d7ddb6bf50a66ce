import ArgumentParser
import Foundation
import KELMHost
import KELMNumerics
import Logging

@main
struct KelmDist: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kelm-dist",
        abstract: "Pretrain a knowledge-enhanced language model on CPUs with MPI.",
        subcommands: [Prepare.self, Train.self, Eval.self, Plot.self, Inspect.self, Export.self, Bench.self, Debug.self])

    /// DESIGN §8: before anything else (and before MPI_Init), make sure OpenBLAS runs its
    /// fast kernels, re-executing this program with `OPENBLAS_CORETYPE` set when needed.
    static func main() {
        // before any code of the numeric targets, which may be compiled for x86-64-v3
        if let problem = CPURequirements.problem() {
            FileHandle.standardError.write(Data((problem + "\n").utf8))
            Foundation.exit(1)
        }
        OpenBLAS.ensureCoreTypeOrReexecute()
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .info
            return handler
        }
        Self.main(nil)
    }
}
