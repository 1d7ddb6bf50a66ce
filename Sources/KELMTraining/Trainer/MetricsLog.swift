import Foundation
import KELMCheckpoint

/// `metrics.jsonl`: one JSON object per logged step, appended as it happens.
///
/// A resumed run keeps the records of the steps its checkpoint holds and continues after them:
/// records of later steps (written before a kill, and about to be computed again) are dropped,
/// and so is a line cut short by the kill; training records carry the 0-based step index
/// (`step` < k for a checkpoint after k steps), evaluation records the step count (`step` ≤ k).
public final class MetricsLog {
    public let path: String
    private var handle: FileHandle?
    private let encoder: JSONEncoder

    /// Starts `path` afresh, or, with `resumingAt` k, keeps its records of the first k steps.
    public init(path: String, resumingAt: Int? = nil) throws {
        self.path = path
        var kept = Data()
        if let k = resumingAt, let old = FileManager.default.contents(atPath: path) {
            for line in old.split(separator: UInt8(ascii: "\n")) {
                guard let record = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                      let step = record["step"] as? Int else { continue }
                if record["eval"] != nil ? step <= k : step < k { kept += Data(line) + Data("\n".utf8) }
            }
        }
        try AtomicFile.write(path) { tmp in
            guard FileManager.default.createFile(atPath: tmp, contents: kept) else {
                throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
            }
        }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle?.seekToEnd()
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
    }

    public func append<T: Encodable>(_ record: T) throws {
        guard let handle else { return }
        try handle.write(contentsOf: try encoder.encode(record) + Data("\n".utf8))
    }

    public func close() throws {
        try handle?.close()
        handle = nil
    }

    deinit { try? handle?.close() }
}
