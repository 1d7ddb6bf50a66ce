import Foundation
#if canImport(Glibc)
import Glibc
#endif
import KELMFiles
import XCTest

/// Files are replaced whole or not at all, and every failure names the path and the call.
final class AtomicFileTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kelm-files-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(atPath: directory)
    }

    func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    func testReplacesTheFileWhole() throws {
        let file = path("a.txt")
        try AtomicFile.write(file, data: Data("first\n".utf8))
        try AtomicFile.write(file, data: Data("second\n".utf8))
        XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8), "second\n")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["a.txt"], "no temporary file left")
        try AtomicFile.write(file, data: Data())
        XCTAssertEqual(FileManager.default.contents(atPath: file), Data(), "an empty file is a file")
    }

    func testAFailedWriterLeavesTheOldFileAndNoTemporary() throws {
        let file = path("a.txt")
        try AtomicFile.write(file, data: Data("kept\n".utf8))
        struct Stop: Error {}
        XCTAssertThrowsError(try AtomicFile.write(file) { tmp in
            try AtomicFile.writeAll(Data("half".utf8), to: tmp)
            throw Stop()
        }) { XCTAssertTrue($0 is Stop) }
        XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8), "kept\n")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["a.txt"])
    }

    func testFailuresNameThePathAndTheCall() {
        let missing = path("none/a.txt")
        XCTAssertThrowsError(try AtomicFile.write(missing, data: Data("x".utf8))) { e in
            XCTAssertEqual(e as? AtomicFileError, .systemCall(call: "open", path: missing + ".tmp", errno: ENOENT))
            XCTAssertEqual("\(e)", "\(missing).tmp: open failed: No such file or directory")
        }
        // a device that is always full: the write's reason, not a raw Foundation error
        let fd = open("/dev/full", O_WRONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        XCTAssertThrowsError(try AtomicFile.appendAll(Data(repeating: 7, count: 100), fd: fd, path: "/dev/full")) { e in
            XCTAssertEqual("\(e)", "/dev/full: write failed: No space left on device")
        }
        XCTAssertThrowsError(try AtomicFile.fsync(path: missing)) { e in
            XCTAssertEqual(e as? AtomicFileError, .systemCall(call: "open", path: missing, errno: ENOENT))
        }
    }
}
