import Foundation
import KELMBatches
import KELMCheckpoint
import KELMConfig
import KELMHDF5
import KELMModel
import KELMNumerics
import XCTest
@testable import KELMTraining

/// Resuming with a `memory.dtype` other than the checkpoint's: the memory is converted (rounded
/// to nearest into float16, widened exactly into float32) and the start-up notes say so.
final class MemoryDTypeResumeTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kelm-dtype-resume-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(atPath: directory)
    }

    /// Trains 2 steps with `saved`, checkpoints, and resumes with `requested`; returns the
    /// saved memory (as float32), the resumed trainer and the plan.
    func resume(saved: KELMConfig.MemorySection.DType, requested: KELMConfig.MemorySection.DType)
        throws -> (stored: [Float], resumed: Trainer, plan: ResumePlan) {
        var config = try MultiRankTrainingTests.config(microBatch: 2)
        config.memory.initInterval = 1
        config.memory.dtype = saved
        let first = try MultiRankTrainingTests.train(config, collective: SingleProcess(), steps: 2)
        XCTAssertEqual(first.memory.dtype, saved.storage)
        let dir = (directory as NSString).appendingPathComponent(saved.rawValue)
        try Checkpoint.save(try first.checkpointContents(), runDirectory: dir, keep: 1)
        var asked = config
        asked.memory.dtype = requested
        let plan = try ResumePlan(requested: asked, path: dir, worldSize: 1)
        let resumed = try Trainer(config: plan.config, data: MultiRankTrainingTests.data(), collective: SingleProcess(), fillMemory: false)
        try resumed.restore(from: plan.checkpoint)
        XCTAssertEqual(resumed.memory.dtype, requested.storage)
        XCTAssertEqual(resumed.memorySchedule, first.memorySchedule)
        return (first.memory.storage.floats(), resumed, plan)
    }

    func testFloat32CheckpointIntoFloat16RunIsRounded() throws {
        let (stored, resumed, plan) = try resume(saved: .float32, requested: .float16)
        XCTAssertEqual(plan.header.memoryDType, .float32)
        XCTAssertEqual(plan.notes, ["the checkpoint's entity memory is float32 and memory.dtype is float16: its rows are rounded to float16 (to nearest) on loading, so the run continues close to, not bit-identical with, a float32 run"])
        XCTAssertEqual(resumed.memory.storage.floats().map { Float16($0).bitPattern }, stored.map { Float16($0).bitPattern })
        XCTAssertTrue(try resumed.trainStep().loss.isFinite)
    }

    func testFloat16CheckpointIntoFloat32RunIsWidened() throws {
        let (stored, resumed, plan) = try resume(saved: .float16, requested: .float32)
        XCTAssertEqual(plan.header.memoryDType, .float16)
        XCTAssertEqual(plan.notes, ["the checkpoint's entity memory is float16 and memory.dtype is float32: its rows are widened to float32 (exactly) on loading; refreshes from here on are stored in float32"])
        XCTAssertEqual(resumed.memory.storage.floats(), stored)
        XCTAssertTrue(try resumed.trainStep().loss.isFinite)
    }

    /// A float16 memory holding NaN or infinity (checksum intact: a diverged run saved) is refused
    /// when read, as float32 tensors are (issue 20: float16 reads never checked).
    func testNonFiniteFloat16MemoryIsRefused() throws {
        var config = try MultiRankTrainingTests.config(microBatch: 2)
        config.memory.dtype = .float16
        let first = try MultiRankTrainingTests.train(config, collective: SingleProcess(), steps: 1)
        let dir = (directory as NSString).appendingPathComponent("nan")
        let path = try Checkpoint.save(try first.checkpointContents(), runDirectory: dir, keep: 1)
        for (k, bad) in [Float.nan, .infinity, -.infinity].enumerated() {
            var values = first.memory.storage.floats().map { Float16($0) }
            let index = 5 + 7 * k
            values[index] = Float16(bad)
            let f = try HDF5File.open(path, mode: .readWrite)
            try f.withDataset("/memory/entity_context") { ds in
                try values.withUnsafeBufferPointer { try ds.write($0) }
                try ds.setAttribute(StoredTensor.checksumAttribute, Int64(values.withUnsafeBytes { CRC32.checksum($0) }))
            }
            try f.close()
            let plan = try ResumePlan(requested: config, path: dir, worldSize: 1)
            let resumed = try Trainer(config: plan.config, data: MultiRankTrainingTests.data(), collective: SingleProcess(), fillMemory: false)
            XCTAssertThrowsError(try resumed.restore(from: plan.checkpoint)) { e in
                XCTAssertEqual("\(e)", "checkpoint \(path): /memory/entity_context: holds \(bad) at element \(index); stored weights, moments and memory must be finite")
            }
        }
    }

    /// The memory is stored at `memory.dtype` from the start: the option is not ignored.
    func testTheConfiguredDTypeIsUsed() throws {
        for dtype in KELMConfig.MemorySection.DType.allCases {
            var config = try MultiRankTrainingTests.config(microBatch: 2)
            config.memory.dtype = dtype
            let t = try Trainer(config: config, data: MultiRankTrainingTests.data(), collective: SingleProcess())
            XCTAssertEqual(t.memory.dtype, dtype.storage)
            XCTAssertEqual(t.memory.storage.byteCount, t.memory.entityCount * t.memory.width * (dtype == .float16 ? 2 : 4))
            XCTAssertEqual(try t.checkpointContents().memory?.values.dtype, dtype.storage)
        }
    }
}
