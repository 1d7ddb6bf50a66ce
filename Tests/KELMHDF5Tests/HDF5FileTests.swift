import Foundation
import XCTest
import KELMHDF5

final class HDF5FileTests: XCTestCase {
    func testCreateWriteCloseAndReopen() throws {
        let path = try temporaryFilePath("ckpt.h5")
        let file = try HDF5File.create(path)
        XCTAssertEqual(file.filePath, path)
        XCTAssertEqual(file.objectPath, "/")
        XCTAssertTrue(file.isOpen)
        try file.writeDataset("x", [1, 2, 3] as [Float])
        try file.setAttribute("format", "kelm-dist-checkpoint")
        try file.flush()
        try file.close()
        XCTAssertFalse(file.isOpen)
        try file.close()  // closing twice does nothing

        let reopened = try HDF5File.open(path)
        XCTAssertEqual(try reopened.withDataset("x") { try $0.readFloats() }, [1, 2, 3])
        XCTAssertEqual(try reopened.stringAttribute("format"), "kelm-dist-checkpoint")
        try reopened.close()
    }

    func testCreateReplacesAnExistingFileUnlessToldNotTo() throws {
        let path = try temporaryFilePath()
        let first = try HDF5File.create(path)
        try first.writeDataset("old", [1] as [Int32])
        try first.close()

        assertHDF5Error(.library, call: "H5Fcreate", objectPath: "/", messageContains: "File exists") {
            try HDF5File.create(path, overwrite: false)
        }

        let second = try HDF5File.create(path)
        XCTAssertEqual(try second.memberNames(), [])
        try second.close()
    }

    func testOpeningAMissingFileFails() throws {
        let path = try temporaryFilePath("missing.h5")
        let error = assertHDF5Error(.library, call: "H5Fopen", objectPath: "/", messageContains: "unable to open file") {
            try HDF5File.open(path)
        }
        XCTAssertEqual(error?.filePath, path)
        XCTAssertEqual(error?.description.hasPrefix("HDF5 H5Fopen failed for / in \(path): "), true)
    }

    func testOpeningAFileThatIsNotHDF5Fails() throws {
        let path = try temporaryFilePath("notes.txt")
        try "not HDF5".write(toFile: path, atomically: true, encoding: .utf8)
        assertHDF5Error(.library, call: "H5Fopen", objectPath: "/") { try HDF5File.open(path, mode: .readWrite) }
    }

    func testReadOnlyFileRefusesWrites() throws {
        let path = try temporaryFilePath()
        try HDF5File.create(path).close()
        let file = try HDF5File.open(path, mode: .readOnly)
        assertHDF5Error(.library, call: "H5Dcreate2", objectPath: "/x", messageContains: "no write intent") {
            try file.writeDataset("x", [1] as [Float])
        }
        try file.close()

        let writable = try HDF5File.open(path, mode: .readWrite)
        try writable.writeDataset("x", [1] as [Float])
        try writable.close()
    }

    func testCloseRefusesWhileObjectsAreOpenAndNamesThem() throws {
        let path = try temporaryFilePath()
        let file = try HDF5File.create(path)
        let group = try file.createGroup("params/lm")
        let dataset = try group.createDataset("w", type: .float32, shape: [2])
        let attribute = try dataset.createAttribute("scale", type: .float64)

        let error = assertHDF5Error(.objectsStillOpen, call: "H5Fclose", objectPath: "/") { try file.close() }
        XCTAssertEqual(error?.message.contains("group /params/lm"), true, "\(String(describing: error))")
        XCTAssertEqual(error?.message.contains("dataset /params/lm/w"), true, "\(String(describing: error))")
        XCTAssertEqual(error?.message.contains("attribute of /params/lm/w"), true, "\(String(describing: error))")
        XCTAssertTrue(file.isOpen)

        try attribute.close()
        try dataset.close()
        try group.close()
        try file.close()
        XCTAssertFalse(file.isOpen)
    }

    func testUsingAClosedHandleFails() throws {
        let path = try temporaryFilePath()
        let file = try HDF5File.create(path)
        let group = try file.createGroup("g")
        try group.close()
        assertHDF5Error(.library, call: "H5Gcreate2", objectPath: "/g/h") { try group.createGroup("h") }
        try file.close()
        assertHDF5Error(.library, call: "H5Gopen2", objectPath: "/g") { try file.openGroup("g") }
    }

    func testHandlesDroppedWithoutCloseAreClosedByDeinit() throws {
        let path = try temporaryFilePath()
        let file = try HDF5File.create(path)
        func leakDataset() throws {
            let dataset = try file.createDataset("x", type: .int64, shape: [1])
            try dataset.write([7] as [Int64])
        }
        try leakDataset()
        try file.close()  // would fail with .objectsStillOpen if the dataset were still open

        let reopened = try HDF5File.open(path)
        XCTAssertEqual(try reopened.withDataset("x") { try $0.readInt64() }, 7)
        try reopened.close()
    }

    func testAFileDroppedBeforeItsForgottenHandlesIsStillClosedFully() throws {
        let path = try temporaryFilePath()
        func dropFileFirst() throws {
            var file: HDF5File? = try HDF5File.create(path)
            let group = try file?.createGroup("g")
            let attribute = try group?.createAttribute("a", type: .int64)
            file = nil  // the open group and attribute keep the file object alive
            XCTAssertEqual(group?.isOpen, true)
            XCTAssertEqual(attribute?.isOpen, true)
        }
        try dropFileFirst()
        // Truncating a file that HDF5 still has open would fail.
        let again = try HDF5File.create(path)
        XCTAssertEqual(try again.memberNames(), [])
        try again.close()
    }
}
