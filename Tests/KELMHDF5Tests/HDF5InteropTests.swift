import Foundation
import XCTest
import KELMHDF5

/// Files written here read back with the HDF5 command-line tools (package hdf5-tools).
final class HDF5InteropTests: XCTestCase {
    func testH5dumpReadsFloat16AndStrings() throws {
        guard let h5dump = executableOnPath("h5dump") else {
            throw XCTSkip("h5dump (package hdf5-tools) is not on PATH")
        }
        let path = try temporaryFilePath("interop.h5")
        let file = try HDF5File.create(path)
        try file.writeDataset("/params/half", [1, 2.5, -3, 0.125] as [Float], shape: [2, 2], as: .float16)
        try file.writeDataset("/params/single", [0.5] as [Float])
        try file.writeDataset("/vocab", ["[CLS]", "dog", "walk"])
        try file.writeDataset("/ids", [1, -2] as [Int64])
        try file.setAttribute("format", "kelm-dist-checkpoint")
        try file.setAttribute("step", 12)
        try file.close()

        let half = try run(h5dump, ["-d", "/params/half", path])
        XCTAssertTrue(half.contains("16-bit little-endian floating-point"), half)
        XCTAssertTrue(half.contains("(0,0): 1, 2.5,"), half)
        XCTAssertTrue(half.contains("(1,0): -3, 0.125"), half)

        let single = try run(h5dump, ["-d", "/params/single", path])
        XCTAssertTrue(single.contains("H5T_IEEE_F32LE"), single)

        let vocab = try run(h5dump, ["-d", "/vocab", path])
        XCTAssertTrue(vocab.contains("STRSIZE H5T_VARIABLE"), vocab)
        XCTAssertTrue(vocab.contains("CSET H5T_CSET_UTF8"), vocab)
        XCTAssertTrue(vocab.contains("\"[CLS]\", \"dog\", \"walk\""), vocab)

        let ids = try run(h5dump, ["-d", "/ids", path])
        XCTAssertTrue(ids.contains("H5T_STD_I64LE"), ids)
        XCTAssertTrue(ids.contains("1, -2"), ids)

        let format = try run(h5dump, ["-a", "/format", path])
        XCTAssertTrue(format.contains("\"kelm-dist-checkpoint\""), format)
        XCTAssertTrue(format.contains("DATASPACE  SCALAR"), format)
        let step = try run(h5dump, ["-a", "/step", path])
        XCTAssertTrue(step.contains("(0): 12"), step)
    }

    private func executableOnPath(_ name: String) -> String? {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        return directories.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs `executable` and returns its standard output; fails the test on a non-zero exit.
    private func run(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        XCTAssertEqual(process.terminationStatus, 0, "\(executable) \(arguments): \(text)")
        return text
    }
}
