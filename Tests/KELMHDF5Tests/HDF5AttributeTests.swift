import Foundation
import XCTest
import KELMHDF5

final class HDF5AttributeTests: XCTestCase {
    private var path: String!
    private var file: HDF5File!

    override func setUpWithError() throws {
        let path = try temporaryFilePath("attrs.h5")
        let file = try HDF5File.create(path)
        addTeardownBlock { try file.close() }  // runs before the directory is removed
        self.path = path
        self.file = file
    }

    /// Sets one attribute of every kind on `object`.
    private func setEveryKind(on object: HDF5Object) throws {
        try object.setAttribute("step", 1234)
        try object.setAttribute("samples_seen", Int64(1) << 40)
        try object.setAttribute("momentum", 0.9)
        try object.setAttribute("format", "kelm-dist-checkpoint")
        try object.setAttribute("config", "{\"name\": \"Größe\"}")
        try object.setAttribute("scales", [0.5, -1.25] as [Float])
        try object.setAttribute("ids", [7, -8] as [Int32])
        try object.setAttribute("counts", [Int64.max, 0] as [Int64])
        try object.setAttribute("offsets", [3, 4, 5])
        try object.setAttribute("lrs", [1e-4, 5e-5] as [Double])
        try object.setAttribute("names", ["bert", "gnn"])
        try object.setAttribute("none", [Float]())
    }

    /// Checks the attributes written by `setEveryKind`.
    private func checkEveryKind(on object: HDF5Object, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(try object.attributeNames(),
                       ["config", "counts", "format", "ids", "lrs", "momentum", "names", "none", "offsets",
                        "samples_seen", "scales", "step"], file: file, line: line)
        XCTAssertEqual(try object.intAttribute("step"), 1234, file: file, line: line)
        XCTAssertEqual(try object.int64Attribute("samples_seen"), Int64(1) << 40, file: file, line: line)
        XCTAssertEqual(try object.doubleAttribute("momentum"), 0.9, file: file, line: line)
        XCTAssertEqual(try object.stringAttribute("format"), "kelm-dist-checkpoint", file: file, line: line)
        XCTAssertEqual(try object.stringAttribute("config"), "{\"name\": \"Größe\"}", file: file, line: line)
        XCTAssertEqual(try object.floatArrayAttribute("scales"), [0.5, -1.25], file: file, line: line)
        XCTAssertEqual(try object.doubleArrayAttribute("scales"), [0.5, -1.25], file: file, line: line)
        XCTAssertEqual(try object.int32ArrayAttribute("ids"), [7, -8], file: file, line: line)
        XCTAssertEqual(try object.int64ArrayAttribute("ids"), [7, -8], file: file, line: line)
        XCTAssertEqual(try object.int64ArrayAttribute("counts"), [Int64.max, 0], file: file, line: line)
        XCTAssertEqual(try object.int64ArrayAttribute("offsets"), [3, 4, 5], file: file, line: line)
        XCTAssertEqual(try object.doubleArrayAttribute("lrs"), [1e-4, 5e-5], file: file, line: line)
        XCTAssertEqual(try object.stringArrayAttribute("names"), ["bert", "gnn"], file: file, line: line)
        XCTAssertEqual(try object.floatArrayAttribute("none"), [], file: file, line: line)
        try object.withAttribute("step") { attribute in
            XCTAssertEqual(attribute.name, "step", file: file, line: line)
            XCTAssertEqual(attribute.ownerPath, object.objectPath, file: file, line: line)
            XCTAssertEqual(try attribute.shape(), [], file: file, line: line)
            XCTAssertEqual(try attribute.elementKind(), .integer(bytes: 8, signed: true), file: file, line: line)
        }
        XCTAssertEqual(try object.withAttribute("momentum") { try $0.elementKind() }, .float(bytes: 8), file: file, line: line)
        XCTAssertEqual(try object.withAttribute("format") { try $0.elementKind() }, .string(variableLength: true), file: file, line: line)
        XCTAssertEqual(try object.withAttribute("scales") { try ($0.shape(), $0.elementKind()) }.0, [2], file: file, line: line)
        XCTAssertEqual(try object.withAttribute("ids") { try $0.elementKind() }, .integer(bytes: 4, signed: true), file: file, line: line)
        XCTAssertEqual(try object.withAttribute("names") { try $0.shape() }, [2], file: file, line: line)
    }

    func testEveryKindOnFileGroupAndDatasetSurvivesReopening() throws {
        try setEveryKind(on: file)
        let group = try file.createGroup("optimizer")
        try setEveryKind(on: group)
        try group.close()
        try file.writeDataset("memory/entity_context", [Float](repeating: 0, count: 6), shape: [3, 2])
        try file.withDataset("memory/entity_context") { try setEveryKind(on: $0) }
        try file.close()

        let reopened = try HDF5File.open(path)
        try checkEveryKind(on: reopened)
        try reopened.withGroup("optimizer") { try checkEveryKind(on: $0) }
        try reopened.withDataset("memory/entity_context") { try checkEveryKind(on: $0) }
        try reopened.close()
    }

    func testSettingAnAttributeAgainReplacesIt() throws {
        try file.setAttribute("value", 1)
        try file.setAttribute("value", "now a string")
        XCTAssertEqual(try file.stringAttribute("value"), "now a string")
        try file.setAttribute("value", [1.5, 2.5] as [Double])
        XCTAssertEqual(try file.doubleArrayAttribute("value"), [1.5, 2.5])
        XCTAssertEqual(try file.attributeNames(), ["value"])
    }

    func testExistenceAndDeletion() throws {
        XCTAssertFalse(try file.hasAttribute("step"))
        XCTAssertEqual(try file.attributeNames(), [])
        try file.setAttribute("step", 3)
        XCTAssertTrue(try file.hasAttribute("step"))
        try file.deleteAttribute("step")
        XCTAssertFalse(try file.hasAttribute("step"))
        assertHDF5Error(.library, call: "H5Adelete", objectPath: "/ attribute \"step\"") { try file.deleteAttribute("step") }
    }

    func testCreatedAttributesOfEveryStorageType() throws {
        let group = try file.createGroup("g")
        let half = try group.createAttribute("half", type: .float16, shape: [3])
        try half.write([0.1, 1, 1000] as [Float])
        XCTAssertEqual(try half.elementKind(), .float(bytes: 2))
        XCTAssertEqual(try half.readFloats(), [0.1, 1, 1000].map { Float(Float16($0)) })
        try half.close()
        try group.withAttribute("half") { attribute in
            XCTAssertEqual(try attribute.readDoubles(), [0.1, 1, 1000].map { Double(Float16($0)) })
        }
        let matrix = try group.createAttribute("matrix", type: .int32, shape: [2, 2])
        try matrix.write([1, 2, 3, 4] as [Int64])
        XCTAssertEqual(try matrix.shape(), [2, 2])
        XCTAssertEqual(try matrix.readInt32s(), [1, 2, 3, 4])
        try matrix.close()
        let text = try group.createAttribute("text", type: .string)
        try text.write(["scalar"])
        XCTAssertEqual(try text.readString(), "scalar")
        try text.close()
        let scalar = try group.createAttribute("loss", type: .float32)
        try scalar.write([2.5] as [Double])
        XCTAssertEqual(try scalar.readDouble(), 2.5)
        try scalar.close()
        try group.close()
    }

    func testOpeningAMissingAttributeFails() throws {
        try file.writeDataset("params/w", [1] as [Float])
        let error = assertHDF5Error(.library, call: "H5Aopen", objectPath: "/params/w attribute \"scale\"",
                                    messageContains: "can't locate attribute") {
            try file.withDataset("params/w") { try $0.doubleAttribute("scale") }
        }
        XCTAssertEqual(error?.description.hasPrefix("HDF5 H5Aopen failed for /params/w attribute \"scale\" in \(path!): "), true)
        assertHDF5Error(.library, call: "H5Aopen", objectPath: "/ attribute \"format\"") { try file.stringAttribute("format") }
    }

    func testReadingAttributesAsTheWrongKindOrCountFails() throws {
        try file.setAttribute("format", "kelm")
        try file.setAttribute("lrs", [1e-4, 5e-5] as [Double])
        try file.setAttribute("big", Int64.max)
        assertHDF5Error(.wrongElementKind, call: "H5Aread", objectPath: "/ attribute \"format\"",
                        messageContains: "the attribute holds variable-length string elements, which cannot be read as Int64") {
            try file.int64Attribute("format")
        }
        assertHDF5Error(.wrongElementKind, call: "H5Aread", objectPath: "/ attribute \"lrs\"") { try file.stringAttribute("lrs") }
        assertHDF5Error(.sizeMismatch, call: "H5Aread", objectPath: "/ attribute \"lrs\"",
                        messageContains: "expected a single value but the attribute has 2 elements") {
            try file.doubleAttribute("lrs")
        }
        assertHDF5Error(.outOfRange, call: "H5Aread", objectPath: "/ attribute \"big\"", messageContains: "does not fit in Int32") {
            try file.int32ArrayAttribute("big")
        }
        try file.withAttribute("lrs") { attribute in
            assertHDF5Error(.sizeMismatch, call: "H5Awrite", objectPath: "/ attribute \"lrs\"", messageContains: "3 values given") {
                try attribute.write([1, 2, 3] as [Double])
            }
            assertHDF5Error(.wrongElementKind, call: "H5Awrite", objectPath: "/ attribute \"lrs\"") {
                try attribute.write([1, 2] as [Int32])
            }
        }
    }
}
