import Foundation
#if canImport(Glibc)
import Glibc
#endif
import XCTest

/// Who may write where (issue 20): one job per run directory, no new run over an old one, no
/// export over its own input, and the option combinations that used to be ignored silently.
/// (Two real jobs at random offsets: Tests/reliability/run-reliability-tests.sh, check 10.)
final class RunDirectoryCommandTests: XCTestCase {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized
    static let tinyConfig = repository.appendingPathComponent("configs/tiny.yaml").path
    static let limit = 120
    var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kelm-run-dir-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(atPath: directory)
    }

    func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    /// A finished 3-step run in `name`.
    func trained(_ name: String, steps: Int = 3) throws -> String {
        let out = path(name)
        let r = try CommandRunner.run(["train", "--config", Self.tinyConfig, "--set", "data.path=synthetic", "--set", "train.steps=\(steps)",
                                       "--out", out], timeout: Self.limit)
        XCTAssertEqual(r.status, 0, r.stderr)
        return out
    }

    func contents(_ file: String) -> Data? { FileManager.default.contents(atPath: file) }

    func errorLine(_ r: CommandRunner.Result) -> String {
        r.stderr.split(separator: "\n").filter { $0.hasPrefix("Error: ") }.joined(separator: "\n")
    }

    func testANewRunIntoAnotherRunsDirectoryIsRefused() throws {
        let run = try trained("run")
        let metrics = contents(run + "/metrics.jsonl"), config = contents(run + "/config.yaml")
        let r = try CommandRunner.run(["train", "--config", Self.tinyConfig, "--set", "data.path=synthetic", "--set", "train.steps=2",
                                       "--out", run], timeout: Self.limit)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertEqual(errorLine(r), "Error: run directory \(run) already holds a run (config.yaml, metrics.jsonl, checkpoints): --resume \(run) continues it; for a new run give another --out (or remove the directory)")
        XCTAssertEqual(contents(run + "/metrics.jsonl"), metrics)
        XCTAssertEqual(contents(run + "/config.yaml"), config)
        // an empty checkpoints/ (a mount point made ready for the job) is no run
        let prepared = path("prepared")
        try FileManager.default.createDirectory(atPath: prepared + "/checkpoints", withIntermediateDirectories: true)
        let fresh = try CommandRunner.run(["train", "--config", Self.tinyConfig, "--set", "data.path=synthetic", "--set", "train.steps=1",
                                           "--out", prepared], timeout: Self.limit)
        XCTAssertEqual(fresh.status, 0, fresh.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: prepared + "/checkpoints/ckpt-00000001.h5"))
    }

    /// The lock held by another process (here this one, as a job would hold it): a second job is
    /// refused naming the owner; once released (the owner gone), --resume works.
    func testADirectoryInUseIsRefusedNamingTheOwner() throws {
        let run = try trained("run", steps: 2)
        let lockPath = run + "/.kelm-dist.lock"
        XCTAssertTrue(FileManager.default.fileExists(atPath: lockPath), "the lock file stays (see RunDirectoryLock.release)")
        let fd = open(lockPath, O_RDWR)
        XCTAssertGreaterThanOrEqual(fd, 0)
        XCTAssertEqual(flock(fd, LOCK_EX | LOCK_NB), 0, "the finished job released its lock")
        let owner = "pid 4242 on host elsewhere, started 2026-12-07T00:00:00Z\n"
        XCTAssertEqual(ftruncate(fd, 0), 0)
        XCTAssertEqual(owner.withCString { pwrite(fd, $0, strlen($0), 0) }, owner.utf8.count)
        let resumeArguments = ["train", "--config", Self.tinyConfig, "--set", "data.path=synthetic", "--set", "train.steps=3",
                               "--resume", run, "--out", run]
        let refused = try CommandRunner.run(resumeArguments, timeout: Self.limit)
        XCTAssertEqual(refused.status, 1, refused.stderr)
        XCTAssertEqual(errorLine(refused), "Error: run directory \(run) is in use by another job (pid 4242 on host elsewhere, started 2026-12-07T00:00:00Z); wait for it to end, or give another --out")
        XCTAssertFalse(FileManager.default.fileExists(atPath: run + "/checkpoints/ckpt-00000003.h5"))
        close(fd)  // the owner is gone
        let resumed = try CommandRunner.run(resumeArguments, timeout: Self.limit)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: run + "/checkpoints/ckpt-00000003.h5"))
        let records = String(decoding: contents(run + "/metrics.jsonl") ?? Data(), as: UTF8.self).split(separator: "\n")
        XCTAssertEqual(records.count, 3, "steps 0, 1 of the first job and 2 of the resumed one")
    }

    func testAFileAsRunDirectoryIsRefused() throws {
        let file = path("plain")
        try "x".write(toFile: file, atomically: false, encoding: .utf8)
        let r = try CommandRunner.run(["train", "--config", Self.tinyConfig, "--set", "data.path=synthetic", "--set", "train.steps=1",
                                       "--out", file], timeout: Self.limit)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertEqual(errorLine(r), "Error: \(file): --out names a file; expected a run directory (created if missing)")
    }

    /// `export x.h5 --out x.h5` used to replace the checkpoint by a weights-only file.
    func testExportRefusesToWriteOverItsInput() throws {
        let run = try trained("run", steps: 2)
        let checkpoint = run + "/checkpoints/ckpt-00000002.h5"
        let original = try XCTUnwrap(contents(checkpoint))
        let symlink = path("link.h5"), hardlink = path("hard.h5")
        try FileManager.default.createSymbolicLink(atPath: symlink, withDestinationPath: checkpoint)
        XCTAssertEqual(link(checkpoint, hardlink), 0)
        let cases: [(String, [String])] = [
            ("itself", ["export", checkpoint, "--out", checkpoint]),
            ("through a symbolic link", ["export", checkpoint, "--out", symlink]),
            ("through a hard link", ["export", hardlink, "--out", checkpoint]),
            ("the run directory's latest", ["export", run, "--out", checkpoint]),
            ("a Hugging Face folder onto it", ["export", checkpoint, "--format", "hf", "--out", symlink]),
        ]
        for (label, arguments) in cases {
            let r = try CommandRunner.run(arguments, timeout: Self.limit)
            XCTAssertEqual(r.status, 1, "\(label): \(r.stderr)")
            XCTAssertTrue(errorLine(r).contains("is the checkpoint being exported"), "\(label): \(r.stderr)")
            XCTAssertEqual(contents(checkpoint), original, label)
        }
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: symlink), checkpoint)
        // a copy is another file: exported over, through a temporary file and a rename
        let copy = path("copy.h5")
        try FileManager.default.copyItem(atPath: checkpoint, toPath: copy)
        let r = try CommandRunner.run(["export", checkpoint, "--out", copy], timeout: Self.limit)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertNotEqual(contents(copy), original)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory).sorted(), ["copy.h5", "hard.h5", "link.h5", "run"])
    }

    func testInitFromWithResumeIsRefused() throws {
        let run = try trained("run", steps: 1)
        let r = try CommandRunner.run(["train", "--config", Self.tinyConfig, "--set", "data.path=synthetic", "--set", "train.steps=2",
                                       "--resume", run, "--init-from", run, "--out", run], timeout: Self.limit)
        XCTAssertEqual(r.status, 64, "a usage error (EX_USAGE), before anything starts: \(r.stderr)")
        XCTAssertTrue(errorLine(r).contains("--init-from and --resume together"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: run + "/checkpoints/ckpt-00000002.h5"))
    }

    /// A requeued job whose run had finished: a notice, nothing trained, nothing written (the
    /// checkpoint past `train.steps` used to be rewritten).
    func testResumingPastTheLastStepWritesNothing() throws {
        let run = try trained("run")
        let before = try FileManager.default.contentsOfDirectory(atPath: run + "/checkpoints").sorted()
        let checkpoint = contents(run + "/checkpoints/ckpt-00000003.h5"), metrics = contents(run + "/metrics.jsonl")
        for steps in [3, 2] {
            let r = try CommandRunner.run(["train", "--config", Self.tinyConfig, "--set", "data.path=synthetic", "--set", "train.steps=\(steps)",
                                           "--resume", run, "--out", run], timeout: Self.limit)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stderr.contains("is at step 3, train.steps is \(steps): nothing to train"), r.stderr)
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: run + "/checkpoints").sorted(), before)
            XCTAssertEqual(contents(run + "/checkpoints/ckpt-00000003.h5"), checkpoint)
            XCTAssertEqual(contents(run + "/metrics.jsonl"), metrics)
        }
        // into a new directory: not even the directory is made
        let elsewhere = path("elsewhere")
        let r = try CommandRunner.run(["train", "--config", Self.tinyConfig, "--set", "data.path=synthetic", "--set", "train.steps=3",
                                       "--resume", run, "--out", elsewhere], timeout: Self.limit)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: elsewhere))
    }

    /// `train.steps` beyond 2³² on the progress line (it printed `step 1/2` for 4294967298).
    func testProgressLineShowsLargeStepCounts() throws {
        let r = try CommandRunner.run(["train", "--config", Self.tinyConfig, "--set", "data.path=synthetic", "--set", "train.steps=4294967298",
                                       "--set", "log.every=1", "--set", "checkpoint.every=0", "--out", path("long")],
                                      timeout: 8)
        XCTAssertEqual(r.status, CommandRunner.timedOutStatus, "stopped by the timeout, as meant")
        XCTAssertTrue(r.stderr.contains("step 1/4294967298"), String(r.stderr.suffix(800)))
    }
}
