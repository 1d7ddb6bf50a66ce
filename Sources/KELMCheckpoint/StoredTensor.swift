import Foundation
import KELMHDF5
import KELMNumerics

#if _endian(big)
#error("checkpoint checksums assume little-endian memory")
#endif

/// Writing and reading the datasets of checkpoints and weights files together with their
/// checksum: every dataset carries an int64 attribute `crc32`, the CRC-32 (zlib's) of its stored
/// little-endian bytes, which reading verifies (see `CRC32`).
public enum StoredTensor {
    /// The dataset attribute holding the checksum.
    public static let checksumAttribute = "crc32"

    /// Float storage of a written tensor.
    public enum FloatStorage: String, Sendable, CaseIterable {
        case float32
        case float16

        var hdf5: HDF5StorageType { self == .float32 ? .float32 : .float16 }
    }

    // MARK: Finite values

    /// The index of the first NaN or infinity in `values`, if any.
    public static func firstNonFinite(_ values: UnsafeBufferPointer<Float>) -> Int? {
        values.firstIndex { !$0.isFinite }
    }

    /// Loaded weights, moments and memory rows must be finite: a NaN there (a damaged file whose
    /// checksum was recomputed, or another tool's writer) would only show as a NaN loss later.
    public static func requireFinite(_ values: UnsafeBufferPointer<Float>, file: String, item: String) throws {
        guard let i = firstNonFinite(values) else { return }
        throw CheckpointError(file: file, item: item, "holds \(values[i]) at element \(i); stored weights, moments and memory must be finite")
    }

    // MARK: Writing

    /// Writes `values` as a new dataset `path` of `shape`, as float32 or float16 (rounded to
    /// nearest, ties to even), with its checksum.
    public static func write(_ f: HDF5Location, _ path: String, _ values: UnsafeBufferPointer<Float>, shape: [Int],
                             as storage: FloatStorage = .float32) throws {
        switch storage {
        case .float32:
            try f.writeDataset(path, values, shape: shape, as: .float32)
            try setChecksum(f, path, CRC32.checksum(values))
        case .float16:
            // Round here, so the stored bits are known exactly (HDF5 then stores these values unchanged).
            var bits = [UInt16](repeating: 0, count: values.count)
            var rounded = [Float](repeating: 0, count: values.count)
            for i in 0..<values.count {
                bits[i] = SafetensorsConversion.halfBits(from: values[i])
                rounded[i] = SafetensorsConversion.float(fromHalfBits: bits[i])
            }
            try f.writeDataset(path, rounded, shape: shape, as: .float16)
            try setChecksum(f, path, CRC32.checksum(bits))
        }
    }

    /// Writes `Float16` values unchanged as a new float16 dataset `path` of `shape`, with the
    /// checksum of their bytes (as a float16 `write(_:_:_:shape:as:)` would give).
    public static func write(_ f: HDF5Location, _ path: String, _ values: UnsafeBufferPointer<Float16>, shape: [Int]) throws {
        try f.writeDataset(path, values, shape: shape, as: .float16)
        try setChecksum(f, path, CRC32.checksum(values))
    }

    /// Writes int32 values with their checksum.
    public static func write(_ f: HDF5Location, _ path: String, _ values: [Int32]) throws {
        try f.writeDataset(path, values, as: .int32)
        try setChecksum(f, path, CRC32.checksum(values))
    }

    /// Writes int64 values with their checksum.
    public static func write(_ f: HDF5Location, _ path: String, _ values: [Int64]) throws {
        try f.writeDataset(path, values, as: .int64)
        try setChecksum(f, path, CRC32.checksum(values))
    }

    /// Writes float64 values with their checksum.
    public static func write(_ f: HDF5Location, _ path: String, _ values: [Double]) throws {
        try f.writeDataset(path, values, as: .float64)
        try setChecksum(f, path, CRC32.checksum(values))
    }

    static func setChecksum(_ f: HDF5Location, _ path: String, _ crc: UInt32) throws {
        try f.withDataset(path) { try $0.setAttribute(checksumAttribute, Int64(crc)) }
    }

    // MARK: Reading

    /// Compares the CRC-32 of `bytes` (what was read from `ds`) with the stored attribute.
    /// A dataset without the attribute passes unless `required` (the file promised checksums).
    static func verify(_ ds: HDF5Dataset, _ bytes: UnsafeRawBufferPointer, file: String, item: String, required: Bool) throws {
        try verify(ds, checksum: CRC32.checksum(bytes), file: file, item: item, required: required)
    }

    /// Compares `checksum` (the CRC-32 of what was read from `ds`) with the stored attribute.
    static func verify(_ ds: HDF5Dataset, checksum: UInt32, file: String, item: String, required: Bool) throws {
        guard try ds.hasAttribute(checksumAttribute) else {
            if required { throw CheckpointError(file: file, item: item, "has no crc32 attribute, but the file says every dataset has one: the file is corrupt") }
            return
        }
        let stored = try ds.int64Attribute(checksumAttribute)
        let actual = Int64(checksum)
        guard stored == actual else {
            throw CheckpointError(file: file, item: item, String(format: "checksum mismatch (stored crc32 %08llx, data %08llx): the file is corrupt", stored, actual))
        }
    }

    /// Reads the float dataset `ds` (float32 or float16 storage) into `buffer`, whose count must
    /// equal the element count, and verifies its checksum.
    static func read(_ ds: HDF5Dataset, into buffer: UnsafeMutableBufferPointer<Float>, file: String, item: String,
                     required: Bool) throws {
        let kind = try ds.elementKind()
        try ds.read(into: buffer)
        switch kind {
        case .float(bytes: 4):
            try verify(ds, UnsafeRawBufferPointer(buffer), file: file, item: item, required: required)
        case .float(bytes: 2):
            let bits = buffer.map { SafetensorsConversion.halfBits(from: $0) }
            try bits.withUnsafeBytes { try verify(ds, $0, file: file, item: item, required: required) }
        default:
            throw CheckpointError(file: file, item: item, "is stored as \(kind), expected float32")
        }
    }

    /// Reads the float dataset `ds` into `buffer` as `Float16`, verifying its checksum: float16
    /// storage unchanged; float32 storage in whole rows of `rowWidth`, about `chunkValues` values
    /// at a time (so no float32 copy of the whole tensor is made), each rounded to nearest (ties to even).
    static func read(_ ds: HDF5Dataset, into buffer: UnsafeMutableBufferPointer<Float16>, rowWidth: Int, file: String,
                     item: String, required: Bool, chunkValues: Int = 1 << 22) throws {
        let kind = try ds.elementKind()
        switch kind {
        case .float(bytes: 2):
            try ds.read(into: buffer)
            try verify(ds, UnsafeRawBufferPointer(buffer), file: file, item: item, required: required)
        case .float(bytes: 4):
            let shape = try ds.shape()
            guard let rows = shape.first, rows * rowWidth == buffer.count else {
                throw CheckpointError(file: file, item: item, "has shape \(shape), expected \(buffer.count / max(1, rowWidth)) rows of \(rowWidth)")
            }
            let chunkRows = max(1, min(rows, chunkValues / max(1, rowWidth)))
            let chunk = UnsafeMutableBufferPointer<Float>.allocate(capacity: chunkRows * rowWidth)
            defer { chunk.deallocate() }
            var crc: UInt32 = 0
            var start = 0
            while start < rows {
                let n = min(chunkRows, rows - start)
                let part = UnsafeMutableBufferPointer(rebasing: chunk[0..<(n * rowWidth)])
                try ds.read(rows: start..<(start + n), into: part)
                crc = CRC32.checksum(UnsafeRawBufferPointer(part), continuing: crc)
                let out = buffer.baseAddress! + start * rowWidth
                for i in 0..<part.count { out[i] = Float16(part[i]) }
                start += n
            }
            try verify(ds, checksum: crc, file: file, item: item, required: required)
        default:
            throw CheckpointError(file: file, item: item, "is stored as \(kind), expected float32 or float16")
        }
    }

    /// Reads an int32 dataset and verifies its checksum.
    static func readInt32s(_ ds: HDF5Dataset, file: String, item: String, required: Bool) throws -> [Int32] {
        try requireKind(ds, .integer(bytes: 4, signed: true), file: file, item: item)
        let v = try ds.readInt32s()
        try v.withUnsafeBytes { try verify(ds, $0, file: file, item: item, required: required) }
        return v
    }

    /// Reads an int64 dataset and verifies its checksum.
    static func readInt64s(_ ds: HDF5Dataset, file: String, item: String, required: Bool) throws -> [Int64] {
        try requireKind(ds, .integer(bytes: 8, signed: true), file: file, item: item)
        let v = try ds.readInt64s()
        try v.withUnsafeBytes { try verify(ds, $0, file: file, item: item, required: required) }
        return v
    }

    /// Reads a float64 dataset and verifies its checksum.
    static func readDoubles(_ ds: HDF5Dataset, file: String, item: String, required: Bool) throws -> [Double] {
        try requireKind(ds, .float(bytes: 8), file: file, item: item)
        let v = try ds.readDoubles()
        try v.withUnsafeBytes { try verify(ds, $0, file: file, item: item, required: required) }
        return v
    }

    static func requireKind(_ ds: HDF5Dataset, _ kind: HDF5ElementKind, file: String, item: String) throws {
        let stored = try ds.elementKind()
        guard stored == kind else { throw CheckpointError(file: file, item: item, "is stored as \(stored), expected \(kind)") }
    }
}

/// Computes the CRC-32 of each of a list of buffers on a background thread (the caller keeps
/// the buffers alive and unchanged until `wait` returns), so that checksumming overlaps writing.
final class ChecksumWorker: @unchecked Sendable {
    private let group = DispatchGroup()
    private var results: [UInt32]

    init(_ buffers: [UnsafeRawBufferPointer]) {
        let spans = buffers.map { (address: UInt(bitPattern: $0.baseAddress), count: $0.count) }
        results = []
        DispatchQueue.global(qos: .userInitiated).async(group: group) { [self] in
            results = spans.map { s in
                CRC32.checksum(UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: s.address), count: s.count))
            }
        }
    }

    /// Waits for the checksums (in the order of the buffers); safe to call more than once.
    @discardableResult
    func wait() -> [UInt32] {
        group.wait()
        return results
    }
}
