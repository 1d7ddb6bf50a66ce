import Foundation
import KELMFiles
import KELMCheckpoint
import KELMHDF5
import XCTest

/// A checkpoint that cannot be written is a `CheckpointWriteError` naming the file, the system's
/// reason and the previous checkpoint, which stays byte-identical and loadable (issue 11, item 4).
/// Disk full and a read-only directory are tested on real mounts by
/// Tests/reliability/run-reliability-tests.sh; here the failures any user can provoke.
final class CheckpointWriteFailureTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kelm-ckpt-write-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(atPath: directory)
    }

    func contents(step: Int) throws -> Checkpoint.Contents {
        let t = try CheckpointLoadingTests.table()
        return Checkpoint.Contents(step: step, epoch: 0, samplesSeen: 2 * step, worldSize: 1, configJSON: "{\"model\":{}}", table: t,
                                   params: CheckpointLoadingTests.filled(t.count, seed: UInt64(step)), expAvg: nil, expAvgSq: nil,
                                   optimizerStep: step, lrPretrained: 5e-5, lrNew: 1e-3, memory: nil)
    }

    func writeError(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> CheckpointWriteError? {
        do {
            try body()
            XCTFail("expected a CheckpointWriteError", file: file, line: line)
        } catch let e as CheckpointWriteError {
            return e
        } catch {
            XCTFail("expected a CheckpointWriteError, got \(error)", file: file, line: line)
        }
        return nil
    }

    func testFailedSaveLeavesThePreviousCheckpointUntouched() throws {
        let run = (directory as NSString).appendingPathComponent("run")
        let previous = try Checkpoint.save(try contents(step: 7), runDirectory: run, keep: 1)
        let before = try Data(contentsOf: URL(fileURLWithPath: previous))
        // the temporary name of the next checkpoint is taken by a directory: creating it fails
        let next = run + "/checkpoints/" + Checkpoint.fileName(step: 8)
        try FileManager.default.createDirectory(atPath: AtomicFile.temporaryPath(for: next), withIntermediateDirectories: false)
        let e = writeError { try Checkpoint.save(try contents(step: 8), runDirectory: run, keep: 1) }
        XCTAssertEqual(e?.file, next)
        XCTAssertEqual(e?.reason, "Is a directory")
        XCTAssertEqual(e?.latest, "ckpt-00000007.h5")
        XCTAssertTrue(e?.description.hasPrefix("cannot write checkpoint \(next): Is a directory; the previous checkpoint ckpt-00000007.h5 (what latest names) is untouched (HDF5 H5Fcreate failed") ?? false,
                      e?.description ?? "")
        XCTAssertFalse(e?.description.contains("\n") ?? true, "one line")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: previous)), before, "byte-identical")
        XCTAssertEqual(try Checkpoint.resolve(run), previous)
        let (f, header) = try Checkpoint.open(previous)
        XCTAssertEqual(header.step, 7)
        try f.close()
        XCTAssertFalse(FileManager.default.fileExists(atPath: next))
    }

    func testUncreatableCheckpointDirectory() throws {
        let run = (directory as NSString).appendingPathComponent("run")
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: false)
        XCTAssertTrue(FileManager.default.createFile(atPath: run + "/checkpoints", contents: Data("x".utf8)))
        let e = writeError { try Checkpoint.save(try contents(step: 1), runDirectory: run, keep: 1) }
        XCTAssertEqual(e?.file, run + "/checkpoints/ckpt-00000001.h5")
        XCTAssertNil(e?.latest)
        XCTAssertTrue(e?.description.contains("there is no previous checkpoint") ?? false, e?.description ?? "")
        XCTAssertNotNil(e?.reason, e?.description ?? "")
    }

    func testSystemReasonFromEachSource() {
        let hdf5 = HDF5Error(call: "H5Fcreate", filePath: "x", objectPath: "/", message: "unable to create file (unable to open file: name = 'x', errno = 30, error message = 'Read-only file system', flags = 13)")
        XCTAssertEqual(CheckpointWriteError(file: "f", cause: hdf5, latest: nil).reason, "Read-only file system")
        XCTAssertEqual(CheckpointWriteError(file: "f", cause: AtomicFileError.systemCall(call: "fsync", path: "f", errno: ENOSPC), latest: nil).reason,
                       "No space left on device")
        let posix = NSError(domain: NSPOSIXErrorDomain, code: Int(EACCES))
        let wrapped = NSError(domain: NSCocoaErrorDomain, code: 513, userInfo: [NSUnderlyingErrorKey: posix])
        XCTAssertEqual(CheckpointWriteError(file: "f", cause: wrapped, latest: nil).reason, "Permission denied")
        let other = CheckpointWriteError(file: "f", cause: CheckpointError(file: "f", item: "x", "broken"), latest: "ckpt-00000001.h5")
        XCTAssertNil(other.reason)
        XCTAssertEqual(other.description, "cannot write checkpoint f: checkpoint f: x: broken; the previous checkpoint ckpt-00000001.h5 (what latest names) is untouched")
    }
}
