import Foundation
import KELMCheckpoint
import KELMHDF5
import KELMModel
import KELMNumerics
import XCTest

/// `/memory/entity_context` in the memory's own dtype (DESIGN §4 `memory.dtype`, §7): a float16
/// memory is saved as float16 and read back bit for bit; a memory of the other dtype is
/// converted on reading (widened exactly, or rounded to nearest), checksums verified either way.
final class CheckpointMemoryDTypeTests: XCTestCase {
    static let entities = 50, width = CheckpointLoadingTests.bert.hiddenSize

    var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kelm-ckpt-dtype-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(atPath: directory)
    }

    /// A checkpoint whose memory is `memory`; returns its path.
    func save(_ memory: EntityMemoryStorage, run: String) throws -> String {
        let t = try CheckpointLoadingTests.table()
        var c = Checkpoint.Contents(step: 4, epoch: 0, samplesSeen: 8, worldSize: 1, configJSON: "{\"model\":{}}", table: t,
                                    params: CheckpointLoadingTests.filled(t.count, seed: 1), expAvg: nil, expAvgSq: nil,
                                    optimizerStep: 4, lrPretrained: 5e-5, lrNew: 1e-3, memory: (memory, Self.entities, Self.width))
        c.memoryState = Checkpoint.MemoryState(refreshCount: 2, nextRefreshStep: 20, nextBlock: 3, momentum: 0.8)
        return try Checkpoint.save(c, runDirectory: (directory as NSString).appendingPathComponent(run), keep: 1)
    }

    static func memory(_ dtype: EntityMemoryDType) -> EntityMemoryStorage {
        let values = CheckpointLoadingTests.filled(entities * width, seed: 9)
        let m = EntityMemoryStorage(dtype: dtype, count: entities * width)
        m.store(values.pointer, at: 0, count: values.count)
        return m
    }

    func testFloat16MemoryRoundTripsBitForBit() throws {
        let memory = Self.memory(.float16)
        let path = try save(memory, run: "half")
        let (f, header) = try Checkpoint.open(path)
        defer { XCTAssertNoThrow(try f.close()) }
        XCTAssertEqual(header.memoryDType, .float16)
        XCTAssertEqual(try f.withDataset("/memory/entity_context") { try $0.elementKind() }, .float(bytes: 2))
        XCTAssertEqual(try f.withDataset("/memory/entity_context") { try $0.shape() }, [Self.entities, Self.width])
        let v = try Checkpoint.verify(f)
        XCTAssertEqual(v.checksummed, v.datasets)

        let back = EntityMemoryStorage(dtype: .float16, count: memory.count)
        try Checkpoint.readMemory(from: f, into: back, entities: Self.entities, width: Self.width)
        XCTAssertTrue(back.bytes.elementsEqual(memory.bytes), "float16 rows, bit for bit")
        let widened = EntityMemoryStorage(dtype: .float32, count: memory.count)
        try Checkpoint.readMemory(from: f, into: widened, entities: Self.entities, width: Self.width)
        XCTAssertEqual(widened.floats(), memory.floats(), "widened exactly")

        // export keeps working: the weights file holds the same rows in either dtype
        for dtype in StoredTensor.FloatStorage.allCases {
            let out = (directory as NSString).appendingPathComponent("weights-\(dtype.rawValue).h5")
            let s = try WeightsFile.write(from: f, header: header, to: out, dtype: dtype, withMemory: true)
            XCTAssertEqual(s.memoryRows, Self.entities)
            let w = try HDF5File.open(out)
            XCTAssertEqual(try w.withDataset("/memory/entity_context") { try $0.readFloats() }, memory.floats(), dtype.rawValue)
            try w.close()
        }
    }

    /// A float32 memory read into a float16 run: rounded to nearest, whole rows a chunk at a
    /// time, the checksum of the stored float32 bytes verified over the chunks.
    func testFloat32MemoryIsRoundedIntoAFloat16Run() throws {
        let memory = Self.memory(.float32)
        let path = try save(memory, run: "single")
        let (f, header) = try Checkpoint.open(path)
        XCTAssertEqual(header.memoryDType, .float32)
        for chunk in [3 * Self.width, 1 << 22] {
            let back = EntityMemoryStorage(dtype: .float16, count: memory.count)
            try Checkpoint.readMemory(from: f, into: back, entities: Self.entities, width: Self.width, chunkValues: chunk)
            let expected = memory.floats().map { Float16($0).bitPattern }
            XCTAssertEqual(back.floats().map { Float16($0).bitPattern }, expected, "chunks of \(chunk) values")
        }
        try f.close()

        // a changed value (checksum left as it was) is noticed on the chunked path too
        try edit(path) { f in
            var values = memory.floats()
            values[17 * Self.width + 3] += 1
            try f.withDataset("/memory/entity_context") { try $0.write(values) }
        }
        let (g, _) = try Checkpoint.open(path)
        defer { XCTAssertNoThrow(try g.close()) }
        XCTAssertThrowsError(try Checkpoint.readMemory(from: g, into: EntityMemoryStorage(dtype: .float16, count: memory.count),
                                                       entities: Self.entities, width: Self.width, chunkValues: 3 * Self.width)) { error in
            let e = error as? CheckpointError
            XCTAssertEqual(e?.item, "/memory/entity_context")
            XCTAssertTrue(e?.problem.hasPrefix("checksum mismatch") ?? false, "\(error)")
        }
    }

    func testChangedFloat16MemoryIsNoticed() throws {
        let memory = Self.memory(.float16)
        let path = try save(memory, run: "half-changed")
        try edit(path) { f in
            var values = memory.floats()
            values[5] = values[5] * 2 + 1
            try f.withDataset("/memory/entity_context") { try $0.write(values) }
        }
        let (f, _) = try Checkpoint.open(path)
        defer { XCTAssertNoThrow(try f.close()) }
        for dtype in EntityMemoryDType.allCases {
            XCTAssertThrowsError(try Checkpoint.readMemory(from: f, into: EntityMemoryStorage(dtype: dtype, count: memory.count),
                                                           entities: Self.entities, width: Self.width), dtype.rawValue) { error in
                XCTAssertTrue((error as? CheckpointError)?.problem.hasPrefix("checksum mismatch") ?? false, "\(error)")
            }
        }
    }

    func edit(_ path: String, _ body: (HDF5File) throws -> Void) throws {
        let f = try HDF5File.open(path, mode: .readWrite)
        try body(f)
        try f.close()
    }
}
