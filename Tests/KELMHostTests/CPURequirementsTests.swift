import KELMHost
import XCTest

final class CPURequirementsTests: XCTestCase {
    let haswell = "processor\t: 0\nflags\t\t: fpu sse sse2 avx avx2 fma f16c bmi1 bmi2 movbe popcnt\nbugs\t\t: \n"
    let sandyBridge = "processor\t: 0\nflags\t\t: fpu sse sse2 sse4_2 avx popcnt\n"

    func testAHaswellHasEverything() {
        XCTAssertEqual(CPURequirements.missing(CPURequirements.x86_64_v3, cpuinfo: haswell), [])
    }

    func testAnOlderCPULacksTheV3Extensions() {
        XCTAssertEqual(CPURequirements.missing(CPURequirements.x86_64_v3, cpuinfo: sandyBridge),
                       ["avx2", "fma", "f16c", "bmi1", "bmi2", "movbe"])
    }

    func testNoFlagsLineMeansNothingIsKnownToBePresent() {
        XCTAssertEqual(CPURequirements.missing(["avx2"], cpuinfo: "processor : 0\n"), ["avx2"])
    }

    func testTheMessageNamesWhatIsMissingAndHowToRebuild() throws {
        try XCTSkipIf(CPURequirements.required.isEmpty, "this build targets the baseline x86-64")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cpuinfo-\(UUID())").path
        try sandyBridge.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }  // test scratch file
        let message = try XCTUnwrap(CPURequirements.problem(cpuinfoPath: path))
        XCTAssertTrue(message.contains("lacks avx2, fma"), message)
        XCTAssertTrue(message.contains("KELM_TARGET_CPU=x86-64"), message)
    }

    func testThisMachineRunsThisBuild() {
        // the tests themselves run the numeric code, so this machine must have what it needs
        XCTAssertNil(CPURequirements.problem())
        #if os(Linux)
        XCTAssertFalse(try XCTUnwrap(CPUFlags.current()).isEmpty, "/proc/cpuinfo lists the CPU's flags")
        #endif
    }

    func testFlagsOfX86AndArmLines() {
        XCTAssertEqual(CPUFlags.parse(cpuinfo: haswell), ["fpu", "sse", "sse2", "avx", "avx2", "fma", "f16c", "bmi1", "bmi2", "movbe", "popcnt"])
        XCTAssertEqual(CPUFlags.parse(cpuinfo: "processor\t: 0\nFeatures\t: fp asimd sve\n"), ["fp", "asimd", "sve"])
        XCTAssertEqual(CPUFlags.parse(cpuinfo: "processor : 0\n"), [])
    }
}
