import KELMMPI
import XCTest

/// In-place all-reduce (blocking and non-blocking) of every MPIScalar type. Rank r contributes
/// values built from r + 1, so the expected results follow from the world size alone.
final class AllReduceTests: XCTestCase {
    func testSumOfFloatBuffer() throws {
        let world = try worldCommunicator()
        let count = 1000
        var values = (0 ..< count).map { Float(world.rank + 1) * Float($0 + 1) }
        try world.allReduce(&values, op: .sum)
        let s = Float(triangular(world.size))
        for i in 0 ..< count {
            XCTAssertEqual(values[i], s * Float(i + 1), "element \(i)")
        }
    }

    func testMaxAndMinOfDoubleBuffer() throws {
        let world = try worldCommunicator()
        var maxima = (0 ..< 17).map { Double(world.rank + 1) + 0.25 * Double($0) }
        try world.allReduce(&maxima, op: .max)
        XCTAssertEqual(maxima, (0 ..< 17).map { Double(world.size) + 0.25 * Double($0) })

        var minima = (0 ..< 17).map { -Double(world.rank + 1) * Double($0 + 1) }
        try world.allReduce(&minima, op: .min)
        XCTAssertEqual(minima, (0 ..< 17).map { -Double(world.size) * Double($0 + 1) })
    }

    func testSumMaxMinOfInt32() throws {
        let world = try worldCommunicator()
        var sums = [Int32(world.rank + 1), Int32(-(world.rank + 1)), 7]
        try world.allReduce(&sums, op: .sum)
        let s = Int32(triangular(world.size))
        XCTAssertEqual(sums, [s, -s, 7 * Int32(world.size)])

        // The buffer-pointer form, as the gradient reducer uses it.
        var maxima = [Int32(world.rank) - 1000, Int32(world.rank)]
        try maxima.withUnsafeMutableBufferPointer { try world.allReduce($0, op: .max) }
        XCTAssertEqual(maxima, [Int32(world.size - 1) - 1000, Int32(world.size - 1)])
        XCTAssertEqual(try world.allReduce(Int32(world.rank) - 1000, op: .min), -1000)
    }

    func testInt64ValuesAbove32Bits() throws {
        let world = try worldCommunicator()
        let big = Int64(1) << 40
        var values = (0 ..< 5).map { big * Int64(world.rank + 1) + Int64($0) }
        var maxima = values
        try world.allReduce(&values, op: .sum)
        try world.allReduce(&maxima, op: .max)
        let n = Int64(world.size)
        for i in 0 ..< 5 {
            XCTAssertEqual(values[i], big * Int64(triangular(world.size)) + n * Int64(i))
            XCTAssertEqual(maxima[i], big * n + Int64(i))
        }
        XCTAssertGreaterThan(values[0], Int64(UInt32.max))
    }

    func testUInt8SumAndMax() throws {
        let world = try worldCommunicator()
        var ones: [UInt8] = [1, 2]
        try world.allReduce(&ones, op: .sum)
        XCTAssertEqual(ones, [UInt8(world.size % 256), UInt8((2 * world.size) % 256)])
        XCTAssertEqual(try world.allReduce(UInt8(world.rank % 200), op: .max), UInt8((world.size - 1) % 200))
    }

    func testEmptyBufferIsANoOp() throws {
        let world = try worldCommunicator()
        var empty: [Float] = []
        try world.allReduce(&empty, op: .sum)
        XCTAssertEqual(empty, [])
    }

    func testScalarAllReduce() throws {
        let world = try worldCommunicator()
        XCTAssertEqual(try world.allReduce(Double(world.rank + 1), op: .sum), Double(triangular(world.size)))
        XCTAssertEqual(try world.allReduce(Int64(world.rank), op: .max), Int64(world.size - 1))
        XCTAssertEqual(try world.allReduce(Float(world.rank), op: .min), 0)
    }

    /// Two buckets in flight at once, as the gradient reducer will do.
    func testNonBlockingAllReduceOfTwoBuckets() throws {
        let world = try worldCommunicator()
        var first = (0 ..< 4096).map { Float(world.rank + 1) * Float($0 % 13) }
        var second = (0 ..< 100).map { Double(world.rank) + Double($0) }
        try first.withUnsafeMutableBufferPointer { firstBuffer in
            try second.withUnsafeMutableBufferPointer { secondBuffer in
                let a = try world.startAllReduce(firstBuffer, op: .sum)
                let b = try world.startAllReduce(secondBuffer, op: .max)
                var polls = 0
                while try !b.test() { polls += 1 }
                XCTAssertTrue(b.isComplete)
                try a.wait()
                XCTAssertTrue(a.isComplete)
                try a.wait() // waiting again does nothing
                XCTAssertTrue(try a.test())
            }
        }
        let s = Float(triangular(world.size))
        for i in 0 ..< first.count {
            XCTAssertEqual(first[i], s * Float(i % 13), "element \(i)")
        }
        XCTAssertEqual(second, (0 ..< 100).map { Double(world.size - 1) + Double($0) })
    }

    /// The in-place non-blocking all-reduce runs Open MPI's ring algorithm (set before MPI_Init,
    /// MPIRuntime.defaultOpenMPIParameters): the value of the control variable, and sums of
    /// lengths that do not split evenly into one segment per rank (also fewer elements than ranks).
    func testNonBlockingAllReduceRunsTheRing() throws {
        let world = try worldCommunicator()
        let expected = Int32(ProcessInfo.processInfo.environment[Self.expectAlgorithmVariable] ?? "1")
        XCTAssertEqual(try MPIRuntime.integerControlVariable("coll_libnbc_iallreduce_algorithm"), expected)
        XCTAssertNil(try MPIRuntime.integerControlVariable("kelm_no_such_parameter"))
        for count in [1, 2, 3, 4, 1001, 65536 + 7] {
            var values = (0 ..< count).map { Float(world.rank + 1) * Float($0 % 29 + 1) }
            try values.withUnsafeMutableBufferPointer { try world.startAllReduce($0, op: .sum).wait() }
            let s = Float(triangular(world.size))
            XCTAssertEqual(values, (0 ..< count).map { s * Float($0 % 29 + 1) }, "\(count) elements")
        }
    }

    /// TCP sends large messages without the emulated put, chunks up to 4 MiB eagerly (set before MPI_Init,
    /// MPIRuntime.defaultOpenMPIParameters): with the receives posted ahead, a put moves only
    /// inside blocking waits and the gradient buckets would not overlap backward across machines.
    func testTCPSendsLargeMessagesEagerlyWithoutPut() throws {
        _ = try worldCommunicator()
        let flags = try XCTUnwrap(try MPIRuntime.integerControlVariable("btl_tcp_flags"), "Open MPI's TCP transport is loaded")
        XCTAssertEqual(flags & 0x2, 0, "btl_tcp_flags \(flags) has put (0x2)")
        XCTAssertEqual(flags & 0x1, 0x1, "btl_tcp_flags \(flags) lacks send (0x1)")
        // and a ring chunk of a 4 MiB bucket goes eagerly, in one message
        for name in ["btl_tcp_eager_limit", "btl_tcp_rndv_eager_limit", "btl_tcp_max_send_size"] {
            XCTAssertEqual(try MPIRuntime.integerControlVariable(name), 4_194_304, name)
        }
    }

    private static let expectAlgorithmVariable = "KELM_MPI_TEST_EXPECT_IALLREDUCE_ALGORITHM"

    /// A choice of the launcher (`mpirun --mca coll_libnbc_iallreduce_algorithm 2` puts it in the
    /// environment) is kept: in a child process with the variable set.
    func testLauncherChoiceOfTheAllReduceAlgorithmIsKept() throws {
        if ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] != nil {
            throw XCTSkip("child-process tests run only without mpirun")
        }
        if ProcessInfo.processInfo.environment[Self.expectAlgorithmVariable] != nil {
            throw XCTSkip("the child runs testNonBlockingAllReduceRunsTheRing only")
        }
        let (status, output) = try runTestInChildProcess(
            "KELMMPITests.AllReduceTests/testNonBlockingAllReduceRunsTheRing",
            environment: ["OMPI_MCA_coll_libnbc_iallreduce_algorithm": "2", Self.expectAlgorithmVariable: "2"])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("Executed 1 test, with 0 failures"), output)
    }

    /// A request dropped while pending is completed by its deinit.
    func testDroppedRequestCompletesInDeinit() throws {
        let world = try worldCommunicator()
        var values = [Int32(world.rank + 1)]
        try values.withUnsafeMutableBufferPointer { buffer in
            _ = try world.startAllReduce(buffer, op: .sum)
        }
        XCTAssertEqual(values, [Int32(triangular(world.size))])
    }
}
