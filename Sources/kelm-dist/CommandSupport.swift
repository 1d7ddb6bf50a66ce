import ArgumentParser
import Foundation
import KELMBatches
import KELMConfig
import KELMDistributed
import KELMMPI
import KELMNumerics
import KELMTraining
import Logging

enum TrainCommandSupport {
    /// Runs a command's work on this rank; when it fails, every rank stops (a collective would
    /// otherwise wait forever): MPI_Abort with the error as the message, then the error is thrown.
    static func stoppingEveryRankOnError(_ world: Communicator, _ work: () throws -> Void) throws {
        do {
            try work()
        } catch {
            // (after MPI_Finalize the ranks have ended together: nothing to abort)
            if world.size > 1 && !MPIRuntime.isFinalized { world.abort(code: 1, message: "\(error)") }
            throw error
        }
    }

    /// Writes `error` to stderr as the command line prints a thrown one ("Error: …"), at once:
    /// for a failure the command then ends with a bare non-zero exit code.
    static func reportError(_ error: Error) {
        FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
    }

    /// Compute threads per rank (`OpenBLAS.setThreads`: sgemm, attention, element-wise kernels,
    /// AdamW) = the cores of this node divided among its ranks, or `OPENBLAS_NUM_THREADS` when
    /// the user (or launch/mpirun-local) set it.
    static func setThreadsPerRank(_ world: Communicator) throws {
        if let value = ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"] {
            if let n = Int(value), n >= 1 { OpenBLAS.setThreads(n) }
            return
        }
        let node = try world.splitShared()
        let local = node.size
        try node.close()
        OpenBLAS.setThreads(max(1, ProcessInfo.processInfo.activeProcessorCount / local))
    }
}
