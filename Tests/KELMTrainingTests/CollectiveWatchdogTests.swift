import Foundation
import XCTest
import KELMDistributed
@testable import KELMTraining

final class CollectiveWatchdogTests: XCTestCase {
    /// Runs only as the child of `testWatchdogStopsAWaitingCollective`: a "collective" that
    /// waits 30 s under a 1 s watchdog.
    func testChildWaitsTooLong() throws {
        guard ProcessInfo.processInfo.environment["KELM_WATCHDOG_CHILD"] != nil else { throw XCTSkip("runs as a child process only") }
        let w = CollectiveWatchdog(timeoutSeconds: 1, rank: 4)
        w.start()
        w.guarding("all-reduce of the loss counts", step: 7) { Thread.sleep(forTimeInterval: 30) }
        XCTFail("the watchdog did not stop the process")
    }

    func testWatchdogStopsAWaitingCollective() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        p.arguments = ["KELMTrainingTests.CollectiveWatchdogTests/testChildWaitsTooLong"]
        var env = ProcessInfo.processInfo.environment
        env["KELM_WATCHDOG_CHILD"] = "1"
        for k in env.keys where k.hasPrefix("OMPI_") || k.hasPrefix("PMIX_") { env.removeValue(forKey: k) }
        p.environment = env
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        let start = Date()
        try p.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 3)
        XCTAssertLessThan(Date().timeIntervalSince(start), 10)
        XCTAssertTrue(text.contains("kelm-dist [rank 4]: all-reduce of the loss counts at step 7 has waited"), text)
    }

    /// A collective that finishes in time is not disturbed.
    func testQuickCollectivePasses() {
        let w = CollectiveWatchdog(timeoutSeconds: 1, rank: 0)
        w.start()
        XCTAssertEqual(w.guarding("quick", step: 0) { 42 }, 42)
    }
}
