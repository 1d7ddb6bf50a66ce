import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Errors of taking a run directory.
public enum RunDirectoryError: Error, Equatable, CustomStringConvertible {
    /// Another job holds the directory.
    case inUse(directory: String, owner: String)
    /// A file-system call failed.
    case systemCall(call: String, path: String, errno: Int32)
    /// `--out` names something that is not a directory.
    case notADirectory(path: String)
    /// A new run (no `--resume`) into a directory that holds one.
    case holdsARun(directory: String, found: [String])

    public var description: String {
        switch self {
        case let .inUse(directory, owner):
            return "run directory \(directory) is in use by another job (\(owner)); wait for it to end, or give another --out"
        case let .systemCall(call, path, e):
            return "\(path): \(call) failed: \(String(cString: strerror(e)))"
        case let .notADirectory(path):
            return "\(path): --out names a file; expected a run directory (created if missing)"
        case let .holdsARun(directory, found):
            return "run directory \(directory) already holds a run (\(found.joined(separator: ", "))): --resume \(directory) continues it; for a new run give another --out (or remove the directory)"
        }
    }
}

/// One job per run directory: rank 0 holds an exclusive `flock(2)` on `DIR/.kelm-dist.lock` for
/// the job's life, taken before anything is written there. The lock file records the owner's
/// process id, host and start time, so a second job (or a second `--resume` of the same
/// directory) is refused with a message naming them. The operating system releases the lock when
/// the owner exits, however it exits, so `--resume` of a directory whose owner died works.
/// (`flock` is local to one machine's kernel; on a network file system shared by several
/// machines it may not exclude a job on another machine.)
public final class RunDirectoryLock {
    public static let fileName = ".kelm-dist.lock"

    public let directory: String
    public let path: String
    /// Whether taking the lock created the directory (so that a job stopped before writing
    /// anything can leave no trace).
    public let createdDirectory: Bool
    private var fd: Int32

    /// Creates `directory` if needed and takes its lock, or throws `RunDirectoryError.inUse`
    /// naming the owner.
    public init(directory: String) throws {
        self.directory = directory
        path = (directory as NSString).appendingPathComponent(Self.fileName)
        var isDirectory: ObjCBool = false
        let existed = FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory)
        if existed && !isDirectory.boolValue { throw RunDirectoryError.notADirectory(path: directory) }
        if !existed {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                let e = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
                throw RunDirectoryError.systemCall(call: "mkdir", path: directory, errno: Int32(e?.code ?? Int(EIO)))
            }
        }
        createdDirectory = !existed
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RunDirectoryError.systemCall(call: "open", path: path, errno: errno) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let e = errno
            let owner = Self.readOwner(fd)
            close(fd)
            fd = -1
            if e == EWOULDBLOCK { throw RunDirectoryError.inUse(directory: directory, owner: owner) }
            throw RunDirectoryError.systemCall(call: "flock", path: path, errno: e)
        }
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count - 1)
        let stamp = ISO8601DateFormatter().string(from: Date())
        let record = "pid \(getpid()) on host \(String(cString: host)), started \(stamp)\n"
        guard ftruncate(fd, 0) == 0 else { throw failure("ftruncate") }
        try record.utf8CString.withUnsafeBufferPointer { bytes in
            // without the trailing NUL
            var offset = 0
            let count = bytes.count - 1
            while offset < count {
                let n = pwrite(fd, bytes.baseAddress! + offset, count - offset, off_t(offset))
                guard n > 0 else { throw failure("write") }
                offset += n
            }
        }
    }

    private func failure(_ call: String) -> RunDirectoryError {
        let e = errno
        close(fd)
        fd = -1
        return .systemCall(call: call, path: path, errno: e)
    }

    /// What the lock file says of its owner (as much as can be read).
    static func readOwner(_ fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = pread(fd, &buffer, buffer.count, 0)
        guard n > 0 else { return "owner unknown" }
        return String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Throws `holdsARun` when the directory holds what a run writes (config.yaml, metrics.jsonl,
    /// a non-empty checkpoints/): a new run there would replace another run's records. (An empty
    /// checkpoints/ is allowed: a mount point made ready for the job.)
    public func requireNoRun() throws {
        let found = ["config.yaml", "metrics.jsonl", "checkpoints"].filter {
            let path = (directory as NSString).appendingPathComponent($0)
            guard FileManager.default.fileExists(atPath: path) else { return false }
            return $0 != "checkpoints" || !((try? FileManager.default.contentsOfDirectory(atPath: path))?.isEmpty ?? false)
        }
        if !found.isEmpty { throw RunDirectoryError.holdsARun(directory: directory, found: found) }
    }

    /// Releases the lock (the file stays: removing it could let a third job lock a file the second
    /// one already opened).
    public func release() {
        guard fd >= 0 else { return }
        close(fd)  // closing releases the flock
        fd = -1
    }

    /// Releases the lock and, when taking it created the directory and nothing but the lock file
    /// is in it, removes both (a job stopped before it wrote anything leaves no trace).
    public func releaseLeavingNoTrace() {
        guard fd >= 0 else { return }
        // unlinked while still held: a job that opened this file meanwhile finds it locked and
        // stops; one that comes later makes a new lock file
        if createdDirectory, let left = try? FileManager.default.contentsOfDirectory(atPath: directory), left == [Self.fileName] {
            unlink(path)
            release()
            rmdir(directory)
        } else {
            release()
        }
    }

    deinit { release() }
}
