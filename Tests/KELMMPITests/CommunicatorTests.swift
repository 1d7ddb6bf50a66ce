import Foundation
import KELMMPI
import XCTest

/// Rank and size, barrier, derived communicators (split, split-type shared) and error reporting.
final class CommunicatorTests: XCTestCase {
    func testRankAndSizeMatchTheLauncher() throws {
        let world = try worldCommunicator()
        XCTAssertTrue(world.isWorld)
        XCTAssertTrue(MPIRuntime.isActive)
        XCTAssertGreaterThanOrEqual(MPIRuntime.providedThreadLevel, 1) // MPI_THREAD_FUNNELED
        XCTAssertGreaterThanOrEqual(world.size, 1)
        XCTAssertTrue((0 ..< world.size).contains(world.rank))
        let environment = ProcessInfo.processInfo.environment
        if let size = environment["OMPI_COMM_WORLD_SIZE"], let rank = environment["OMPI_COMM_WORLD_RANK"] {
            XCTAssertEqual(world.size, Int(size))
            XCTAssertEqual(world.rank, Int(rank))
        } else {
            XCTAssertEqual(world.size, 1, "without mpirun this is an Open MPI singleton")
            XCTAssertEqual(world.rank, 0)
        }
        // Ranks are distinct and cover 0 ..< size.
        XCTAssertEqual(try world.allGather(Int32(world.rank)), (0 ..< world.size).map { Int32($0) })
    }

    func testWorldIsOneObjectAndInitializeIsIdempotent() throws {
        let world = try worldCommunicator()
        try MPIRuntime.initialize()
        XCTAssertTrue(try MPIRuntime.world() === world)
        try world.close() // the world is never freed
        XCTAssertFalse(world.isClosed)
        try world.barrier()
    }

    /// Every rank creates a file, then a barrier; after it every rank sees all files.
    func testBarrierOrdersFileCreation() throws {
        let world = try worldCommunicator()
        let token = try world.broadcast(Int64.random(in: 1 ... Int64.max), root: 0)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kelm-mpi-barrier-\(token)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try world.barrier()
        let mine = directory.appendingPathComponent("rank-\(world.rank)")
        XCTAssertTrue(FileManager.default.createFile(atPath: mine.path, contents: Data([UInt8(world.rank % 256)])))
        try world.barrier()
        for r in 0 ..< world.size {
            XCTAssertTrue(FileManager.default.fileExists(atPath: directory.appendingPathComponent("rank-\(r)").path),
                          "rank \(world.rank) does not see rank \(r)'s file after the barrier")
        }
        try world.barrier()
        if world.rank == 0 {
            try FileManager.default.removeItem(at: directory)
        }
    }

    /// Even and odd ranks, each ordered by descending world rank (key = -rank).
    func testSplitByParity() throws {
        let world = try worldCommunicator()
        let parity = world.rank % 2
        let sub = try world.split(color: parity, key: -world.rank)
        let members = stride(from: parity, to: world.size, by: 2).map { $0 }
        XCTAssertFalse(sub.isWorld)
        XCTAssertEqual(sub.size, members.count)
        XCTAssertEqual(sub.rank, members.filter { $0 > world.rank }.count)
        XCTAssertEqual(try sub.allReduce(Int64(world.rank), op: .sum), Int64(members.reduce(0, +)))
        XCTAssertEqual(try sub.allGather(Int32(world.rank)), members.reversed().map { Int32($0) })
        try sub.close()
        XCTAssertTrue(sub.isClosed)
        try sub.close() // idempotent
    }

    /// The shared-memory (node) communicator: its members share the host, and the node
    /// communicators partition the world.
    func testSplitSharedGivesNodeCommunicator() throws {
        let world = try worldCommunicator()
        let node = try world.splitShared(key: world.rank)
        defer { XCTAssertNoThrow(try node.close()) }
        XCTAssertGreaterThanOrEqual(node.size, 1)
        XCTAssertLessThanOrEqual(node.size, world.size)
        let host = stableHash(ProcessInfo.processInfo.hostName)
        XCTAssertEqual(try node.allGather(host), [Int64](repeating: host, count: node.size))
        let leaderSizes = try world.allReduce(Int64(node.rank == 0 ? node.size : 0), op: .sum)
        XCTAssertEqual(leaderSizes, Int64(world.size))
        // key = world rank keeps world order inside the node.
        let worldRanks = try node.allGather(Int32(world.rank))
        XCTAssertEqual(worldRanks, worldRanks.sorted())
        XCTAssertEqual(Int(worldRanks[node.rank]), world.rank)
    }

    func testClosedCommunicatorThrows() throws {
        let world = try worldCommunicator()
        let sub = try world.split(color: 0, key: world.rank)
        XCTAssertEqual(sub.size, world.size)
        try sub.close()
        var values: [Float] = [1]
        XCTAssertThrowsError(try sub.allReduce(&values, op: .sum)) { error in
            XCTAssertEqual(error as? MPIError, .communicatorClosed(call: "MPI_Allreduce"))
        }
        XCTAssertThrowsError(try sub.barrier()) { error in
            XCTAssertEqual(error as? MPIError, .communicatorClosed(call: "MPI_Barrier"))
        }
    }

    /// A communicator that is never closed is freed by deinit (safety net); nothing leaks or hangs.
    func testUnclosedCommunicatorIsFreedByDeinit() throws {
        let world = try worldCommunicator()
        for round in 0 ..< 3 {
            let sub = try world.split(color: 0, key: 0)
            XCTAssertEqual(try sub.allReduce(Int32(1), op: .sum), Int32(world.size), "round \(round)")
        }
        try world.barrier()
    }

    /// MPI's own argument checks come back as `MPIError.callFailed` naming the call (the world
    /// has MPI_ERRORS_RETURN). Every rank fails alike, so nothing is left waiting.
    func testMPIFailuresAreTypedErrorsNamingTheCall() throws {
        let world = try worldCommunicator()
        var values: [Int32] = [1, 2]
        XCTAssertThrowsError(try world.broadcast(&values, root: world.size)) { error in
            guard case let MPIError.callFailed(call, code, message) = error else {
                return XCTFail("unexpected error \(error)")
            }
            XCTAssertEqual(call, "MPI_Bcast")
            XCTAssertNotEqual(code, 0)
            XCTAssertFalse(message.isEmpty)
            XCTAssertTrue("\(error)".contains("MPI_Bcast"), "\(error)")
        }
        XCTAssertThrowsError(try world.split(color: -5, key: 0)) { error in
            guard case MPIError.callFailed(call: "MPI_Comm_split", _, _) = error else {
                return XCTFail("unexpected error \(error)")
            }
        }
        XCTAssertThrowsError(try world.broadcast(&values, root: Int(Int32.max) + 1)) { error in
            guard case MPIError.invalidArgument(call: "MPI_Bcast", _) = error else {
                return XCTFail("unexpected error \(error)")
            }
        }
        // The communicator still works after those failures.
        try world.allReduce(&values, op: .sum)
        XCTAssertEqual(values, [Int32(world.size), Int32(2 * world.size)])
    }

    /// Used by launch/test-mpi.sh to check that a failure on one rank fails the whole mpirun:
    /// with KELM_MPI_TEST_FAIL_ON_RANK=r set, rank r records a failure. Otherwise skipped.
    func testInjectedFailureOnOneRank() throws {
        guard let value = ProcessInfo.processInfo.environment["KELM_MPI_TEST_FAIL_ON_RANK"], let failing = Int(value) else {
            throw XCTSkip("KELM_MPI_TEST_FAIL_ON_RANK is not set")
        }
        let world = try worldCommunicator()
        try world.barrier()
        if world.rank == failing {
            XCTFail("injected failure on rank \(world.rank) of \(world.size)")
        }
    }
}
