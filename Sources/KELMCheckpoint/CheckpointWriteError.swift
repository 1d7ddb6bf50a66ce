import Foundation
import KELMFiles
import KELMHDF5
#if canImport(Glibc)
import Glibc
#endif

/// A checkpoint that could not be written (disk full, read-only file system, unwritable
/// directory, …). The save is atomic (`AtomicFile`), so the checkpoint `latest` names is the one
/// it was before; the message says which, and the cause in the operating system's words.
///
/// `description` reads like `cannot write checkpoint run/checkpoints/ckpt-00000004.h5: No space
/// left on device; the previous checkpoint ckpt-00000002.h5 (what latest names) is untouched
/// (HDF5 H5Dclose failed for …)`.
public struct CheckpointWriteError: Error, CustomStringConvertible, LocalizedError {
    /// The checkpoint file that was being written.
    public let file: String
    /// The operating system's reason (`strerror`), when the failure came from a system call.
    public let reason: String?
    /// The underlying error, as one line.
    public let detail: String
    /// What `latest` names after the failure (unchanged by it); nil when there is none.
    public let latest: String?

    public init(file: String, cause: Error, latest: String?) {
        self.file = file
        self.latest = latest
        // Foundation's errors print as "Error Domain=… UserInfo=…": keep their message and path
        let text = (cause as? CocoaError).map { "\($0.localizedDescription) (\($0.filePath ?? "no path"))" } ?? "\(cause)"
        detail = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
        reason = Self.systemReason(of: cause)
    }

    public var description: String {
        let previous = latest.map { "the previous checkpoint \($0) (what latest names) is untouched" }
            ?? "there is no previous checkpoint"
        return "cannot write checkpoint \(file): \(reason ?? detail); \(previous)" + (reason == nil ? "" : " (\(detail))")
    }

    public var errorDescription: String? { description }

    /// The `strerror` text of the system call under `error`: HDF5 reports it inside its error
    /// stack (`…, errno = 28, error message = 'No space left on device', …`), `AtomicFile` and
    /// Foundation carry the errno.
    static func systemReason(of error: Error) -> String? {
        switch error {
        case let e as HDF5Error:
            guard let start = e.message.range(of: "error message = '") else { return nil }
            let rest = e.message[start.upperBound...]
            guard let end = rest.firstIndex(of: "'") else { return nil }
            return String(rest[..<end])
        case let e as AtomicFileError:
            guard case let .systemCall(_, _, number) = e else { return nil }
            return String(cString: strerror(number))
        default:
            var e: NSError? = error as NSError
            while let current = e {
                if current.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(current.code))) }
                e = (current.userInfo[NSUnderlyingErrorKey] as? Error).map { $0 as NSError }
            }
            return nil
        }
    }
}
