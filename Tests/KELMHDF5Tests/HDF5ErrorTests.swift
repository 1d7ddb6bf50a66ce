import Foundation
import XCTest
import KELMHDF5

final class HDF5ErrorTests: XCTestCase {
    func testDescriptionNamesCallObjectAndFile() {
        let error = HDF5Error(call: "H5Dopen2", filePath: "run/ckpt.h5", objectPath: "/params/lm/x",
                              message: "unable to open dataset (object 'x' doesn't exist)")
        XCTAssertEqual(error.kind, .library)
        XCTAssertEqual(error.description,
                       "HDF5 H5Dopen2 failed for /params/lm/x in run/ckpt.h5: unable to open dataset (object 'x' doesn't exist)")
        XCTAssertEqual(error.localizedDescription, error.description)
        XCTAssertEqual("\(error)", error.description)
    }

    func testLibraryFailureCarriesTheErrorStackMessage() throws {
        let path = try temporaryFilePath("ckpt.h5")
        let file = try HDF5File.create(path)
        let error = assertHDF5Error(.library, call: "H5Dopen2", objectPath: "/params/lm/x",
                                    messageContains: "unable to open dataset") {
            try file.openDataset("params/lm/x")
        }
        XCTAssertEqual(error?.filePath, path)
        XCTAssertEqual(error?.description,
                       "HDF5 H5Dopen2 failed for /params/lm/x in \(path): unable to open dataset (component not found)")
        try file.close()
    }

    func testFailuresDoNotPrintTheErrorStack() throws {
        let path = try temporaryFilePath()
        let file = try HDF5File.create(path)
        let printed = try capturingStandardError {
            assertHDF5Error(.library, call: "H5Gopen2", objectPath: "/missing") { try file.openGroup("missing") }
            assertHDF5Error(.library, call: "H5Fopen", objectPath: "/") { try HDF5File.open(path + ".missing") }
        }
        XCTAssertEqual(printed, "", "HDF5 printed its error stack")
        try file.close()
    }

    /// What `body` writes to the standard error stream (file descriptor 2).
    private func capturingStandardError(_ body: () throws -> Void) throws -> String {
        let capturePath = try temporaryFilePath("stderr.txt")
        XCTAssertTrue(FileManager.default.createFile(atPath: capturePath, contents: nil))
        let capture = try FileHandle(forWritingTo: URL(fileURLWithPath: capturePath))
        fflush(stderr)
        let saved = dup(2)
        XCTAssertGreaterThanOrEqual(saved, 0)
        dup2(capture.fileDescriptor, 2)
        defer {
            fflush(stderr)
            dup2(saved, 2)
            close(saved)
        }
        try body()
        fflush(stderr)
        try capture.close()
        return try String(contentsOfFile: capturePath, encoding: .utf8)
    }
}
