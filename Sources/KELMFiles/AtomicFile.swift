import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Errors of atomic file replacement.
public enum AtomicFileError: Error, Equatable, CustomStringConvertible {
    case systemCall(call: String, path: String, errno: Int32)

    public var description: String {
        switch self {
        case let .systemCall(call, path, e):
            return "\(path): \(call) failed: \(String(cString: strerror(e)))"
        }
    }
}

/// Writes a file so that readers see either the old complete file or the new complete one,
/// never a partial one, even if the process dies: write `<path>.tmp`, fsync it, rename it over
/// `path`, fsync the directory (DESIGN §7).
public enum AtomicFile {
    public static func temporaryPath(for path: String) -> String { path + ".tmp" }

    /// Calls `write` with the temporary path, then makes it durable and moves it into place.
    /// On any error the temporary file is removed and the old file is untouched.
    public static func write(_ path: String, _ write: (String) throws -> Void) throws {
        let tmp = temporaryPath(for: path)
        do {
            try write(tmp)
            try fsync(path: tmp)
            guard rename(tmp, path) == 0 else { throw AtomicFileError.systemCall(call: "rename", path: path, errno: errno) }
            try fsync(path: directory(of: path))
        } catch {
            unlink(tmp)
            throw error
        }
    }

    /// Replaces `path` with `data`, atomically (write-all to `<path>.tmp`, fsync, rename, fsync of
    /// the directory); every failure names the call and the path.
    public static func write(_ path: String, data: Data) throws {
        try write(path) { tmp in try writeAll(data, to: tmp) }
    }

    /// Replaces `path` with what `body` writes to the descriptor it is given (of `<path>.tmp`,
    /// named in errors): then fsync, close, rename over `path`, fsync of the directory. On any
    /// error the temporary file is removed and the old file is untouched. For large files
    /// written piece by piece (safetensors) without assembling them in memory first.
    public static func writeStreaming(_ path: String, _ body: (_ fd: Int32, _ tmp: String) throws -> Void) throws {
        let tmp = temporaryPath(for: path)
        do {
            let fd = try openForWriting(tmp)
            do {
                try body(fd, tmp)
                guard Glibc.fsync(fd) == 0 else { throw AtomicFileError.systemCall(call: "fsync", path: tmp, errno: errno) }
            } catch {
                close(fd)
                throw error
            }
            guard close(fd) == 0 else { throw AtomicFileError.systemCall(call: "close", path: tmp, errno: errno) }
            guard rename(tmp, path) == 0 else { throw AtomicFileError.systemCall(call: "rename", path: path, errno: errno) }
            try fsync(path: directory(of: path))
        } catch {
            unlink(tmp)
            throw error
        }
    }

    /// Creates (or truncates) `path` for writing; the descriptor is the caller's to close.
    public static func openForWriting(_ path: String) throws -> Int32 {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw AtomicFileError.systemCall(call: "open", path: path, errno: errno) }
        return fd
    }

    /// Creates (or truncates) `path` and writes all of `data` to it, retrying short writes.
    public static func writeAll(_ data: Data, to path: String) throws {
        let fd = try openForWriting(path)
        defer { close(fd) }
        try appendAll(data, fd: fd, path: path)
    }

    /// Writes all of `data` to the open descriptor `fd` (`path` names it in errors).
    public static func appendAll(_ data: Data, fd: Int32, path: String) throws {
        try data.withUnsafeBytes { try appendAll($0, fd: fd, path: path) }
    }

    /// Writes all of `bytes` to the open descriptor `fd`, retrying short and interrupted writes.
    public static func appendAll(_ bytes: UnsafeRawBufferPointer, fd: Int32, path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw AtomicFileError.systemCall(call: "write", path: path, errno: n < 0 ? errno : EIO) }
            offset += n
        }
    }

    /// The directory holding `path` ("." for a bare name).
    static func directory(of path: String) -> String {
        let d = (path as NSString).deletingLastPathComponent
        return d.isEmpty ? "." : d
    }

    /// fsync of a file or directory by path.
    public static func fsync(path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw AtomicFileError.systemCall(call: "open", path: path, errno: errno) }
        defer { close(fd) }
        guard Glibc.fsync(fd) == 0 else { throw AtomicFileError.systemCall(call: "fsync", path: path, errno: errno) }
    }
}
