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

    /// The exit status of `timeout(1)` when it stopped a run that took too long.
    static let timedOutStatus: Int32 = 124

    /// Runs `kelm-dist arguments…` with the current environment minus `removing`, plus `setting`;
    /// standard input is `stdin` (UTF-8) when given, else empty. With `timeout` (seconds) the run
    /// goes through `timeout(1)`, which stops it (and anything it started) after that long: the
    /// status is then `timedOutStatus`, and 128 + N when the program died of signal N.
    static func run(_ arguments: [String], removing: [String] = [], setting: [String: String] = [:],
                    stdin: String? = nil, timeout: Int? = nil) throws -> Result {
        let process = Process()
        if let timeout {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
            process.arguments = ["-k", "5", String(timeout), executable.path] + arguments
        } else {
            process.executableURL = executable
            process.arguments = arguments
        }
        var env = ProcessInfo.processInfo.environment
        for k in removing { env.removeValue(forKey: k) }
        for (k, v) in setting { env[k] = v }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let input = stdin.map { _ in Pipe() }
        process.standardInput = input ?? FileHandle.nullDevice
        try process.run()
        if let input, let stdin {
            // Written from another thread so that a large input cannot block on a full pipe while
            // the child blocks on a full stdout; a child that exits early must not kill us with SIGPIPE.
            signal(SIGPIPE, SIG_IGN)
            let writer = input.fileHandleForWriting
            let bytes = Data(stdin.utf8)
            Thread.detachNewThread {
                try? writer.write(contentsOf: bytes)  // EPIPE when the child stopped reading: its status tells
                try? writer.close()
            }
        }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                      stderr: String(decoding: e, as: UTF8.self))
    }
}
