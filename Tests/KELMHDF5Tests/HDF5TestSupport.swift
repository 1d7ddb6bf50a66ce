import Foundation
import XCTest
import KELMHDF5

extension XCTestCase {
    /// A path for an HDF5 file in a fresh temporary directory that is removed after the test.
    func temporaryFilePath(_ name: String = "test.h5") throws -> String {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("kelm-hdf5-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        addTeardownBlock { try FileManager.default.removeItem(at: directory) }
        return directory.appendingPathComponent(name).path
    }

    /// Asserts that `body` throws an `HDF5Error` of `kind` naming `call` and `objectPath`, whose
    /// message contains `messageContains`; returns the error for further checks.
    @discardableResult
    func assertHDF5Error<T>(_ kind: HDF5Error.Kind, call: String, objectPath: String, messageContains: String = "",
                            file: StaticString = #filePath, line: UInt = #line,
                            _ body: () throws -> T) -> HDF5Error? {
        do {
            _ = try body()
            XCTFail("expected \(call) to fail with \(kind) for \(objectPath)", file: file, line: line)
            return nil
        } catch let error as HDF5Error {
            XCTAssertEqual(error.kind, kind, "\(error)", file: file, line: line)
            XCTAssertEqual(error.call, call, "\(error)", file: file, line: line)
            XCTAssertEqual(error.objectPath, objectPath, "\(error)", file: file, line: line)
            XCTAssertFalse(error.message.isEmpty, "\(error)", file: file, line: line)
            if !messageContains.isEmpty {
                XCTAssertTrue(error.message.contains(messageContains),
                              "message of \(error) should contain \(messageContains)", file: file, line: line)
            }
            XCTAssertTrue(error.description.hasPrefix("HDF5 \(call) failed for \(objectPath) in \(error.filePath): "),
                          error.description, file: file, line: line)
            return error
        } catch {
            XCTFail("expected an HDF5Error, got \(error)", file: file, line: line)
            return nil
        }
    }
}
