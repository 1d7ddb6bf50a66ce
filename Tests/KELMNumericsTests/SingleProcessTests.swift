import KELMNumerics
import XCTest

/// One process alone: the gathers are copies.
final class SingleProcessTests: XCTestCase {
    func testAllGatherVIntoABufferCopiesAndChecksTheSize() throws {
        let collective = SingleProcess()
        let mine: [Int64] = [7, 1 << 40, -3]
        var receive = [Int64](repeating: 0, count: 5)
        let written = try mine.withUnsafeBufferPointer { send in
            try receive.withUnsafeMutableBufferPointer { try collective.allGatherV(send, into: $0) }
        }
        XCTAssertEqual(written, 3)
        XCTAssertEqual(receive, [7, 1 << 40, -3, 0, 0])
        var small = [Int64](repeating: 0, count: 2)
        XCTAssertThrowsError(try mine.withUnsafeBufferPointer { send in
            try small.withUnsafeMutableBufferPointer { try collective.allGatherV(send, into: $0) }
        }) { XCTAssertTrue("\($0)".contains("receive buffer holds 2"), "\($0)") }
    }
}
