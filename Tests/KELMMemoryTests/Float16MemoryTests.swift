import KELMMemory
import KELMModel
import KELMNumerics
import KELMTestSupport
import XCTest

/// `memory.dtype: float16`: M stored as IEEE half, half the bytes; encodings and momentum updates
/// computed in float32 and rounded to nearest on store; rows widened to float32 when read.
final class Float16MemoryTests: XCTestCase {
    static let bert = BertConfig(vocabSize: 23, hiddenSize: 8, numLayers: 2, numHeads: 2, ffnSize: 12, maxPositions: 10)

    static func lm(seed: UInt64) throws -> (BertMaskedLM.Parameters, ParameterStore) {
        var table = ParameterTable()
        let p = try BertMaskedLM.Parameters(&table, config: bert)
        let store = ParameterStore(table: table)
        store.initialize(seed: seed)
        return (p, store)
    }

    func testHalfTheBytesAndRoundToNearestEven() {
        XCTAssertEqual(EntityContextMemory.bytes(entityCount: 117_659, width: 384, dtype: .float16), 117_659 * 384 * 2)
        XCTAssertEqual(EntityContextMemory.bytes(entityCount: 117_659, width: 384, dtype: .float32), 117_659 * 384 * 4)
        let half = EntityContextMemory(entityCount: 7, width: 8, dtype: .float16)
        let single = EntityContextMemory(entityCount: 7, width: 8)
        XCTAssertEqual(half.dtype, .float16)
        XCTAssertEqual(half.storage.byteCount * 2, single.storage.byteCount)
        XCTAssertEqual(half.storage.bytes.count, 7 * 8 * 2)

        // 1 + 2^-11 lies halfway between 1 and 1 + 2^-10: ties go to the even mantissa (1);
        // 1 + 3·2^-11 halfway between 1 + 2^-10 and 1 + 2^-9: to 1 + 2^-9; just above a tie rounds up
        let values: [Float] = [1 + 0x1p-11, 1 + 3 * 0x1p-11, 1 + 0x1p-11 + 0x1p-20, -2.5e-6, 70000, 0.1]
        let expected: [Float] = [1, 1 + 0x1p-9, 1 + 0x1p-10, Float(Float16(-2.5e-6)), .infinity, Float(Float16(0.1))]
        let s = half.storage
        values.withUnsafeBufferPointer { s.store($0.baseAddress!, at: 3, count: values.count) }
        for (i, e) in expected.enumerated() { XCTAssertEqual(s.rows(width: 8).value(row: 0, column: 3 + i), e, "value \(values[i])") }
        XCTAssertEqual(s.rows(width: 8).value(row: 0, column: 2), 0, "untouched values stay zero")

        // the momentum update: keep·v + take·fresh in float32 from the widened value, rounded once
        var rng = RandomStream(RandomKey(seed: 11, purpose: .parameterInit, stream: 0))
        let fresh = (0..<8).map { _ in rng.nextNormal() }
        let before = (0..<8).map { s.rows(width: 8).value(row: 1, column: $0) }
        fresh.withUnsafeBufferPointer { s.blend(row: 8, width: 8, keep: 0.8, take: 0.2, fresh: $0.baseAddress!) }
        for c in 0..<8 {
            let want = Float16(Float(0.8) * before[c] + Float(0.2) * fresh[c])
            XCTAssertEqual(Float16(s.rows(width: 8).value(row: 1, column: c)).bitPattern, want.bitPattern, "column \(c)")
        }
    }

    /// The step-0 fill stores the float32 encodings rounded; each refresh stores
    /// round(m·M + (1−m)·M_new) bit for bit; and the float16 memory stays within half precision
    /// of the float32 one.
    func testFloat16RowsAreTheFloat32RowsRounded() throws {
        let (p, store) = try Self.lm(seed: 6)
        let source = EntityContextMemoryTests.Descriptions()
        let encoder = DescriptionEncoder(parameters: p, config: Self.bert, layerCount: 1, maxRows: 3 * 8, tokens: 8)
        let single = EntityContextMemory(entityCount: 7, width: 8)
        let half = EntityContextMemory(entityCount: 7, width: 8, dtype: .float16)
        for m in [single, half] {
            try m.fill(encoder: encoder, source: source, params: store.values.pointer, collective: SingleProcess())
        }
        let filled = single.storage.floats()
        for (i, v) in half.storage.floats().enumerated() {
            XCTAssertEqual(Float16(v).bitPattern, Float16(filled[i]).bitPattern, "fill, element \(i)")
        }
        let momentum: Float = 0.8
        var next = 0
        for k in 1...3 {
            for i in 0..<store.values.count { store.values.pointer[i] *= 0.98 }
            let (ids, n) = EntityContextMemory.covered(.rolling(block: 4), candidates: Array(0..<7), next: next)
            next = n
            // M_new as the refresh computes it (one rank encodes all covered entities in one call)
            let fresh = FlatBuffer(count: ids.count * 8)
            try encoder.encode(entities: ids[...], source: source, params: store.values.pointer, output: fresh.pointer)
            let before = half.storage.floats()
            for m in [single, half] {
                try m.refresh(entities: ids, momentum: momentum, encoder: encoder, source: source, params: store.values.pointer,
                              collective: SingleProcess())
            }
            let after = half.storage.floats(), reference = single.storage.floats()
            for e in 0..<7 {
                for c in 0..<8 {
                    let i = e * 8 + c
                    if let slot = ids.firstIndex(of: e) {
                        let want = Float16(momentum * before[i] + (1 - momentum) * fresh.pointer[slot * 8 + c])
                        XCTAssertEqual(Float16(after[i]).bitPattern, want.bitPattern, "refresh \(k), entity \(e)")
                    } else {
                        XCTAssertEqual(after[i].bitPattern, before[i].bitPattern, "refresh \(k): entity \(e) not covered")
                    }
                    XCTAssertTrue(HalfPrecision.within(after[i], reference[i], roundings: k + 1),
                                  "refresh \(k), entity \(e): \(after[i]) vs float32 \(reference[i])")
                }
            }
        }
    }

    /// The GNN's input gather reads float16 rows widened to float32.
    func testRowsAreWidenedWhereRead() {
        let values: [Float16] = [1.5, -0.25, 0x1p-24, 65504]
        values.withUnsafeBufferPointer { v in
            let rows = EntityRows(v.baseAddress!, width: 2)
            XCTAssertEqual(rows.dtype, .float16)
            var out = [Float](repeating: .nan, count: 2)
            out.withUnsafeMutableBufferPointer { rows.copy(row: 1, into: $0.baseAddress!) }
            XCTAssertEqual(out, [0x1p-24, 65504])
            XCTAssertEqual(rows.value(row: 0, column: 1), -0.25)
        }
    }
}
