import KELMNumerics
import XCTest

final class FNV1a64Tests: XCTestCase {
    func testFNV1a64KnownVectors() {
        XCTAssertEqual(FNV1a64.hash([UInt8]()), 0xcbf2_9ce4_8422_2325)
        XCTAssertEqual(FNV1a64.hash(Array("a".utf8)), 0xaf63_dc4c_8601_ec8c)
        XCTAssertEqual(FNV1a64.hash(Array("foobar".utf8)), 0x8594_4171_f739_67e8)
        var parts = FNV1a64.offsetBasis
        FNV1a64.mix(&parts, Array("foo".utf8))
        FNV1a64.mix(&parts, Array("bar".utf8))
        XCTAssertEqual(parts, 0x8594_4171_f739_67e8, "hashing in parts gives the hash of the whole")
    }
}
