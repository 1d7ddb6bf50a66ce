import Foundation

/// `metrics.jsonl`: one JSON object per logged step, appended as it happens.
public final class MetricsLog {
    public let path: String
    private var handle: FileHandle?
    private let encoder: JSONEncoder

    public init(path: String) throws {
        self.path = path
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
        }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
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
