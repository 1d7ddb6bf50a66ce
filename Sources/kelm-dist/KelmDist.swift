import ArgumentParser
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
        OpenBLAS.ensureCoreTypeOrReexecute()
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .info
            return handler
        }
        Self.main(nil)
    }
}
