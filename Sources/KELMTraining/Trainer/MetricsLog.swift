import Foundation
import KELMFiles
#if canImport(Glibc)
import Glibc
#endif
import KELMCheckpoint

/// `metrics.jsonl`: one JSON object per logged step, appended as it happens.
///
/// A resumed run keeps the records of the steps its checkpoint holds and continues after them:
/// records of later steps (written before a kill, and about to be computed again) are dropped,
/// and so is a line cut short by the kill; training records carry the 0-based step index
/// (`step` < k for a checkpoint after k steps), evaluation records the step count (`step` ≤ k).
public final class MetricsLog {
    public let path: String
    private var fd: Int32 = -1
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
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try AtomicFile.write(path, data: kept)
        fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard fd >= 0 else { throw AtomicFileError.systemCall(call: "open", path: path, errno: errno) }
    }

    /// Appends one record (one line). A failure (a full disk) names the file and the cause; the
    /// line may then be cut short, which a resumed run drops.
    public func append<T: Encodable>(_ record: T) throws {
        guard fd >= 0 else { return }
        try AtomicFile.appendAll(try encoder.encode(record) + Data("\n".utf8), fd: fd, path: path)
    }

    public func close() throws {
        guard fd >= 0 else { return }
        let result = Glibc.close(fd)
        fd = -1
        guard result == 0 else { throw AtomicFileError.systemCall(call: "close", path: path, errno: errno) }
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }
}
