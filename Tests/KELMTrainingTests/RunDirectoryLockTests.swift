import Foundation
import XCTest
@testable import KELMTraining

/// One job per run directory (issue 20): the lock, its owner record, and what a new run refuses.
/// (Separate processes: RunDirectoryCommandTests and the reliability script's check 10.)
final class RunDirectoryLockTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kelm-lock-\(UUID())").path
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)  // some tests leave nothing to remove
    }

    func testASecondHolderIsRefusedNamingTheFirst() throws {
        let first = try RunDirectoryLock(directory: directory)
        XCTAssertTrue(first.createdDirectory)
        let record = try String(contentsOfFile: first.path, encoding: .utf8)
        XCTAssertTrue(record.hasPrefix("pid \(getpid()) on host "), record)
        // flock belongs to the open file description: a second open in this process conflicts
        // just as another process's would
        XCTAssertThrowsError(try RunDirectoryLock(directory: directory)) { e in
            guard case let RunDirectoryError.inUse(dir, owner)? = e as? RunDirectoryError else { return XCTFail("\(e)") }
            XCTAssertEqual(dir, directory)
            XCTAssertEqual(owner + "\n", record)
            XCTAssertTrue("\(e)".hasPrefix("run directory \(directory) is in use by another job (pid \(getpid()) on host "), "\(e)")
        }
        first.release()
        let second = try RunDirectoryLock(directory: directory)
        XCTAssertFalse(second.createdDirectory)
        second.release()
        XCTAssertTrue(FileManager.default.fileExists(atPath: second.path), "the lock file stays after release")
    }

    func testAJobThatWroteNothingLeavesNoTrace() throws {
        let lock = try RunDirectoryLock(directory: directory + "/nested/run")
        lock.releaseLeavingNoTrace()
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/nested/run"))
        // a directory that existed, or one with files in it, stays
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let existing = try RunDirectoryLock(directory: directory)
        existing.releaseLeavingNoTrace()
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory))
        let written = try RunDirectoryLock(directory: directory + "/written")
        try "x".write(toFile: directory + "/written/config.yaml", atomically: false, encoding: .utf8)
        written.releaseLeavingNoTrace()
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory + "/written/config.yaml"))
    }

    func testANewRunRefusesAnotherRunsFiles() throws {
        let lock = try RunDirectoryLock(directory: directory)
        defer { lock.release() }
        XCTAssertNoThrow(try lock.requireNoRun())
        try FileManager.default.createDirectory(atPath: directory + "/checkpoints", withIntermediateDirectories: true)
        XCTAssertNoThrow(try lock.requireNoRun(), "an empty checkpoints/ is no run")
        try "x".write(toFile: directory + "/checkpoints/ckpt-00000001.h5", atomically: false, encoding: .utf8)
        try "{}\n".write(toFile: directory + "/metrics.jsonl", atomically: false, encoding: .utf8)
        XCTAssertThrowsError(try lock.requireNoRun()) { e in
            XCTAssertEqual(e as? RunDirectoryError, .holdsARun(directory: directory, found: ["metrics.jsonl", "checkpoints"]))
        }
    }

    func testAFileIsNoRunDirectory() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let file = directory + "/plain"
        try "x".write(toFile: file, atomically: false, encoding: .utf8)
        XCTAssertThrowsError(try RunDirectoryLock(directory: file)) { e in
            XCTAssertEqual(e as? RunDirectoryError, .notADirectory(path: file))
        }
        XCTAssertThrowsError(try RunDirectoryLock(directory: file + "/run")) { e in
            XCTAssertTrue("\(e)".hasPrefix("\(file + "/run"): mkdir failed: "), "\(e)")
        }
    }
}
