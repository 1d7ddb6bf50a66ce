import KELMMPI
import XCTest

/// Broadcast, all-gather (same and own counts) and gather-to-root, checked element by element.
final class BroadcastGatherTests: XCTestCase {
    func testBroadcastFromLastRank() throws {
        let world = try worldCommunicator()
        let root = world.size - 1
        let expected = (0 ..< 257).map { Float(1000 + $0 + 7 * root) }
        var values = world.rank == root ? expected : [Float](repeating: -1, count: 257)
        try world.broadcast(&values, root: root)
        XCTAssertEqual(values, expected)

        let big = Int64(1) << 45
        var wide = world.rank == root ? [big, -big, big + 3] : [0, 0, 0]
        try wide.withUnsafeMutableBufferPointer { try world.broadcast($0, root: root) }
        XCTAssertEqual(wide, [big, -big, big + 3])

        XCTAssertEqual(try world.broadcast(Double(world.rank) + 0.5, root: root), Double(root) + 0.5)
    }

    func testBroadcastResizingFromRankZero() throws {
        let world = try worldCommunicator()
        let message = Array("knowledge paths from rank 0".utf8)
        var received: [UInt8] = world.rank == 0 ? message : Array(repeating: 9, count: world.rank)
        try world.broadcastResizing(&received, root: 0)
        XCTAssertEqual(received, message)
    }

    func testAllGatherSameCount() throws {
        let world = try worldCommunicator()
        let mine = (0 ..< 3).map { Int32(world.rank * 10 + $0) }
        let all = try world.allGather(mine)
        XCTAssertEqual(all.count, 3 * world.size)
        for r in 0 ..< world.size {
            for j in 0 ..< 3 {
                XCTAssertEqual(all[r * 3 + j], Int32(r * 10 + j), "rank \(r) element \(j)")
            }
        }
        XCTAssertEqual(try world.allGather(Int64(world.rank) << 33), (0 ..< world.size).map { Int64($0) << 33 })
    }

    func testAllGatherRejectsWrongReceiveCount() throws {
        let world = try worldCommunicator()
        let send = [Float](repeating: 1, count: 2)
        var receive = [Float](repeating: 0, count: 2 * world.size + 1)
        try send.withUnsafeBufferPointer { send in
            try receive.withUnsafeMutableBufferPointer { receive in
                XCTAssertThrowsError(try world.allGather(send, into: receive)) { error in
                    guard case MPIError.invalidArgument(call: "MPI_Allgather", _) = error else {
                        return XCTFail("unexpected error \(error)")
                    }
                }
            }
        }
    }

    /// Rank r contributes r + 1 values of distinct content; the concatenation is in rank order.
    func testAllGatherVOwnCounts() throws {
        let world = try worldCommunicator()
        let mine = (0 ... world.rank).map { Double(1000 * world.rank + $0) + 0.5 }
        let all = try world.allGatherV(mine)
        let expected = (0 ..< world.size).flatMap { r in (0 ... r).map { Double(1000 * r + $0) + 0.5 } }
        XCTAssertEqual(all.count, triangular(world.size))
        XCTAssertEqual(all.count, expected.count)
        for i in 0 ..< min(all.count, expected.count) {
            XCTAssertEqual(all[i], expected[i], "element \(i)")
        }
    }

    /// Rank r contributes r values (rank 0 none); Int64 content above 2^32.
    func testAllGatherVWithAnEmptyContribution() throws {
        let world = try worldCommunicator()
        let base = Int64(1) << 36
        let mine = (0 ..< world.rank).map { base * Int64(world.rank) + Int64($0) }
        let all = try mine.withUnsafeBufferPointer { try world.allGatherV($0) }
        let expected = (0 ..< world.size).flatMap { r in (0 ..< r).map { base * Int64(r) + Int64($0) } }
        XCTAssertEqual(all, expected)
    }

    /// The same gather into a buffer made beforehand (larger than needed; the tail untouched),
    /// and a clear error, on every rank, when the buffer is too small.
    func testAllGatherVIntoABuffer() throws {
        let world = try worldCommunicator()
        let mine = (0 ... world.rank).map { Float(100 * world.rank + $0) }
        var receive = [Float](repeating: -1, count: triangular(world.size) + 3)
        let written = try mine.withUnsafeBufferPointer { send in
            try receive.withUnsafeMutableBufferPointer { try world.allGatherV(send, into: $0) }
        }
        let expected = (0 ..< world.size).flatMap { r in (0 ... r).map { Float(100 * r + $0) } }
        XCTAssertEqual(written, expected.count)
        XCTAssertEqual(Array(receive[0 ..< written]), expected)
        XCTAssertEqual(Array(receive[written...]), [-1, -1, -1])
        var small = [Float](repeating: 0, count: triangular(world.size) - 1)
        XCTAssertThrowsError(try mine.withUnsafeBufferPointer { send in
            try small.withUnsafeMutableBufferPointer { try world.allGatherV(send, into: $0) }
        }) { XCTAssertTrue("\($0)".contains("MPI_Allgatherv"), "\($0)") }
    }

    func testGatherVToLastRank() throws {
        let world = try worldCommunicator()
        let root = world.size - 1
        let mine = (0 ... world.rank).map { Int32(100 * world.rank + $0) }
        let gathered = try world.gatherV(mine, root: root)
        if world.rank == root {
            XCTAssertEqual(gathered, (0 ..< world.size).flatMap { r in (0 ... r).map { Int32(100 * r + $0) } })
        } else {
            XCTAssertEqual(gathered, [])
        }
    }
}
