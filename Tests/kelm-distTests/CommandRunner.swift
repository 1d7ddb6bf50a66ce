import Foundation
import XCTest

/// Runs the built `kelm-dist` executable (it sits next to the test bundle) and captures its output.
struct CommandRunner {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String

        /// `key: value` lines of stdout as a dictionary.
        var fields: [String: String] {
            var out: [String: String] = [:]
            for line in stdout.split(separator: "\n") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                out[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            return out
        }
    }

    static var executable: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("kelm-dist")
    }

    /// Runs `kelm-dist arguments…` with the current environment minus `removing`, plus `setting`.
    static func run(_ arguments: [String], removing: [String] = [], setting: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for k in removing { env.removeValue(forKey: k) }
        for (k, v) in setting { env[k] = v }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                      stderr: String(decoding: e, as: UTF8.self))
    }
}
