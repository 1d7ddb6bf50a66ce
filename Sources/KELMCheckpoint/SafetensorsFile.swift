import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Reader

/// A safetensors file opened for reading. The header is parsed and validated on `init`; tensor
/// data is read on demand with `pread` (thread-safe: the object holds no mutable state).
public final class SafetensorsFile: @unchecked Sendable {
    /// Largest header accepted (the reference implementation's limit).
    public static let maxHeaderLength: UInt64 = 100_000_000

    public let path: String
    /// `__metadata__`, when the header has it.
    public let metadata: [String: String]?
    /// Every tensor's entry, by name.
    public let tensors: [String: SafetensorsTensorInfo]
    /// Tensor names, sorted.
    public let names: [String]
    /// Length of the JSON header (without the 8-byte prefix).
    public let headerLength: Int
    /// File size in bytes.
    public let fileSize: Int
    /// Absolute file offset of the data section (8 + headerLength).
    public var dataStart: Int { 8 + headerLength }

    private let fd: Int32

    public convenience init(url: URL) throws {
        try self.init(path: url.path)
    }

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        if fd < 0 {
            throw SafetensorsError.cannotOpen(file: path, reason: String(cString: strerror(errno)))
        }
        var st = stat()
        if fstat(fd, &st) != 0 {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw SafetensorsError.cannotOpen(file: path, reason: reason)
        }
        if (st.st_mode & S_IFMT) != S_IFREG {
            close(fd)
            throw SafetensorsError.cannotOpen(file: path, reason: "not a regular file")
        }
        let fileSize = Int(st.st_size)
        do {
            guard fileSize >= 8 else {
                throw SafetensorsError.truncated(
                    file: path, reason: "\(fileSize) bytes, shorter than the 8-byte header length")
            }
            var prefix = [UInt8](repeating: 0, count: 8)
            try Self.preadFully(fd: fd, path: path, into: &prefix, offset: 0)
            var n: UInt64 = 0
            for i in 0..<8 { n |= UInt64(prefix[i]) << (8 * UInt64(i)) }
            if n > Self.maxHeaderLength {
                throw SafetensorsError.headerTooLarge(file: path, headerLength: n, limit: Self.maxHeaderLength)
            }
            if n > UInt64(fileSize - 8) {
                throw SafetensorsError.truncated(
                    file: path, reason: "header length \(n) but only \(fileSize - 8) bytes follow the length prefix")
            }
            let headerLength = Int(n)
            var headerBytes = [UInt8](repeating: 0, count: headerLength)
            try Self.preadFully(fd: fd, path: path, into: &headerBytes, offset: 0 + 8)
            let (metadata, tensors) = try Self.parseHeader(headerBytes, file: path,
                                                           dataSize: fileSize - 8 - headerLength)
            self.fd = fd
            self.fileSize = fileSize
            self.headerLength = headerLength
            self.metadata = metadata
            self.tensors = tensors
            self.names = tensors.keys.sorted()
        } catch {
            close(fd)
            throw error
        }
    }

    deinit {
        close(fd)
    }

    public func contains(_ name: String) -> Bool { tensors[name] != nil }

    /// The header entry of `name`; throws `missingTensor` when absent.
    public func info(_ name: String) throws -> SafetensorsTensorInfo {
        guard let info = tensors[name] else {
            throw SafetensorsError.missingTensor(file: path, tensor: name)
        }
        return info
    }

    /// The tensor's raw little-endian bytes.
    public func readRawBytes(_ name: String) throws -> [UInt8] {
        let info = try info(name)
        var bytes = [UInt8](repeating: 0, count: info.byteCount)
        try Self.preadFully(fd: fd, path: path, into: &bytes, offset: dataStart + info.dataOffsets.lowerBound)
        return bytes
    }

    /// The tensor as Float (F32 as is; F16, BF16 and F64 converted), row-major.
    public func readFloats(_ name: String) throws -> [Float] {
        let info = try info(name)
        guard info.dtype.isReadableAsFloat else {
            throw SafetensorsError.dtypeNotConvertible(file: path, tensor: name, dtype: info.dtype, to: "Float")
        }
        let count = info.elementCount
        return try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            try self.read(name, into: buffer)
            initialized = count
        }
    }

    /// Copies the tensor, converted to Float, into `buffer`, whose count must equal the
    /// tensor's element count.
    public func read(_ name: String, into buffer: UnsafeMutableBufferPointer<Float>) throws {
        let info = try info(name)
        guard info.dtype.isReadableAsFloat else {
            throw SafetensorsError.dtypeNotConvertible(file: path, tensor: name, dtype: info.dtype, to: "Float")
        }
        let count = info.elementCount
        guard buffer.count == count else {
            throw SafetensorsError.elementCountMismatch(file: path, tensor: name, expected: count, actual: buffer.count)
        }
        if count == 0 { return }
        let offset = dataStart + info.dataOffsets.lowerBound
        switch info.dtype {
        case .f32:
            #if _endian(little)
            try Self.preadFully(fd: fd, path: path, into: UnsafeMutableRawBufferPointer(buffer), offset: offset)
            #else
            let raw = try readRawBytes(name)
            for i in 0..<count { buffer[i] = Float(bitPattern: Self.loadLE32(raw, 4 * i)) }
            #endif
        case .f16:
            let raw = try readRawBytes(name)
            for i in 0..<count {
                buffer[i] = SafetensorsConversion.float(fromHalfBits: UInt16(raw[2 * i]) | UInt16(raw[2 * i + 1]) << 8)
            }
        case .bf16:
            let raw = try readRawBytes(name)
            for i in 0..<count {
                buffer[i] = SafetensorsConversion.float(fromBFloat16Bits: UInt16(raw[2 * i]) | UInt16(raw[2 * i + 1]) << 8)
            }
        case .f64:
            let raw = try readRawBytes(name)
            for i in 0..<count {
                var bits: UInt64 = 0
                for k in 0..<8 { bits |= UInt64(raw[8 * i + k]) << (8 * UInt64(k)) }
                buffer[i] = Float(Double(bitPattern: bits))
            }
        default:
            throw SafetensorsError.dtypeNotConvertible(file: path, tensor: name, dtype: info.dtype, to: "Float")
        }
    }

    /// An integer tensor (BOOL, U8, I8, I16, U16, I32, U32, I64) as Int64, row-major.
    public func readInt64(_ name: String) throws -> [Int64] {
        let info = try info(name)
        guard info.dtype.isReadableAsInt64 else {
            throw SafetensorsError.dtypeNotConvertible(file: path, tensor: name, dtype: info.dtype, to: "Int64")
        }
        let raw = try readRawBytes(name)
        let size = info.dtype.byteSize
        var out = [Int64](repeating: 0, count: info.elementCount)
        for i in 0..<out.count {
            var bits: UInt64 = 0
            for k in 0..<size { bits |= UInt64(raw[size * i + k]) << (8 * UInt64(k)) }
            switch info.dtype {
            case .bool, .u8, .u16, .u32: out[i] = Int64(bits)
            case .i8: out[i] = Int64(Int8(truncatingIfNeeded: bits))
            case .i16: out[i] = Int64(Int16(truncatingIfNeeded: bits))
            case .i32: out[i] = Int64(Int32(truncatingIfNeeded: bits))
            default: out[i] = Int64(bitPattern: bits)
            }
        }
        return out
    }

    // MARK: Header parsing

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { return nil }
    }

    /// A problem with one header entry, thrown from inside the decoder and mapped afterwards.
    private struct EntryProblem: Error {
        let key: String
        let reason: String
    }

    private struct RawEntry: Decodable {
        let dtype: String
        let shape: [Int]
        let dataOffsets: [Int]
        enum CodingKeys: String, CodingKey {
            case dtype, shape
            case dataOffsets = "data_offsets"
        }
    }

    private struct RawHeader: Decodable {
        var metadata: [String: String]?
        var entries: [String: RawEntry] = [:]

        init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: AnyKey.self)
            for key in container.allKeys {
                do {
                    if key.stringValue == "__metadata__" {
                        metadata = try container.decode([String: String].self, forKey: key)
                    } else {
                        entries[key.stringValue] = try container.decode(RawEntry.self, forKey: key)
                    }
                } catch {
                    // Foundation's JSONDecoder also throws non-DecodingError values
                    // (e.g. for 1.5 where an Int is expected).
                    let reason = (error as? DecodingError).map(RawHeader.explain) ?? "\(error)"
                    throw EntryProblem(key: key.stringValue, reason: reason)
                }
            }
        }

        static func explain(_ error: DecodingError) -> String {
            switch error {
            case let .typeMismatch(type, ctx):
                return "\(Self.pathString(ctx.codingPath)): expected \(type): \(ctx.debugDescription)"
            case let .valueNotFound(type, ctx):
                return "\(Self.pathString(ctx.codingPath)): missing \(type) value"
            case let .keyNotFound(key, ctx):
                return "\(Self.pathString(ctx.codingPath + [key])): missing field"
            case let .dataCorrupted(ctx):
                return "\(Self.pathString(ctx.codingPath)): \(ctx.debugDescription)"
            @unknown default:
                return "\(error)"
            }
        }

        static func pathString(_ path: [CodingKey]) -> String {
            path.count <= 1 ? "entry" : path.dropFirst().map { $0.intValue.map(String.init) ?? $0.stringValue }
                .joined(separator: ".")
        }
    }

    static func parseHeader(_ bytes: [UInt8], file: String, dataSize: Int) throws
        -> (metadata: [String: String]?, tensors: [String: SafetensorsTensorInfo]) {
        guard let first = bytes.first, first == UInt8(ascii: "{") else {
            throw SafetensorsError.invalidHeader(file: file, reason: "does not start with '{'")
        }
        let raw: RawHeader
        do {
            raw = try JSONDecoder().decode(RawHeader.self, from: Data(bytes))
        } catch let problem as EntryProblem {
            if problem.key == "__metadata__" {
                throw SafetensorsError.invalidHeader(
                    file: file, reason: "__metadata__ must map strings to strings (\(problem.reason))")
            }
            throw SafetensorsError.invalidTensorEntry(file: file, tensor: problem.key, reason: problem.reason)
        } catch let error as DecodingError {
            var reason = "\(error)"
            switch error {
            case let .dataCorrupted(ctx), let .typeMismatch(_, ctx), let .valueNotFound(_, ctx), let .keyNotFound(_, ctx):
                reason = ctx.debugDescription + (ctx.underlyingError.map { " (\($0))" } ?? "")
            @unknown default:
                break
            }
            throw SafetensorsError.invalidHeader(file: file, reason: "not a JSON object: \(reason)")
        } catch {
            throw SafetensorsError.invalidHeader(file: file, reason: "not valid JSON: \(error)")
        }

        var tensors: [String: SafetensorsTensorInfo] = [:]
        for name in raw.entries.keys.sorted() {
            let entry = raw.entries[name]!  // key taken from the dictionary itself
            guard let dtype = SafetensorsDType(rawValue: entry.dtype) else {
                throw SafetensorsError.unsupportedDType(file: file, tensor: name, dtype: entry.dtype)
            }
            if let bad = entry.shape.first(where: { $0 < 0 }) {
                throw SafetensorsError.invalidTensorEntry(file: file, tensor: name, reason: "negative dimension \(bad) in shape \(entry.shape)")
            }
            guard entry.dataOffsets.count == 2 else {
                throw SafetensorsError.invalidTensorEntry(
                    file: file, tensor: name, reason: "data_offsets must be [begin, end], got \(entry.dataOffsets)")
            }
            let begin = entry.dataOffsets[0], end = entry.dataOffsets[1]
            guard begin >= 0, begin <= end else {
                throw SafetensorsError.invalidTensorEntry(
                    file: file, tensor: name, reason: "data_offsets [\(begin), \(end)] are not 0 <= begin <= end")
            }
            var elements = 1
            for dim in entry.shape {
                let (product, overflow) = elements.multipliedReportingOverflow(by: dim)
                guard !overflow else {
                    throw SafetensorsError.invalidTensorEntry(file: file, tensor: name, reason: "shape \(entry.shape) overflows")
                }
                elements = product
            }
            let (expected, overflow) = elements.multipliedReportingOverflow(by: dtype.byteSize)
            guard !overflow else {
                throw SafetensorsError.invalidTensorEntry(file: file, tensor: name, reason: "shape \(entry.shape) overflows")
            }
            if end > dataSize {
                throw SafetensorsError.offsetsOutOfBounds(file: file, tensor: name, begin: begin, end: end, dataSize: dataSize)
            }
            if end - begin != expected {
                throw SafetensorsError.sizeMismatch(file: file, tensor: name, expectedBytes: expected, actualBytes: end - begin)
            }
            tensors[name] = SafetensorsTensorInfo(name: name, dtype: dtype, shape: entry.shape, dataOffsets: begin..<end)
        }

        // Non-overlap: sort the non-empty ranges by start; each must begin at or after the previous end.
        let ordered = tensors.values.filter { !$0.dataOffsets.isEmpty }
            .sorted { ($0.dataOffsets.lowerBound, $0.name) < ($1.dataOffsets.lowerBound, $1.name) }
        for i in ordered.indices.dropFirst() {
            let previous = ordered[i - 1], current = ordered[i]
            if current.dataOffsets.lowerBound < previous.dataOffsets.upperBound {
                throw SafetensorsError.overlappingTensors(file: file, tensor: current.name, other: previous.name)
            }
        }
        return (raw.metadata, tensors)
    }

    // MARK: I/O helpers

    static func preadFully(fd: Int32, path: String, into bytes: inout [UInt8], offset: Int) throws {
        try bytes.withUnsafeMutableBytes { try preadFully(fd: fd, path: path, into: $0, offset: offset) }
    }

    static func preadFully(fd: Int32, path: String, into buffer: UnsafeMutableRawBufferPointer, offset: Int) throws {
        guard let base = buffer.baseAddress else { return }
        var done = 0
        while done < buffer.count {
            let n = pread(fd, base + done, buffer.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw SafetensorsError.ioFailure(
                    file: path, reason: "read at offset \(offset + done): \(String(cString: strerror(errno)))")
            }
            if n == 0 {
                throw SafetensorsError.truncated(
                    file: path, reason: "unexpected end of file at offset \(offset + done) (file changed while open?)")
            }
            done += n
        }
    }

    static func loadLE32(_ raw: [UInt8], _ at: Int) -> UInt32 {
        UInt32(raw[at]) | UInt32(raw[at + 1]) << 8 | UInt32(raw[at + 2]) << 16 | UInt32(raw[at + 3]) << 24
    }
}
