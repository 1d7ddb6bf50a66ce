import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import KELMFiles

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

    /// Writes the file as a checkpoint is written (`AtomicFile`): to `path + ".tmp"`, piece by
    /// piece, fsynced, renamed over `path`, the directory fsynced.
    public func write(to path: String) throws {
        try AtomicFile.writeStreaming(path) { fd, tmp in
            try headerBytes().withUnsafeBytes { try AtomicFile.appendAll($0, fd: fd, path: tmp) }
            for name in fileOrder { try entries[name]!.bytes.withUnsafeBytes { try AtomicFile.appendAll($0, fd: fd, path: tmp) } }
        }
    }

    public func write(to url: URL) throws {
        try write(to: url.path)
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
