import Foundation
import KELMMPI
import XCTest

/// Finalize and abort end MPI for the whole process, so they run in a fresh child process (this
/// test binary again, as an Open MPI singleton, with only the child test selected).
final class MPIRuntimeLifecycleTests: XCTestCase {
    private static let childVariable = "KELM_MPI_LIFECYCLE_CHILD"

    private func skipUnlessOutsideMPIRun() throws {
        // Under mpirun every rank would start its own singleton; once is enough.
        if ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] != nil {
            throw XCTSkip("child-process tests run only without mpirun")
        }
    }

    private func skipUnlessChild(_ role: String) throws {
        if ProcessInfo.processInfo.environment[Self.childVariable] != role {
            throw XCTSkip("runs only as a child process of \(role == "finalize" ? "testFinalizeInFreshProcess" : "testAbortInFreshProcess")")
        }
    }

    func testFinalizeInFreshProcess() throws {
        try skipUnlessOutsideMPIRun()
        let (status, output) = try runTestInChildProcess("KELMMPITests.MPIRuntimeLifecycleTests/testChildFinalize",
                                                         environment: [Self.childVariable: "finalize"])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("Executed 1 test, with 0 failures"), output)
        XCTAssertFalse(output.contains("skipped"), output)
    }

    func testAbortInFreshProcess() throws {
        try skipUnlessOutsideMPIRun()
        let (status, output) = try runTestInChildProcess("KELMMPITests.MPIRuntimeLifecycleTests/testChildAbort",
                                                         environment: [Self.childVariable: "abort"])
        XCTAssertNotEqual(status, 0, output)
        XCTAssertTrue(output.contains("kelm-dist [rank 0 of 1]: child aborts on purpose"), output)
        XCTAssertFalse(output.contains("returned from abort"), output)
    }

    /// The child of `testFinalizeInFreshProcess`.
    func testChildFinalize() throws {
        try skipUnlessChild("finalize")
        XCTAssertFalse(MPIRuntime.isActive)
        XCTAssertFalse(MPIRuntime.isFinalized)
        try MPIRuntime.initialize()
        try MPIRuntime.initialize() // once only
        let world = try MPIRuntime.world()
        XCTAssertEqual(world.size, 1)
        XCTAssertEqual(try world.allReduce(Int32(5), op: .sum), 5)
        let sub = try world.split(color: 0, key: 0)
        var pending: [Float] = [2]
        let request = try pending.withUnsafeMutableBufferPointer { try world.startAllReduce($0, op: .sum) }
        try request.wait()

        try MPIRuntime.finalize()
        XCTAssertTrue(MPIRuntime.isFinalized)
        XCTAssertFalse(MPIRuntime.isActive)
        try MPIRuntime.finalize() // never twice: a second call does nothing

        XCTAssertThrowsError(try world.barrier()) { error in
            XCTAssertEqual(error as? MPIError, .finalized(call: "MPI_Barrier"))
        }
        XCTAssertThrowsError(try world.allReduce(&pending, op: .sum)) { error in
            XCTAssertEqual(error as? MPIError, .finalized(call: "MPI_Allreduce"))
        }
        XCTAssertThrowsError(try MPIRuntime.initialize()) { error in
            XCTAssertEqual(error as? MPIError, .finalized(call: "MPI_Init_thread"))
        }
        XCTAssertThrowsError(try MPIRuntime.world())
        XCTAssertThrowsError(try sub.barrier()) { error in
            XCTAssertEqual(error as? MPIError, .finalized(call: "MPI_Barrier"))
        }
        try sub.close() // after finalize MPI released it; close only marks it closed
        XCTAssertTrue(sub.isClosed)
        try request.wait() // completed before finalize: nothing to do
        // The exit handler must not finalize again when XCTest exits.
    }

    /// The child of `testAbortInFreshProcess`.
    func testChildAbort() throws {
        try skipUnlessChild("abort")
        let world = try MPIRuntime.world()
        world.abort(code: 3, message: "child aborts on purpose")
    }
}
