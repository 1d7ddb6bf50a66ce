import KELMData
import XCTest

final class SpecialTokenTests: XCTestCase {
    func testNames() {
        XCTAssertEqual(SpecialToken.allCases.map(\.rawValue), ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    }
}
