import Foundation
import XCTest
import KELMHDF5

final class HDF5LocationTests: XCTestCase {
    private var file: HDF5File!

    override func setUpWithError() throws {
        let file = try HDF5File.create(try temporaryFilePath())
        addTeardownBlock { try file.close() }  // runs before the directory is removed
        self.file = file
    }

    func testLeafObjectsWalkEveryGroupInNameOrder() throws {
        for path in ["/params/b/weight", "/params/a/bias", "/memory", "/params/a/weight", "/z"] {
            try file.writeDataset(path, [Int32](repeating: 1, count: 2))
        }
        try file.createGroup("/empty").close()
        XCTAssertEqual(try file.leafObjects().map(\.path), ["/memory", "/params/a/bias", "/params/a/weight", "/params/b/weight", "/z"])
        XCTAssertTrue(try file.leafObjects().allSatisfy { $0.type == .dataset })
        XCTAssertEqual(try file.leafObjects(under: "/params/a").map(\.path), ["/params/a/bias", "/params/a/weight"])
        XCTAssertEqual(try file.leafObjects(under: "/empty").count, 0)
    }

    func testWritingADeepDatasetCreatesIntermediateGroups() throws {
        let path = "/params/lm/encoder/layer/0/attention/self/query/weight"
        try file.writeDataset(path, [Float](repeating: 0.5, count: 6), shape: [2, 3])

        var prefix = ""
        for component in path.split(separator: "/").dropLast() {
            prefix += "/" + component
            XCTAssertTrue(try file.exists(prefix), prefix)
            XCTAssertEqual(try file.objectType(prefix), .group, prefix)
        }
        XCTAssertTrue(try file.exists(path))
        XCTAssertEqual(try file.objectType(path), .dataset)
        try file.withDataset(path) { dataset in
            XCTAssertEqual(dataset.objectPath, path)
            XCTAssertEqual(try dataset.shape(), [2, 3])
        }
    }

    func testCreateGroupWithIntermediatesAndOpenItRelativeAndAbsolute() throws {
        let created = try file.createGroup("optimizer/exp_avg/lm")
        XCTAssertEqual(created.objectPath, "/optimizer/exp_avg/lm")
        try created.close()

        let optimizer = try file.openGroup("optimizer")
        XCTAssertEqual(optimizer.objectPath, "/optimizer")
        try optimizer.withGroup("exp_avg") { expAvg in
            XCTAssertEqual(expAvg.objectPath, "/optimizer/exp_avg")
            XCTAssertEqual(try expAvg.memberNames(), ["lm"])
            try expAvg.writeDataset("lm/bias", [1, 2] as [Float])
        }
        // An absolute path from a group starts at the file's root.
        try optimizer.withDataset("/optimizer/exp_avg/lm/bias") { dataset in
            XCTAssertEqual(dataset.objectPath, "/optimizer/exp_avg/lm/bias")
            XCTAssertEqual(try dataset.readFloats(), [1, 2])
        }
        XCTAssertTrue(try optimizer.exists("exp_avg/lm/bias"))
        XCTAssertTrue(try optimizer.exists("/optimizer/exp_avg"))
        try optimizer.close()
    }

    func testExistsIsFalseForMissingPathsWithoutThrowing() throws {
        try file.writeDataset("/params/w", [1] as [Float])
        XCTAssertTrue(try file.exists("/"))
        XCTAssertTrue(try file.exists(""))
        XCTAssertTrue(try file.exists("params"))
        XCTAssertTrue(try file.exists("params/w"))
        XCTAssertFalse(try file.exists("nope"))
        XCTAssertFalse(try file.exists("/nope/deeper/still"))
        XCTAssertFalse(try file.exists("params/x"))
        XCTAssertFalse(try file.exists("params/w/below-a-dataset"))
    }

    func testMemberNamesAreInNameOrder() throws {
        XCTAssertEqual(try file.memberNames(), [])
        try file.writeDataset("b", [1] as [Int32])
        try file.writeDataset("a", [1] as [Int32])
        try file.createGroup("c").close()
        try file.writeDataset("c/z", [1] as [Int32])
        try file.writeDataset("c/y", ["text"])
        try file.writeDataset("c/é", [1.5] as [Double])
        XCTAssertEqual(try file.memberNames(), ["a", "b", "c"])
        XCTAssertEqual(try file.withGroup("c") { try $0.memberNames() }, ["y", "z", "é"])
    }

    func testOpeningMissingGroupsAndDatasetsFails() throws {
        try file.writeDataset("params/w", [1] as [Float])
        assertHDF5Error(.library, call: "H5Gopen2", objectPath: "/optimizer", messageContains: "doesn't exist") {
            try file.openGroup("optimizer")
        }
        assertHDF5Error(.library, call: "H5Dopen2", objectPath: "/params/lm/x", messageContains: "unable to open dataset") {
            try file.openDataset("/params/lm/x")
        }
        try file.withGroup("params") { params in
            assertHDF5Error(.library, call: "H5Dopen2", objectPath: "/params/v", messageContains: "doesn't exist") {
                try params.openDataset("v")
            }
        }
        assertHDF5Error(.library, call: "H5Gopen2", objectPath: "/params/w", messageContains: "not a group") {
            try file.openGroup("params/w")
        }
        assertHDF5Error(.library, call: "H5Oget_info_by_name2", objectPath: "/nope") { try file.objectType("nope") }
    }

    func testCreatingAnExistingNameFails() throws {
        try file.createGroup("params").close()
        try file.writeDataset("params/w", [1] as [Float])
        assertHDF5Error(.library, call: "H5Gcreate2", objectPath: "/params", messageContains: "already exists") {
            try file.createGroup("params")
        }
        assertHDF5Error(.library, call: "H5Dcreate2", objectPath: "/params/w", messageContains: "already exists") {
            try file.writeDataset("params/w", [2] as [Float])
        }
        XCTAssertEqual(try file.withDataset("params/w") { try $0.readFloats() }, [1])
    }

    func testWriteDatasetChecksShapeAndTypeBeforeCreatingAnything() throws {
        assertHDF5Error(.sizeMismatch, call: "H5Dcreate2", objectPath: "/w", messageContains: "5 values given for shape [2, 3]") {
            try file.writeDataset("w", [Float](repeating: 0, count: 5), shape: [2, 3])
        }
        assertHDF5Error(.wrongElementKind, call: "H5Dcreate2", objectPath: "/w", messageContains: "cannot store Float values as int32") {
            try file.writeDataset("w", [1] as [Float], as: .int32)
        }
        assertHDF5Error(.wrongElementKind, call: "H5Dcreate2", objectPath: "/w", messageContains: "cannot store Int64 values as float32") {
            try file.writeDataset("w", [1] as [Int64], as: .float32)
        }
        assertHDF5Error(.invalidArgument, call: "H5Screate_simple", objectPath: "/w", messageContains: "negative dimension") {
            try file.createDataset("w", type: .float32, shape: [2, -1])
        }
        XCTAssertFalse(try file.exists("w"))
    }
}
