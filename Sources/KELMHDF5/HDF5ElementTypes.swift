/// How the elements of a dataset or attribute are stored in the file.
public enum HDF5ElementKind: Equatable, Sendable, CustomStringConvertible {
    /// IEEE floating point of the given size in bytes (2 for float16, 4, 8).
    case float(bytes: Int)
    /// Integer of the given size in bytes.
    case integer(bytes: Int, signed: Bool)
    /// Text: variable-length (as h5py writes `str`) or fixed-length.
    case string(variableLength: Bool)
    /// Any other HDF5 type class (compound, enum, opaque, …), by name.
    case other(String)

    /// E.g. `float16`, `int64`, `uint8`, `variable-length string`.
    public var description: String {
        switch self {
        case .float(let bytes): return "float\(bytes * 8)"
        case .integer(let bytes, let signed): return "\(signed ? "" : "u")int\(bytes * 8)"
        case .string(let variableLength): return variableLength ? "variable-length string" : "fixed-length string"
        case .other(let name): return name
        }
    }
}

/// The element type to store when creating a dataset or attribute.
public enum HDF5StorageType: Sendable, CustomStringConvertible {
    /// IEEE half precision (little-endian, as numpy/h5py `float16`).
    case float16
    /// IEEE single precision, little-endian.
    case float32
    /// IEEE double precision, little-endian.
    case float64
    /// 32-bit signed integer, little-endian.
    case int32
    /// 64-bit signed integer, little-endian.
    case int64
    /// Unsigned bytes (UTF-8 text stored as bytes, for instance).
    case uint8
    /// Variable-length UTF-8 string (as h5py writes `str`).
    case string

    /// E.g. `float16`, `string`.
    public var description: String {
        switch self {
        case .float16: return "float16"
        case .float32: return "float32"
        case .float64: return "float64"
        case .int32: return "int32"
        case .int64: return "int64"
        case .uint8: return "uint8"
        case .string: return "string"
        }
    }
}
