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
        }
    }
}
