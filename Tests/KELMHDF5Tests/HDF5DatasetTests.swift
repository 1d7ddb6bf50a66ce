import CHDF5
import Foundation
import XCTest
import KELMHDF5

final class HDF5DatasetTests: XCTestCase {
    private var file: HDF5File!

    override func setUpWithError() throws {
        let file = try HDF5File.create(try temporaryFilePath())
        addTeardownBlock { try file.close() }  // runs before the directory is removed
        self.file = file
    }

    // MARK: Round trips

    func testFloat32RoundTripKeepsShapeAndValues() throws {
        let values: [Float] = (0..<24).map { Float($0) * 0.25 - 3 }
        try file.writeDataset("m", values, shape: [2, 3, 4])
        try file.withDataset("m") { dataset in
            XCTAssertEqual(try dataset.shape(), [2, 3, 4])
            XCTAssertEqual(try dataset.elementKind(), .float(bytes: 4))
            XCTAssertEqual(try dataset.readFloats(), values)
            XCTAssertEqual(try dataset.readDoubles(), values.map { Double($0) })
        }
    }

    func testFloat32FromABufferPointerAndIntoABufferPointer() throws {
        let values: [Float] = [1.5, -2, 3.25, 4, 5, 6]
        try values.withUnsafeBufferPointer { try file.writeDataset("w", $0, shape: [3, 2]) }
        var out = [Float](repeating: .nan, count: 6)
        try file.withDataset("w") { dataset in
            try out.withUnsafeMutableBufferPointer { try dataset.read(into: $0) }
        }
        XCTAssertEqual(out, values)

        // Into an existing dataset from a buffer.
        try file.withDataset("w") { dataset in
            try values.reversed().withUnsafeBufferPointer { try dataset.write($0) }
            XCTAssertEqual(try dataset.readFloats(), values.reversed())
        }
    }

    func testFloat16StoresHalfPrecisionAndRoundTripsWithinIt() throws {
        var generator = SplitMix64(seed: 42)
        let values: [Float] = (0..<1000).map { _ in
            let magnitude = Float(generator.nextUnit()) * 2000 - 1000
            return abs(magnitude) < 1e-3 ? 1 : magnitude
        } + [0.5, -0.25, 1, 65504, 6.103515625e-05]
        try file.writeDataset("h", values, shape: [values.count], as: .float16)
        let read = try file.withDataset("h") { dataset -> [Float] in
            XCTAssertEqual(try dataset.elementKind(), .float(bytes: 2))
            return try dataset.readFloats()
        }
        XCTAssertEqual(read.count, values.count)
        for (original, stored) in zip(values, read) {
            XCTAssertEqual(stored, Float(Float16(original)), "\(original)")
            XCTAssertLessThanOrEqual(abs(stored - original), abs(original) * 0x1p-11, "\(original)")
        }
        XCTAssertEqual(Array(read.suffix(5)), [0.5, -0.25, 1, 65504, 6.103515625e-05])
    }

    func testFloat16SpecialValues() throws {
        let values: [Float] = [1e-7, 70000, -.infinity, -0.0, .nan]
        try file.writeDataset("h", values, as: .float16)
        let read = try file.withDataset("h") { try $0.readFloats() }
        XCTAssertEqual(read[0], Float(Float16(1e-7)))  // a subnormal half
        XCTAssertGreaterThan(read[0], 0)
        XCTAssertEqual(read[1], .infinity)  // beyond the half range
        XCTAssertEqual(read[2], -.infinity)
        XCTAssertEqual(read[3], 0)
        XCTAssertEqual(read[3].sign, .minus)
        XCTAssertTrue(read[4].isNaN)
    }

    /// `Float16` values written and read unchanged (every bit pattern class: normal, subnormal,
    /// infinite, negative zero); into float32 storage they are widened; reading float32 storage
    /// as `Float16` would need rounding, so it is refused.
    func testFloat16ValuesWithoutConversion() throws {
        let halves: [Float16] = [1.5, -0x1p-24, 65504, -.infinity, -0.0, 0.1, 3.14]
        try halves.withUnsafeBufferPointer { try file.writeDataset("h16", $0, shape: [7]) }
        XCTAssertEqual(try file.withDataset("h16") { try $0.elementKind() }, .float(bytes: 2))
        var back = [Float16](repeating: .nan, count: 7)
        try file.withDataset("h16") { ds in try back.withUnsafeMutableBufferPointer { try ds.read(into: $0) } }
        XCTAssertEqual(back.map(\.bitPattern), halves.map(\.bitPattern))
        XCTAssertEqual(try file.withDataset("h16") { try $0.readFloats() }, halves.map { Float($0) })

        try halves.withUnsafeBufferPointer { try file.writeDataset("h32", $0, shape: [7], as: .float32) }
        XCTAssertEqual(try file.withDataset("h32") { try $0.elementKind() }, .float(bytes: 4))
        XCTAssertEqual(try file.withDataset("h32") { try $0.readFloats() }, halves.map { Float($0) })
        XCTAssertThrowsError(try file.withDataset("h32") { ds in try back.withUnsafeMutableBufferPointer { try ds.read(into: $0) } }) {
            XCTAssertEqual(($0 as? HDF5Error)?.kind, .wrongElementKind, "\($0)")
        }
        var short = [Float16](repeating: 0, count: 6)
        XCTAssertThrowsError(try file.withDataset("h16") { ds in try short.withUnsafeMutableBufferPointer { try ds.read(into: $0) } }) {
            XCTAssertEqual(($0 as? HDF5Error)?.kind, .sizeMismatch, "\($0)")
        }
    }

    func testFloat16FromDoublesAndIntoADatasetCreatedFirst() throws {
        try file.writeDataset("d", [0.1, 0.2, 0.3] as [Double], as: .float16)
        XCTAssertEqual(try file.withDataset("d") { try $0.readDoubles() },
                       [0.1, 0.2, 0.3].map { Double(Float16($0)) })
        let created = try file.createDataset("c", type: .float16, shape: [2, 2])
        try created.write([1, 2, 3, 4] as [Float])
        XCTAssertEqual(try created.readFloats(rows: 1..<2), [3, 4])
        try created.close()
    }

    func testFloat64RoundTripAndConversionToFloat() throws {
        let values: [Double] = [1.0 / 3.0, -2.5e-300, 1e300, 7]
        try file.writeDataset("d", values)
        try file.withDataset("d") { dataset in
            XCTAssertEqual(try dataset.elementKind(), .float(bytes: 8))
            XCTAssertEqual(try dataset.readDoubles(), values)
            let floats = try dataset.readFloats()
            XCTAssertEqual(floats[0], Float(1.0 / 3.0))
            XCTAssertEqual(floats[3], 7)
        }
        try file.writeDataset("f", [0.5, 0.25] as [Double], as: .float32)
        XCTAssertEqual(try file.withDataset("f") { try $0.elementKind() }, .float(bytes: 4))
    }

    func testInt32AndInt64RoundTrips() throws {
        let int32s: [Int32] = [.min, -1, 0, 1, .max, 5]
        let int64s: [Int64] = [.min, -1, 0, 1, .max, 1 << 40]
        try file.writeDataset("i32", int32s, shape: [3, 2])
        try file.writeDataset("i64", int64s, shape: [2, 3])
        try file.writeDataset("ints", [1, -2, 3])  // [Int] literal: int64
        try file.withDataset("i32") { dataset in
            XCTAssertEqual(try dataset.elementKind(), .integer(bytes: 4, signed: true))
            XCTAssertEqual(try dataset.shape(), [3, 2])
            XCTAssertEqual(try dataset.readInt32s(), int32s)
            XCTAssertEqual(try dataset.readInt64s(), int32s.map { Int64($0) })
        }
        try file.withDataset("i64") { dataset in
            XCTAssertEqual(try dataset.elementKind(), .integer(bytes: 8, signed: true))
            XCTAssertEqual(try dataset.readInt64s(), int64s)
        }
        XCTAssertEqual(try file.withDataset("ints") { try $0.readInt32s() }, [1, -2, 3])
    }

    func testIntegersAreNeverClippedSilently() throws {
        try file.writeDataset("small", [1, -7, 1 << 31 - 1] as [Int64])  // int64 holding values that fit Int32
        XCTAssertEqual(try file.withDataset("small") { try $0.readInt32s() }, [1, -7, .max])

        try file.writeDataset("big", [1, 1 << 31] as [Int64])
        assertHDF5Error(.outOfRange, call: "H5Dread", objectPath: "/big", messageContains: "2147483648 does not fit in Int32") {
            try file.withDataset("big") { try $0.readInt32s() }
        }
        assertHDF5Error(.outOfRange, call: "H5Dwrite", objectPath: "/narrow", messageContains: "-2147483649") {
            try file.writeDataset("narrow", [0, -(1 << 31) - 1] as [Int64], as: .int32)
        }
    }

    func testScalarDatasets() throws {
        try file.writeDataset("f", [2.5] as [Float], shape: [])
        try file.writeDataset("i", [Int64(42)], shape: [])
        try file.writeDataset("s", ["kelm"], shape: [])
        try file.withDataset("f") { dataset in
            XCTAssertEqual(try dataset.shape(), [])
            XCTAssertEqual(try dataset.readFloats(), [2.5])
            XCTAssertEqual(try dataset.readDouble(), 2.5)
        }
        XCTAssertEqual(try file.withDataset("i") { try $0.readInt64() }, 42)
        XCTAssertEqual(try file.withDataset("s") { try $0.shape() }, [])
        XCTAssertEqual(try file.withDataset("s") { try $0.readString() }, "kelm")
        assertHDF5Error(.sizeMismatch, call: "H5Dread", objectPath: "/two", messageContains: "single value") {
            try file.writeDataset("two", [1, 2] as [Int64])
            return try file.withDataset("two") { try $0.readInt64() }
        }
    }

    func testEmptyDatasets() throws {
        try file.writeDataset("e", [Float](), shape: [0, 3])
        try file.writeDataset("s", [String]())
        try file.withDataset("e") { dataset in
            XCTAssertEqual(try dataset.shape(), [0, 3])
            XCTAssertEqual(try dataset.readFloats(), [])
            XCTAssertEqual(try dataset.readFloats(rows: 0..<0), [])
        }
        XCTAssertEqual(try file.withDataset("s") { try $0.readStrings() }, [])
    }

    func testVariableLengthStringsRoundTrip() throws {
        let values = ["[CLS]", "", "Größe ≥ 2 🙂", "dog.n.01", "a b  "]
        try file.writeDataset("/vocab/tokens", values, shape: [5])
        try file.writeDataset("grid", ["a", "b", "c", "d"], shape: [2, 2])
        try file.withDataset("/vocab/tokens") { dataset in
            XCTAssertEqual(try dataset.elementKind(), .string(variableLength: true))
            XCTAssertEqual(try dataset.readStrings(), values)
        }
        try file.withDataset("grid") { dataset in
            XCTAssertEqual(try dataset.shape(), [2, 2])
            XCTAssertEqual(try dataset.readStrings(), ["a", "b", "c", "d"])
        }
    }

    func testFixedLengthStringsAsOtherToolsWriteThem() throws {
        let fixedPath = try temporaryFilePath("fixed.h5")
        try writeFixedLengthStrings(fixedPath, [
            ("nullpad", ["ab", "cde", ""], 5, H5T_STR_NULLPAD, H5T_CSET_ASCII),
            ("nullterm", ["ab", "cdef"], 5, H5T_STR_NULLTERM, H5T_CSET_ASCII),
            ("spacepad", ["ab", "cdefg", " x"], 5, H5T_STR_SPACEPAD, H5T_CSET_ASCII),
            ("utf8", ["é", "ß"], 4, H5T_STR_NULLPAD, H5T_CSET_UTF8),
        ])
        let fixed = try HDF5File.open(fixedPath, mode: .readWrite)
        try fixed.withDataset("nullpad") { dataset in
            XCTAssertEqual(try dataset.elementKind(), .string(variableLength: false))
            XCTAssertEqual(try dataset.readStrings(), ["ab", "cde", ""])
        }
        XCTAssertEqual(try fixed.withDataset("nullterm") { try $0.readStrings() }, ["ab", "cdef"])
        XCTAssertEqual(try fixed.withDataset("spacepad") { try $0.readStrings() }, ["ab", "cdefg", " x"])
        XCTAssertEqual(try fixed.withDataset("utf8") { try $0.readStrings() }, ["é", "ß"])
        assertHDF5Error(.wrongElementKind, call: "H5Dwrite", objectPath: "/nullpad", messageContains: "fixed-length string") {
            try fixed.withDataset("nullpad") { try $0.write(["x", "y", "z"]) }
        }
        try fixed.close()
    }

    // MARK: Rows (hyperslabs)

    func testReadingRowsOfA2DDataset() throws {
        let values: [Float] = (0..<20).map { Float($0) }
        try file.writeDataset("m", values, shape: [5, 4])
        try file.writeDataset("h", values, shape: [5, 4], as: .float16)
        try file.writeDataset("i32", values.map { Int32($0) }, shape: [5, 4])
        try file.writeDataset("i64", values.map { Int64($0) }, shape: [5, 4])
        try file.withDataset("m") { dataset in
            XCTAssertEqual(try dataset.readFloats(rows: 0..<1), [0, 1, 2, 3])
            XCTAssertEqual(try dataset.readFloats(rows: 2..<4), [8, 9, 10, 11, 12, 13, 14, 15])
            XCTAssertEqual(try dataset.readFloats(rows: 0..<5), values)
            XCTAssertEqual(try dataset.readFloats(rows: 5..<5), [])
            var buffer = [Float](repeating: -1, count: 4)
            try buffer.withUnsafeMutableBufferPointer { try dataset.read(rows: 4..<5, into: $0) }
            XCTAssertEqual(buffer, [16, 17, 18, 19])
        }
        XCTAssertEqual(try file.withDataset("h") { try $0.readFloats(rows: 1..<2) }, [4, 5, 6, 7])
        XCTAssertEqual(try file.withDataset("i32") { try $0.readInt32s(rows: 3..<5) }, [12, 13, 14, 15, 16, 17, 18, 19])
        XCTAssertEqual(try file.withDataset("i64") { try $0.readInt64s(rows: 1..<3) }, [4, 5, 6, 7, 8, 9, 10, 11])
        XCTAssertEqual(try file.withDataset("i64") { try $0.readInt32s(rows: 4..<5) }, [16, 17, 18, 19])
    }

    func testReadingRowsOf1DAnd3DDatasets() throws {
        try file.writeDataset("tokens", (0..<10).map { Int32($0 * 10) })
        XCTAssertEqual(try file.withDataset("tokens") { try $0.readInt32s(rows: 3..<6) }, [30, 40, 50])
        try file.writeDataset("cube", (0..<12).map { Float($0) }, shape: [3, 2, 2])
        XCTAssertEqual(try file.withDataset("cube") { try $0.readFloats(rows: 1..<2) }, [4, 5, 6, 7])
    }

    func testRowRangesOutsideTheDatasetFail() throws {
        try file.writeDataset("m", [Float](repeating: 1, count: 8), shape: [4, 2])
        try file.writeDataset("scalar", [1] as [Float], shape: [])
        try file.withDataset("m") { dataset in
            assertHDF5Error(.outOfRange, call: "H5Sselect_hyperslab", objectPath: "/m",
                            messageContains: "rows 3..<5 are out of range for a dataset of shape [4, 2]") {
                try dataset.readFloats(rows: 3..<5)
            }
            assertHDF5Error(.outOfRange, call: "H5Sselect_hyperslab", objectPath: "/m") { try dataset.readFloats(rows: -1..<1) }
            var buffer = [Float]()
            assertHDF5Error(.outOfRange, call: "H5Sselect_hyperslab", objectPath: "/m") {
                try buffer.withUnsafeMutableBufferPointer { try dataset.read(rows: 9..<9, into: $0) }
            }
        }
        try file.writeDataset("ids", [Int32](repeating: 1, count: 4))
        assertHDF5Error(.outOfRange, call: "H5Sselect_hyperslab", objectPath: "/ids") {
            try file.withDataset("ids") { try $0.readInt32s(rows: 2..<6) }
        }
        assertHDF5Error(.outOfRange, call: "H5Sselect_hyperslab", objectPath: "/ids") {
            try file.withDataset("ids") { try $0.readInt64s(rows: 4..<5) }
        }
        assertHDF5Error(.sizeMismatch, call: "H5Sselect_hyperslab", objectPath: "/scalar", messageContains: "scalar") {
            try file.withDataset("scalar") { try $0.readFloats(rows: 0..<1) }
        }
    }

    // MARK: Errors

    func testReadingTheWrongElementKindFails() throws {
        try file.writeDataset("names", ["a", "b"])
        try file.writeDataset("floats", [1, 2] as [Float])
        try file.writeDataset("ints", [1, 2] as [Int32])
        assertHDF5Error(.wrongElementKind, call: "H5Dread", objectPath: "/names",
                        messageContains: "the dataset holds variable-length string elements, which cannot be read as Float") {
            try file.withDataset("names") { try $0.readFloats() }
        }
        assertHDF5Error(.wrongElementKind, call: "H5Dread", objectPath: "/names") {
            var buffer = [Float](repeating: 0, count: 2)
            try file.withDataset("names") { dataset in
                try buffer.withUnsafeMutableBufferPointer { try dataset.read(into: $0) }
            }
        }
        assertHDF5Error(.wrongElementKind, call: "H5Dread", objectPath: "/names") {
            try file.withDataset("names") { try $0.readInt64s() }
        }
        assertHDF5Error(.wrongElementKind, call: "H5Dread", objectPath: "/floats", messageContains: "float32 elements, which cannot be read as Int32") {
            try file.withDataset("floats") { try $0.readInt32s() }
        }
        assertHDF5Error(.wrongElementKind, call: "H5Dread", objectPath: "/ints", messageContains: "int32 elements, which cannot be read as Double") {
            try file.withDataset("ints") { try $0.readDoubles() }
        }
        assertHDF5Error(.wrongElementKind, call: "H5Dread", objectPath: "/ints", messageContains: "cannot be read as String") {
            try file.withDataset("ints") { try $0.readStrings() }
        }
    }

    func testWritingTheWrongElementKindFails() throws {
        let dataset = try file.createDataset("ints", type: .int32, shape: [2])
        assertHDF5Error(.wrongElementKind, call: "H5Dwrite", objectPath: "/ints", messageContains: "cannot be written from Float values") {
            try dataset.write([1, 2] as [Float])
        }
        assertHDF5Error(.wrongElementKind, call: "H5Dwrite", objectPath: "/ints") { try dataset.write(["1", "2"]) }
        try dataset.close()
        let floats = try file.createDataset("floats", type: .float32, shape: [2])
        assertHDF5Error(.wrongElementKind, call: "H5Dwrite", objectPath: "/floats") { try floats.write([1, 2] as [Int64]) }
        try floats.close()
    }

    func testBufferAndValueCountsMustMatch() throws {
        try file.writeDataset("m", [Float](repeating: 1, count: 6), shape: [2, 3])
        try file.withDataset("m") { dataset in
            var small = [Float](repeating: 0, count: 5)
            assertHDF5Error(.sizeMismatch, call: "H5Dread", objectPath: "/m",
                            messageContains: "buffer holds 5 elements but the dataset of shape [2, 3] has 6") {
                try small.withUnsafeMutableBufferPointer { try dataset.read(into: $0) }
            }
            var row = [Float](repeating: 0, count: 6)
            assertHDF5Error(.sizeMismatch, call: "H5Dread", objectPath: "/m", messageContains: "buffer holds 6 elements") {
                try row.withUnsafeMutableBufferPointer { try dataset.read(rows: 0..<1, into: $0) }
            }
            assertHDF5Error(.sizeMismatch, call: "H5Dwrite", objectPath: "/m",
                            messageContains: "7 values given for a dataset of shape [2, 3] (6 elements)") {
                try dataset.write([Float](repeating: 0, count: 7))
            }
            XCTAssertEqual(try dataset.readFloats(), [Float](repeating: 1, count: 6))
        }
    }

    func testStringsWithNULAreRefused() throws {
        assertHDF5Error(.invalidArgument, call: "H5Dwrite", objectPath: "/s", messageContains: "NUL") {
            try file.writeDataset("s", ["ok", "bad\u{0}string"])
        }
    }

    // MARK: Helpers

    /// Writes a file of 1-d fixed-length string datasets (name, values, size, padding, character
    /// set) straight through the C API, as HDF5 tools and h5py (for numpy `S` arrays) do.
    private func writeFixedLengthStrings(_ path: String,
                                         _ datasets: [(String, [String], Int, H5T_str_t, H5T_cset_t)]) throws {
        let fileID = H5Fcreate(path, kelm_h5f_acc_trunc(), kelm_h5p_default(), kelm_h5p_default())
        XCTAssertGreaterThanOrEqual(fileID, 0)
        for (name, values, size, padding, characterSet) in datasets {
            var bytes = [UInt8](repeating: padding == H5T_STR_SPACEPAD ? 0x20 : 0, count: values.count * size)
            for (index, value) in values.enumerated() {
                let utf8 = Array(value.utf8)
                XCTAssertLessThanOrEqual(utf8.count, size)
                bytes.replaceSubrange((index * size)..<(index * size + utf8.count), with: utf8)
            }
            let type = H5Tcopy(kelm_h5t_c_s1())
            XCTAssertGreaterThanOrEqual(H5Tset_size(type, size), 0)
            XCTAssertGreaterThanOrEqual(H5Tset_strpad(type, padding), 0)
            XCTAssertGreaterThanOrEqual(H5Tset_cset(type, characterSet), 0)
            let dims = [hsize_t(values.count)]
            let space = H5Screate_simple(1, dims, nil)
            let dataset = H5Dcreate2(fileID, name, type, space, kelm_h5p_default(), kelm_h5p_default(), kelm_h5p_default())
            XCTAssertGreaterThanOrEqual(dataset, 0)
            XCTAssertGreaterThanOrEqual(H5Dwrite(dataset, type, kelm_h5s_all(), kelm_h5s_all(), kelm_h5p_default(), bytes), 0)
            XCTAssertGreaterThanOrEqual(H5Dclose(dataset), 0)
            XCTAssertGreaterThanOrEqual(H5Sclose(space), 0)
            XCTAssertGreaterThanOrEqual(H5Tclose(type), 0)
        }
        XCTAssertGreaterThanOrEqual(H5Fclose(fileID), 0)
    }
}

/// A small deterministic generator for test values.
struct SplitMix64 {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1p-53
    }
}
