import Foundation
import KELMMPI
import XCTest

// All MPI tests of one process share one MPI runtime (MPI_Init once per process). None of
// them finalizes it: the runtime's exit handler does when XCTest exits. The finalize and
// abort paths are tested in child processes (MPIRuntimeLifecycleTests). Expected values are
// computed from rank and size, so every test passes at any world size (run under
// `mpirun -np N`, see launch/test-mpi.sh).

/// The world communicator, initialising MPI lazily on first use.
func worldCommunicator() throws -> Communicator {
    try MPIRuntime.world()
}

/// 1 + 2 + ... + n.
func triangular(_ n: Int) -> Int { n * (n + 1) / 2 }

/// A hash of a string that is the same in every process (Swift's `hashValue` is seeded).
func stableHash(_ text: String) -> Int64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
        hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
    }
    return Int64(bitPattern: hash)
}

/// Environment variables that tie a process to an MPI job (set by mpirun or by a singleton's
/// helper daemon); a child process must not inherit them, or it would try to join the job.
func environmentWithoutMPIJob() -> [String: String] {
    let jobPrefixes = ["OMPI_COMM_WORLD_", "OMPI_MCA_orte_", "OMPI_MCA_ess", "OMPI_MCA_pmix", "OMPI_MCA_initial_wdir",
                       "OMPI_MCA_mpi_oversubscribe", "OMPI_MCA_shmem_RUNTIME_QUERY_hint", "OMPI_UNIVERSE_SIZE",
                       "OMPI_FILE_LOCATION", "OMPI_NUM_APP_CTX", "OMPI_FIRST_RANKS", "OMPI_APP_CTX_", "OMPI_COMMAND",
                       "PMIX_"]
    return ProcessInfo.processInfo.environment.filter { key, _ in
        !jobPrefixes.contains { key.hasPrefix($0) }
    }
}

/// Runs this test binary again in a fresh process with only `test` selected ("Module.Class/test")
/// and `environment` added; returns its exit status and combined output.
func runTestInChildProcess(_ test: String, environment extra: [String: String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    process.arguments = [test]
    process.environment = environmentWithoutMPIJob().merging(extra) { _, new in new }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}
