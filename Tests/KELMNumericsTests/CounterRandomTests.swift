import XCTest
import KELMNumerics

final class CounterRandomTests: XCTestCase {
    /// Known-answer test from the Random123 distribution (philox4x32, 10 rounds).
    func testPhiloxKnownAnswers() {
        let zero = Philox.block(key: (0, 0), counter: (0, 0, 0, 0))
        XCTAssertEqual([zero.0, zero.1, zero.2, zero.3], [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8])
        let ones = Philox.block(key: (0xffff_ffff, 0xffff_ffff), counter: (0xffff_ffff, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff))
        XCTAssertEqual([ones.0, ones.1, ones.2, ones.3], [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd])
        let pi = Philox.block(key: (0xa409_3822, 0x299f_31d0),
                              counter: (0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344))
        XCTAssertEqual([pi.0, pi.1, pi.2, pi.3], [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1])
    }

    func testStreamsAreDeterministicAndDistinct() {
        let key = RandomKey(seed: 7, epoch: 2, purpose: .masking, stream: 1, item: 123_456_789_012)
        var a = RandomStream(key), b = RandomStream(key)
        let xs = (0..<10).map { _ in a.nextWord() }
        XCTAssertEqual(xs, (0..<10).map { _ in b.nextWord() })
        XCTAssertEqual(xs[5], key.word(5))
        var other = key
        other.item += 1
        XCTAssertNotEqual(xs, (0..<10).map { other.word(UInt64($0)) })
        other = key
        other.purpose = .dropout
        XCTAssertNotEqual(xs, (0..<10).map { other.word(UInt64($0)) })
    }

    func testUniformIntegersAndNormals() {
        var s = RandomStream(RandomKey(seed: 1, purpose: .test))
        var counts = [Int](repeating: 0, count: 7)
        for _ in 0..<70_000 { counts[s.nextInt(below: 7)] += 1 }
        for c in counts { XCTAssertEqual(Double(c), 10_000, accuracy: 400) }
        var sum = 0.0, sq = 0.0
        let n = 50_000
        for _ in 0..<n { let v = Double(s.nextNormal()); sum += v; sq += v * v }
        XCTAssertEqual(sum / Double(n), 0, accuracy: 0.02)
        XCTAssertEqual(sq / Double(n), 1, accuracy: 0.03)
    }
}
