// Safetensors reader and writer (DESIGN §7: `--init-from` and `export --format hf`).
//
// Format: 8-byte little-endian header length N, then N bytes of JSON
// `{"__metadata__": {string: string} (optional), "<name>": {"dtype": "F32", "shape": [..],
// "data_offsets": [begin, end]}, ...}` (offsets relative to the data section, which starts at
// byte 8 + N), then the data section. Tensors are little-endian, row-major.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Data types

/// Element types of the safetensors format (the reference implementation's set).
public enum SafetensorsDType: String, Sendable, CaseIterable, Equatable {
    case bool = "BOOL"
    case u8 = "U8"
    case i8 = "I8"
    case f8e5m2 = "F8_E5M2"
    case f8e4m3 = "F8_E4M3"
    case i16 = "I16"
    case u16 = "U16"
    case f16 = "F16"
    case bf16 = "BF16"
    case i32 = "I32"
    case u32 = "U32"
    case f32 = "F32"
    case f64 = "F64"
    case i64 = "I64"
    case u64 = "U64"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .bool, .u8, .i8, .f8e5m2, .f8e4m3: return 1
        case .i16, .u16, .f16, .bf16: return 2
        case .i32, .u32, .f32: return 4
        case .f64, .i64, .u64: return 8
        }
    }

    /// Types `SafetensorsFile.readFloats` converts to Float.
    public var isReadableAsFloat: Bool {
        switch self {
        case .f16, .bf16, .f32, .f64: return true
        default: return false
        }
    }

    /// Types `SafetensorsFile.readInt64` converts to Int64.
    public var isReadableAsInt64: Bool {
        switch self {
        case .bool, .u8, .i8, .i16, .u16, .i32, .u32, .i64: return true
        default: return false  // floats, and U64 (may not fit)
        }
    }
}

/// One tensor's header entry.
public struct SafetensorsTensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: SafetensorsDType
    /// PyTorch shape (row-major); `[]` is a scalar.
    public let shape: [Int]
    /// Byte range relative to the start of the data section.
    public let dataOffsets: Range<Int>

    public var elementCount: Int { shape.reduce(1, *) }
    public var byteCount: Int { dataOffsets.count }
}

// MARK: - Errors

/// Every failure of the safetensors code; each case names the file and, where there is one, the tensor.
public enum SafetensorsError: Error, Equatable, CustomStringConvertible {
    /// The file could not be opened or its size not determined.
    case cannotOpen(file: String, reason: String)
    /// A read or seek failed.
    case ioFailure(file: String, reason: String)
    /// The file is shorter than its 8-byte length prefix and header claim.
    case truncated(file: String, reason: String)
    /// The header length prefix exceeds the limit (100 MB, as the reference implementation).
    case headerTooLarge(file: String, headerLength: UInt64, limit: UInt64)
    /// The header is not a JSON object of the expected form.
    case invalidHeader(file: String, reason: String)
    /// A tensor's header entry is malformed (missing field, negative dimension, begin > end, ...).
    case invalidTensorEntry(file: String, tensor: String, reason: String)
    /// The dtype string is not one of the format's types.
    case unsupportedDType(file: String, tensor: String, dtype: String)
    /// The tensor's byte range does not equal product(shape) × dtype size.
    case sizeMismatch(file: String, tensor: String, expectedBytes: Int, actualBytes: Int)
    /// The tensor's byte range lies (partly) past the end of the file's data section.
    case offsetsOutOfBounds(file: String, tensor: String, begin: Int, end: Int, dataSize: Int)
    /// Two tensors' byte ranges overlap.
    case overlappingTensors(file: String, tensor: String, other: String)
    /// No tensor of that name in the file.
    case missingTensor(file: String, tensor: String)
    /// The tensor's dtype cannot be converted to the requested element type.
    case dtypeNotConvertible(file: String, tensor: String, dtype: SafetensorsDType, to: String)
    /// The destination buffer's count differs from the tensor's element count.
    case elementCountMismatch(file: String, tensor: String, expected: Int, actual: Int)
    /// A tensor given to the writer is invalid (empty or duplicate name, shape/count mismatch, dtype).
    case invalidTensor(file: String, tensor: String, reason: String)
    /// Writing the output file failed.
    case writeFailed(file: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotOpen(file, reason):
            return "safetensors \(file): cannot open: \(reason)"
        case let .ioFailure(file, reason):
            return "safetensors \(file): I/O error: \(reason)"
        case let .truncated(file, reason):
            return "safetensors \(file): truncated file: \(reason)"
        case let .headerTooLarge(file, length, limit):
            return "safetensors \(file): header length \(length) exceeds the limit of \(limit) bytes"
        case let .invalidHeader(file, reason):
            return "safetensors \(file): invalid header: \(reason)"
        case let .invalidTensorEntry(file, tensor, reason):
            return "safetensors \(file): tensor '\(tensor)': invalid header entry: \(reason)"
        case let .unsupportedDType(file, tensor, dtype):
            return "safetensors \(file): tensor '\(tensor)': unsupported dtype '\(dtype)'"
        case let .sizeMismatch(file, tensor, expected, actual):
            return "safetensors \(file): tensor '\(tensor)': data is \(actual) bytes but shape × dtype size is \(expected)"
        case let .offsetsOutOfBounds(file, tensor, begin, end, dataSize):
            return "safetensors \(file): tensor '\(tensor)': data_offsets [\(begin), \(end)] exceed the data section of "
                + "\(dataSize) bytes (truncated file?)"
        case let .overlappingTensors(file, tensor, other):
            return "safetensors \(file): tensor '\(tensor)': data overlaps tensor '\(other)'"
        case let .missingTensor(file, tensor):
            return "safetensors \(file): no tensor named '\(tensor)'"
        case let .dtypeNotConvertible(file, tensor, dtype, to):
            return "safetensors \(file): tensor '\(tensor)': dtype \(dtype.rawValue) cannot be read as \(to)"
        case let .elementCountMismatch(file, tensor, expected, actual):
            return "safetensors \(file): tensor '\(tensor)': has \(expected) elements, destination holds \(actual)"
        case let .invalidTensor(file, tensor, reason):
            return "safetensors \(file): tensor '\(tensor)': \(reason)"
        case let .writeFailed(file, reason):
            return "safetensors \(file): write failed: \(reason)"
        }
    }
}

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

// MARK: - Conversions

/// Bit-exact conversions between Float and the 16-bit float formats (round to nearest even).
public enum SafetensorsConversion {
    /// IEEE 754 binary16 → Float (exact; NaN payloads kept, quiet).
    public static func float(fromHalfBits h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = UInt32(h >> 10) & 0x1F
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0 {
            // Zero or subnormal: mantissa × 2^-24, exact in Float.
            let magnitude = Float(mantissa) * 0x1p-24
            return Float(bitPattern: sign | magnitude.bitPattern)
        }
        if exponent == 0x1F {
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        }
        return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
    }

    /// Float → IEEE 754 binary16, round to nearest even; overflow gives ±infinity, NaN stays NaN.
    public static func halfBits(from value: Float) -> UInt16 {
        let x = value.bitPattern
        let sign = UInt16(truncatingIfNeeded: (x >> 16) & 0x8000)
        let exponent = Int((x >> 23) & 0xFF)
        var mantissa = x & 0x7F_FFFF
        if exponent == 0xFF {
            if mantissa == 0 { return sign | 0x7C00 }
            return sign | 0x7E00 | UInt16(truncatingIfNeeded: mantissa >> 13)
        }
        let e = exponent - 127 + 15
        if e >= 0x1F { return sign | 0x7C00 }
        if e <= 0 {
            // Result is subnormal (or zero) in binary16: units of 2^-24.
            if e < -10 { return sign }
            mantissa |= 0x80_0000
            let shift = UInt32(14 - e)
            var result = mantissa >> shift
            let remainder = mantissa & ((UInt32(1) << shift) - 1)
            let halfway = UInt32(1) << (shift - 1)
            if remainder > halfway || (remainder == halfway && (result & 1) == 1) { result += 1 }
            return sign | UInt16(truncatingIfNeeded: result)
        }
        var result = UInt32(e) << 10 | (mantissa >> 13)
        let remainder = mantissa & 0x1FFF
        if remainder > 0x1000 || (remainder == 0x1000 && (result & 1) == 1) { result += 1 }  // may carry to infinity
        return sign | UInt16(truncatingIfNeeded: result)
    }

    /// bfloat16 → Float (exact).
    public static func float(fromBFloat16Bits b: UInt16) -> Float {
        Float(bitPattern: UInt32(b) << 16)
    }

    /// Float → bfloat16, round to nearest even; NaN stays NaN.
    public static func bfloat16Bits(from value: Float) -> UInt16 {
        let x = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: x >> 16) | 0x0040 }
        let rounding = UInt32(0x7FFF) + ((x >> 16) & 1)
        return UInt16(truncatingIfNeeded: (x &+ rounding) >> 16)
    }
}

// MARK: - Writer

/// Collects tensors and writes a safetensors file as the reference implementation does:
/// compact JSON header with `__metadata__` first, tensors ordered by dtype size (largest first)
/// then by name — i.e. by name when all tensors have one dtype — data packed in that order,
/// header padded with spaces to a multiple of 8 bytes.
public struct SafetensorsWriter {
    /// Element types the writer can produce from Float.
    public static let writableDTypes: [SafetensorsDType] = [.f32, .f16, .bf16]

    public var metadata: [String: String]?
    private var entries: [String: (dtype: SafetensorsDType, shape: [Int], bytes: [UInt8])] = [:]

    public init(metadata: [String: String]? = ["format": "pt"]) {
        self.metadata = metadata
    }

    public var names: [String] { entries.keys.sorted() }

    /// Adds a tensor; `values` are row-major and must number product(shape).
    public mutating func add(_ name: String, shape: [Int], values: [Float], dtype: SafetensorsDType = .f32) throws {
        try values.withUnsafeBufferPointer { try add(name, shape: shape, values: $0, dtype: dtype) }
    }

    public mutating func add(_ name: String, shape: [Int], values: UnsafeBufferPointer<Float>,
                             dtype: SafetensorsDType = .f32) throws {
        let file = "<writer>"
        guard !name.isEmpty, name != "__metadata__" else {
            throw SafetensorsError.invalidTensor(file: file, tensor: name, reason: "invalid tensor name")
        }
        guard entries[name] == nil else {
            throw SafetensorsError.invalidTensor(file: file, tensor: name, reason: "added twice")
        }
        guard Self.writableDTypes.contains(dtype) else {
            throw SafetensorsError.invalidTensor(file: file, tensor: name, reason: "cannot write dtype \(dtype.rawValue)")
        }
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw SafetensorsError.invalidTensor(file: file, tensor: name, reason: "negative dimension in shape \(shape)")
        }
        let count = shape.reduce(1, *)
        guard count == values.count else {
            throw SafetensorsError.invalidTensor(
                file: file, tensor: name, reason: "shape \(shape) has \(count) elements but \(values.count) values were given")
        }
        var bytes = [UInt8](repeating: 0, count: count * dtype.byteSize)
        switch dtype {
        case .f32:
            for i in 0..<count {
                let bits = values[i].bitPattern
                bytes[4 * i] = UInt8(truncatingIfNeeded: bits)
                bytes[4 * i + 1] = UInt8(truncatingIfNeeded: bits >> 8)
                bytes[4 * i + 2] = UInt8(truncatingIfNeeded: bits >> 16)
                bytes[4 * i + 3] = UInt8(truncatingIfNeeded: bits >> 24)
            }
        case .f16, .bf16:
            for i in 0..<count {
                let bits = dtype == .f16 ? SafetensorsConversion.halfBits(from: values[i])
                    : SafetensorsConversion.bfloat16Bits(from: values[i])
                bytes[2 * i] = UInt8(truncatingIfNeeded: bits)
                bytes[2 * i + 1] = UInt8(truncatingIfNeeded: bits >> 8)
            }
        default:
            break  // excluded above
        }
        entries[name] = (dtype, shape, bytes)
    }

    /// Tensor names in file order.
    private var fileOrder: [String] {
        entries.keys.sorted { a, b in
            let sa = entries[a]!.dtype.byteSize, sb = entries[b]!.dtype.byteSize
            return sa != sb ? sa > sb : a < b
        }
    }

    /// The 8-byte length prefix and the padded JSON header.
    public func headerBytes() -> [UInt8] {
        var json = "{"
        var first = true
        if let metadata {
            json += Self.quote("__metadata__") + ":{"
            json += metadata.keys.sorted().map { Self.quote($0) + ":" + Self.quote(metadata[$0]!) }.joined(separator: ",")
            json += "}"
            first = false
        }
        var offset = 0
        for name in fileOrder {
            let entry = entries[name]!
            if !first { json += "," }
            first = false
            json += Self.quote(name) + ":{\"dtype\":\"" + entry.dtype.rawValue + "\",\"shape\":["
                + entry.shape.map(String.init).joined(separator: ",") + "],\"data_offsets\":["
                + String(offset) + "," + String(offset + entry.bytes.count) + "]}"
            offset += entry.bytes.count
        }
        json += "}"
        var header = Array(json.utf8)
        header += [UInt8](repeating: UInt8(ascii: " "), count: (8 - header.count % 8) % 8)
        var out = [UInt8]()
        out.reserveCapacity(8 + header.count)
        let n = UInt64(header.count)
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: n >> (8 * UInt64(i)))) }
        out += header
        return out
    }

    /// The whole file in memory.
    public func serialized() -> [UInt8] {
        var out = headerBytes()
        for name in fileOrder { out += entries[name]!.bytes }
        return out
    }

    /// Writes the file: to `path + ".tmp"`, flushed, then renamed over `path`.
    public func write(to path: String) throws {
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if fd < 0 {
            throw SafetensorsError.writeFailed(file: path, reason: "cannot create \(tmp): \(String(cString: strerror(errno)))")
        }
        do {
            try Self.writeFully(fd: fd, path: path, bytes: headerBytes())
            for name in fileOrder { try Self.writeFully(fd: fd, path: path, bytes: entries[name]!.bytes) }
            if fsync(fd) != 0 {
                throw SafetensorsError.writeFailed(file: path, reason: "fsync: \(String(cString: strerror(errno)))")
            }
        } catch {
            close(fd)
            unlink(tmp)
            throw error
        }
        if close(fd) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(tmp)
            throw SafetensorsError.writeFailed(file: path, reason: "close: \(reason)")
        }
        if rename(tmp, path) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(tmp)
            throw SafetensorsError.writeFailed(file: path, reason: "rename \(tmp): \(reason)")
        }
    }

    public func write(to url: URL) throws {
        try write(to: url.path)
    }

    private static func writeFully(fd: Int32, path: String, bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            var done = 0
            while done < buffer.count {
                let n = Glibc_write(fd, base + done, buffer.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw SafetensorsError.writeFailed(file: path, reason: String(cString: strerror(errno)))
                }
                done += n
            }
        }
    }

    /// JSON string literal (serde_json style: escapes quotes, backslashes and control characters).
    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

/// `write(2)`, named apart from the writer's `write(to:)` methods.
@inline(__always)
private func Glibc_write(_ fd: Int32, _ buf: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(fd, buf, count)
    #elseif canImport(Musl)
    return Musl.write(fd, buf, count)
    #else
    return Darwin.write(fd, buf, count)
    #endif
}
