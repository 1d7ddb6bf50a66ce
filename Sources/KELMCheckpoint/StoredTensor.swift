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
        guard try ds.hasAttribute(checksumAttribute) else {
            if required { throw CheckpointError(file: file, item: item, "has no crc32 attribute, but the file says every dataset has one: the file is corrupt") }
            return
        }
        let stored = try ds.int64Attribute(checksumAttribute)
        let actual = Int64(CRC32.checksum(bytes))
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

    init(_ buffers: [UnsafeBufferPointer<Float>]) {
        let spans = buffers.map { (address: UInt(bitPattern: $0.baseAddress), count: $0.count) }
        results = []
        DispatchQueue.global(qos: .userInitiated).async(group: group) { [self] in
            results = spans.map { s in
                CRC32.checksum(UnsafeBufferPointer(start: UnsafePointer<Float>(bitPattern: s.address), count: s.count))
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
