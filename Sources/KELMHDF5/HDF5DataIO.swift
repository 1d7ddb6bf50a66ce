import CHDF5
import Foundation

/// Numeric Swift types with a matching HDF5 native (memory) type.
protocol NativeElement {
    /// The HDF5 native type describing this Swift type in memory.
    static var nativeType: hid_t { get }
    /// The Swift type's name, for error messages.
    static var swiftName: String { get }
}

extension Float: NativeElement {
    static var nativeType: hid_t { kelm_h5t_native_float() }
    static var swiftName: String { "Float" }
}

extension Double: NativeElement {
    static var nativeType: hid_t { kelm_h5t_native_double() }
    static var swiftName: String { "Double" }
}

extension Int32: NativeElement {
    static var nativeType: hid_t { kelm_h5t_native_int32() }
    static var swiftName: String { "Int32" }
}

extension Int64: NativeElement {
    static var nativeType: hid_t { kelm_h5t_native_int64() }
    static var swiftName: String { "Int64" }
}

extension UInt8: NativeElement {
    static var nativeType: hid_t { kelm_h5t_native_uint8() }
    static var swiftName: String { "UInt8" }
}

extension UInt64: NativeElement {
    static var nativeType: hid_t { kelm_h5t_native_uint64() }
    static var swiftName: String { "UInt64" }
}

/// Reading and writing shared by datasets and attributes: the element-kind checks, count checks,
/// conversions and the `H5Dread`/`H5Aread` (`H5Dwrite`/`H5Awrite`) calls.
struct DataIO {
    /// The dataset or attribute identifier.
    let id: hid_t
    /// Dataset (`H5D*` calls) or attribute (`H5A*` calls).
    let isDataset: Bool
    let site: Site

    private var readCall: String { isDataset ? "H5Dread" : "H5Aread" }
    private var writeCall: String { isDataset ? "H5Dwrite" : "H5Awrite" }
    private var noun: String { isDataset ? "dataset" : "attribute" }

    // MARK: Shape and type

    func dataspace() throws -> Dataspace {
        if isDataset {
            return Dataspace(id: try h5check(H5Dget_space(id), "H5Dget_space", site), site: site)
        }
        return Dataspace(id: try h5check(H5Aget_space(id), "H5Aget_space", site), site: site)
    }

    func datatype() throws -> Datatype {
        if isDataset {
            return Datatype(id: try h5check(H5Dget_type(id), "H5Dget_type", site), site: site)
        }
        return Datatype(id: try h5check(H5Aget_type(id), "H5Aget_type", site), site: site)
    }

    func shape() throws -> [Int] {
        try withClosing(try dataspace()) { try $0.shape() }
    }

    func kind() throws -> HDF5ElementKind {
        try withClosing(try datatype()) { try $0.kind() }
    }

    // MARK: Reading

    /// Reads all elements as `T` (a floating-point type); the stored elements must be floats of
    /// any size, which HDF5 converts. `rows` restricts a dataset read to rows of its first dimension.
    func readFloatingPoint<T: NativeElement & BinaryFloatingPoint>(_: T.Type, rows: Range<Int>? = nil) throws -> [T] {
        try requireFloat(reading: T.swiftName)
        return try read(T.self, memoryType: T.nativeType, rows: rows)
    }

    /// Reads floats into `buffer`, which must hold exactly as many elements as are selected.
    func readFloats(rows: Range<Int>? = nil, into buffer: UnsafeMutableBufferPointer<Float>) throws {
        try requireFloat(reading: "Float")
        try withSelection(rows: rows) { selection in
            guard buffer.count == selection.count else {
                throw site.error(.sizeMismatch, readCall,
                                 "buffer holds \(buffer.count) elements but the \(selection.what) has \(selection.count)")
            }
            guard selection.count > 0, let base = buffer.baseAddress else { return }
            try rawRead(memoryType: Float.nativeType, selection: selection, into: base)
        }
    }

    /// Reads float16 elements unchanged into `buffer` (which must hold exactly as many elements
    /// as are selected). Only float16 storage is accepted: any other would need rounding, which
    /// the caller must do itself (read `Float`, then round).
    func readHalves(rows: Range<Int>? = nil, into buffer: UnsafeMutableBufferPointer<Float16>) throws {
        let kind = try kind()
        guard kind == .float(bytes: 2) else {
            throw wrongKind(kind, call: readCall, "cannot be read as Float16 without rounding (read Float instead)")
        }
        try withSelection(rows: rows) { selection in
            guard buffer.count == selection.count else {
                throw site.error(.sizeMismatch, readCall,
                                 "buffer holds \(buffer.count) elements but the \(selection.what) has \(selection.count)")
            }
            guard selection.count > 0, let base = buffer.baseAddress else { return }
            try withClosing(try Datatype.half(site: site)) { half in
                try rawRead(memoryType: half.id, selection: selection, into: base)
            }
        }
    }

    /// Reads all elements as `T` (a signed integer type); the stored elements must be integers.
    /// Stored types that always fit are converted by HDF5; wider ones are read at 64 bits and
    /// narrowed here, throwing `.outOfRange` for a value that does not fit (HDF5 would clip it).
    func readIntegers<T: NativeElement & FixedWidthInteger & SignedInteger>(_: T.Type,
                                                                             rows: Range<Int>? = nil) throws -> [T] {
        let kind = try kind()
        guard case .integer(let bytes, let signed) = kind else {
            throw wrongKind(kind, call: readCall, "cannot be read as \(T.swiftName)")
        }
        let alwaysFits = signed ? bytes <= MemoryLayout<T>.size : bytes < MemoryLayout<T>.size
        if alwaysFits {
            return try read(T.self, memoryType: T.nativeType, rows: rows)
        }
        if signed {
            return try narrow(try read(Int64.self, memoryType: Int64.nativeType, rows: rows), to: T.self, from: kind)
        }
        return try narrow(try read(UInt64.self, memoryType: UInt64.nativeType, rows: rows), to: T.self, from: kind)
    }

    /// Reads all elements (or `rows`) as bytes; the stored elements must be unsigned 8-bit integers.
    func readBytes(rows: Range<Int>? = nil) throws -> [UInt8] {
        let kind = try kind()
        guard kind == .integer(bytes: 1, signed: false) else { throw wrongKind(kind, call: readCall, "cannot be read as UInt8 bytes") }
        return try read(UInt8.self, memoryType: UInt8.nativeType, rows: rows)
    }

    /// Writes bytes to a dataset of unsigned 8-bit integers.
    func writeBytes(_ values: UnsafeBufferPointer<UInt8>) throws {
        let kind = try kind()
        guard kind == .integer(bytes: 1, signed: false) else { throw wrongKind(kind, call: writeCall, "cannot be written from UInt8 bytes") }
        try write(memoryType: UInt8.nativeType, count: values.count, from: values.baseAddress)
    }

    /// Reads all elements as strings, variable-length (the library's buffers are reclaimed) or
    /// fixed-length (cut at the first NUL; trailing spaces of space-padded strings removed).
    func readStrings() throws -> [String] {
        try withClosing(try datatype()) { fileType in
            let kind = try fileType.kind()
            guard case .string(let variableLength) = kind else {
                throw wrongKind(kind, call: readCall, "cannot be read as String")
            }
            return try withClosing(try dataspace()) { space in
                let count = elementCount(of: try space.shape())
                if count == 0 { return [] }
                if variableLength {
                    return try readVariableLengthStrings(count: count, fileType: fileType, space: space)
                }
                return try readFixedLengthStrings(count: count, fileType: fileType)
            }
        }
    }

    /// The only element of a one-element (usually scalar) dataset or attribute.
    func single<T>(_ values: [T]) throws -> T {
        guard values.count == 1, let value = values.first else {
            throw site.error(.sizeMismatch, readCall,
                             "expected a single value but the \(noun) has \(values.count) elements")
        }
        return value
    }

    // MARK: Writing

    /// Writes floating-point values to a float dataset or attribute; to float16 storage they are
    /// first rounded to Swift `Float16`, otherwise HDF5 converts them.
    func writeFloatingPoint<T: NativeElement & BinaryFloatingPoint>(_ values: UnsafeBufferPointer<T>) throws {
        let kind = try kind()
        guard case .float(let bytes) = kind else {
            throw wrongKind(kind, call: writeCall, "cannot be written from \(T.swiftName) values")
        }
        if bytes == 2 {
            let halves = values.map { Float16($0) }
            try withClosing(try Datatype.half(site: site)) { half in
                try halves.withUnsafeBytes { try write(memoryType: half.id, count: halves.count, from: $0.baseAddress) }
            }
        } else {
            try write(memoryType: T.nativeType, count: values.count, from: values.baseAddress)
        }
    }

    /// Writes `Float16` values to a float dataset or attribute (to float32 or float64 storage
    /// HDF5 widens them, which is exact).
    func writeHalves(_ values: UnsafeBufferPointer<Float16>) throws {
        let kind = try kind()
        guard case .float = kind else {
            throw wrongKind(kind, call: writeCall, "cannot be written from Float16 values")
        }
        try withClosing(try Datatype.half(site: site)) { half in
            try write(memoryType: half.id, count: values.count, from: values.baseAddress)
        }
    }

    /// Writes integers to an integer dataset or attribute, refusing values that do not fit the
    /// stored type (HDF5 would clip them silently).
    func writeIntegers<T: NativeElement & FixedWidthInteger & SignedInteger>(_ values: UnsafeBufferPointer<T>) throws {
        let kind = try kind()
        guard case .integer(let bytes, let signed) = kind else {
            throw wrongKind(kind, call: writeCall, "cannot be written from \(T.swiftName) values")
        }
        let bits = bytes * 8
        if bits < T.bitWidth || !signed {
            let lowest: Int64 = signed ? -(1 << (bits - 1)) : 0
            let highest: Int64 = signed ? (1 << (bits - 1)) - 1 : (bits >= 63 ? .max : (1 << bits) - 1)
            if let bad = values.first(where: { Int64($0) < lowest || Int64($0) > highest }) {
                throw site.error(.outOfRange, writeCall, "value \(bad) does not fit the \(noun)'s \(kind) elements")
            }
        }
        try write(memoryType: T.nativeType, count: values.count, from: values.baseAddress)
    }

    /// Writes strings to a variable-length string dataset or attribute.
    func writeStrings(_ values: [String]) throws {
        try withClosing(try datatype()) { fileType in
            let kind = try fileType.kind()
            guard case .string(variableLength: true) = kind else {
                throw wrongKind(kind, call: writeCall,
                                "cannot be written from String values (only variable-length strings can)")
            }
            if let bad = values.firstIndex(where: { $0.utf8.contains(0) }) {
                throw site.error(.invalidArgument, writeCall,
                                 "string \(bad) contains a NUL character, which HDF5 strings cannot hold")
            }
            let memoryType = try Datatype.variableLengthString(characterSet: try fileType.characterSet(), site: site)
            try withClosing(memoryType) { memoryType in
                let copies = values.map { strdup($0) }
                defer { copies.forEach { free($0) } }
                guard !copies.contains(where: { $0 == nil }) else {
                    throw site.error(.invalidArgument, writeCall, "out of memory copying strings")
                }
                try copies.withUnsafeBytes { bytes in
                    try write(memoryType: memoryType.id, count: copies.count, from: bytes.baseAddress)
                }
            }
        }
    }

    // MARK: Internals

    /// What a read or write touches: all elements, or rows of a dataset (then with a memory and
    /// a file dataspace describing them).
    struct Selection {
        let count: Int
        let memorySpace: hid_t
        let fileSpace: hid_t
        /// "dataset of shape [4, 3]" or "selection of rows 1..<3 (shape [2, 3])", for messages.
        let what: String
    }

    /// Runs `body` with the selection of all elements or of `rows` along the first dimension.
    private func withSelection<Result>(rows: Range<Int>?, _ body: (Selection) throws -> Result) throws -> Result {
        try withClosing(try dataspace()) { fileSpace in
            let shape = try fileSpace.shape()
            let all = kelm_h5s_all()
            guard let rows else {
                return try body(Selection(count: elementCount(of: shape), memorySpace: all, fileSpace: all,
                                          what: "\(noun) of shape \(shape)"))
            }
            guard isDataset, let rowCount = shape.first else {
                throw site.error(.sizeMismatch, "H5Sselect_hyperslab", "cannot select rows of a scalar or an attribute")
            }
            guard rows.lowerBound >= 0, rows.upperBound <= rowCount else {
                throw site.error(.outOfRange, "H5Sselect_hyperslab",
                                 "rows \(rows.lowerBound)..<\(rows.upperBound) are out of range for a dataset of shape \(shape)")
            }
            let rowShape = [rows.count] + shape.dropFirst()
            let what = "selection of rows \(rows.lowerBound)..<\(rows.upperBound) (shape \(rowShape))"
            if rows.isEmpty {
                return try body(Selection(count: 0, memorySpace: all, fileSpace: all, what: what))
            }
            try fileSpace.selectRows(rows, of: shape)
            return try withClosing(try Dataspace.create(shape: rowShape, site: site)) { memorySpace in
                try body(Selection(count: elementCount(of: rowShape), memorySpace: memorySpace.id,
                                   fileSpace: fileSpace.id, what: what))
            }
        }
    }

    /// Reads the selected elements, converted by HDF5 to `memoryType` (which must describe `T`).
    private func read<T>(_: T.Type, memoryType: hid_t, rows: Range<Int>?) throws -> [T] {
        try withSelection(rows: rows) { selection in
            try [T](unsafeUninitializedCapacity: selection.count) { buffer, initialized in
                if selection.count > 0, let base = buffer.baseAddress {
                    try rawRead(memoryType: memoryType, selection: selection, into: base)
                }
                initialized = selection.count
            }
        }
    }

    private func rawRead(memoryType: hid_t, selection: Selection, into buffer: UnsafeMutableRawPointer) throws {
        if isDataset {
            try h5check(H5Dread(id, memoryType, selection.memorySpace, selection.fileSpace, kelm_h5p_default(), buffer),
                        "H5Dread", site)
        } else {
            try h5check(H5Aread(id, memoryType, buffer), "H5Aread", site)
        }
    }

    /// Writes `count` elements described by `memoryType` to the whole dataset or attribute,
    /// after checking that `count` is its element count.
    private func write(memoryType: hid_t, count: Int, from buffer: UnsafeRawPointer?) throws {
        let shape = try shape()
        guard count == elementCount(of: shape) else {
            throw site.error(.sizeMismatch, writeCall,
                             "\(count) values given for a \(noun) of shape \(shape) (\(elementCount(of: shape)) elements)")
        }
        guard count > 0, let buffer else { return }
        if isDataset {
            let all = kelm_h5s_all()
            try h5check(H5Dwrite(id, memoryType, all, all, kelm_h5p_default(), buffer), "H5Dwrite", site)
        } else {
            try h5check(H5Awrite(id, memoryType, buffer), "H5Awrite", site)
        }
    }

    private func readVariableLengthStrings(count: Int, fileType: Datatype, space: Dataspace) throws -> [String] {
        let memoryType = try Datatype.variableLengthString(characterSet: try fileType.characterSet(), site: site)
        return try withClosing(memoryType) { memoryType in
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
            let all = Selection(count: count, memorySpace: kelm_h5s_all(), fileSpace: kelm_h5s_all(), what: noun)
            // Frees the strings HDF5 allocated during the read.
            func reclaim() -> herr_t {
                pointers.withUnsafeMutableBytes { bytes in
                    H5Dvlen_reclaim(memoryType.id, space.id, kelm_h5p_default(), bytes.baseAddress)
                }
            }
            do {
                try pointers.withUnsafeMutableBytes { bytes in
                    guard let base = bytes.baseAddress else { return }
                    try rawRead(memoryType: memoryType.id, selection: all, into: base)
                }
            } catch {
                _ = reclaim()  // Already failing; the read error is the one to report.
                throw error
            }
            let strings = pointers.map { pointer in pointer.map { String(cString: $0) } ?? "" }
            try h5check(reclaim(), "H5Dvlen_reclaim", site)
            return strings
        }
    }

    private func readFixedLengthStrings(count: Int, fileType: Datatype) throws -> [String] {
        let size = try fileType.size()
        let spacePadded = try fileType.stringPadding() == H5T_STR_SPACEPAD
        var bytes = [UInt8](repeating: 0, count: count * size)
        let all = Selection(count: count, memorySpace: kelm_h5s_all(), fileSpace: kelm_h5s_all(), what: noun)
        try bytes.withUnsafeMutableBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            try rawRead(memoryType: fileType.id, selection: all, into: base)
        }
        return (0..<count).map { index in
            var text = bytes[(index * size)..<((index + 1) * size)]
            if let end = text.firstIndex(of: 0) { text = text[..<end] }
            while spacePadded, text.last == 0x20 { text = text.dropLast() }
            return String(decoding: text, as: UTF8.self)
        }
    }

    private func requireFloat(reading swiftName: String) throws {
        let kind = try kind()
        guard case .float = kind else {
            throw wrongKind(kind, call: readCall, "cannot be read as \(swiftName)")
        }
    }

    private func narrow<Source: BinaryInteger, Target: NativeElement & FixedWidthInteger>(
        _ values: [Source], to: Target.Type, from kind: HDF5ElementKind
    ) throws -> [Target] {
        var narrowed: [Target] = []
        narrowed.reserveCapacity(values.count)
        for value in values {
            guard let exact = Target(exactly: value) else {
                throw site.error(.outOfRange, readCall, "\(kind) value \(value) does not fit in \(Target.swiftName)")
            }
            narrowed.append(exact)
        }
        return narrowed
    }

    private func wrongKind(_ kind: HDF5ElementKind, call: String, _ what: String) -> HDF5Error {
        site.error(.wrongElementKind, call, "the \(noun) holds \(kind) elements, which \(what)")
    }
}
