import Foundation
import KELMHDF5
import KELMNumerics

/// How a dataset file stores its data so that damage is found, never loaded (format 3):
/// - every dataset carries `crc32`, the CRC-32 of its stored little-endian bytes, compared when
///   the dataset is read whole;
/// - the per-token datasets, read by rows (each rank reads only its own segments), also carry
///   `crc32_chunks`, one CRC-32 per `crc32_chunk_elements` elements: a row read checks the chunks
///   it touches, each once per process;
/// - strings are UTF-8 bytes (`uint8`) with offsets, not HDF5 variable-length strings, whose
///   global heap has no checksum (a flipped byte there crashed or hung HDF5 itself);
/// - the file uses HDF5's checksummed 1.8 object formats from its superblock on (written in
///   memory, `HDF5File.createInMemory`).
enum ChecksummedData {
    static let attribute = "crc32"
    static let chunksAttribute = "crc32_chunks"
    static let chunkElementsAttribute = "crc32_chunk_elements"
    /// Elements per checksummed chunk of a row-read dataset (384 KB of int32; a multiple of 3, so
    /// that the mention table's rows of three never straddle two chunks).
    static let chunkElements = 3 << 15

    // MARK: Writing

    static func write(_ f: HDF5File, _ path: String, _ values: [Int32], shape: [Int]? = nil, chunked: Bool = false) throws {
        try f.writeDataset(path, values, shape: shape)
        try values.withUnsafeBytes { try seal(f, path, $0, elementSize: 4, chunked: chunked) }
    }

    static func write(_ f: HDF5File, _ path: String, _ values: [Int64], shape: [Int]? = nil) throws {
        try f.writeDataset(path, values, shape: shape)
        try values.withUnsafeBytes { try seal(f, path, $0, elementSize: 8, chunked: false) }
    }

    static func write(_ f: HDF5File, _ path: String, _ values: [UInt8]) throws {
        try f.writeDataset(path, values)
        try values.withUnsafeBytes { try seal(f, path, $0, elementSize: 1, chunked: false) }
    }

    /// A list of strings as the group `path` holding `utf8` (every string's UTF-8 bytes, one
    /// after the other) and `offsets` ([n + 1] int64: string i is bytes offsets[i] ..< offsets[i+1]).
    static func write(_ f: HDF5File, _ path: String, strings: [String]) throws {
        var bytes: [UInt8] = []
        var offsets: [Int64] = [0]
        offsets.reserveCapacity(strings.count + 1)
        for s in strings {
            bytes += Array(s.utf8)
            offsets.append(Int64(bytes.count))
        }
        try write(f, path + "/utf8", bytes)
        try write(f, path + "/offsets", offsets)
    }

    private static func seal(_ f: HDF5File, _ path: String, _ bytes: UnsafeRawBufferPointer, elementSize: Int, chunked: Bool) throws {
        try f.withDataset(path) { ds in
            try ds.setAttribute(attribute, Int64(CRC32.checksum(bytes)))
            if chunked {
                let chunkBytes = chunkElements * elementSize
                let crcs = stride(from: 0, to: bytes.count, by: chunkBytes).map { start in
                    Int64(CRC32.checksum(UnsafeRawBufferPointer(rebasing: bytes[start..<min(bytes.count, start + chunkBytes)])))
                }
                try ds.setAttribute(chunksAttribute, crcs)
                try ds.setAttribute(chunkElementsAttribute, Int64(chunkElements))
            }
        }
    }

    // MARK: Reading (verified)

    static func damaged(_ file: String, _ path: String, stored: Int64, computed: UInt32) -> DataError {
        DataError(.corrupt, file: file, field: path,
                  "checksum mismatch (stored crc32 \(stored), computed \(computed)): the data is damaged; prepare the dataset again")
    }

    static func verify(_ ds: HDF5Dataset, _ bytes: UnsafeRawBufferPointer, file: String, path: String) throws {
        guard try ds.hasAttribute(attribute) else {
            throw DataError(.corrupt, file: file, field: path, "has no crc32 attribute; expected one on every dataset of a format-3 file")
        }
        let stored = try ds.int64Attribute(attribute), computed = CRC32.checksum(bytes)
        guard stored == Int64(computed) else { throw damaged(file, path, stored: stored, computed: computed) }
    }

    static func readInt32s(_ f: HDF5File, _ path: String, file: String) throws -> [Int32] {
        try f.withDataset(path) { ds in
            let values = try ds.readInt32s()
            try values.withUnsafeBytes { try verify(ds, $0, file: file, path: path) }
            return values
        }
    }

    static func readInt64s(_ f: HDF5File, _ path: String, file: String) throws -> [Int64] {
        try f.withDataset(path) { ds in
            let values = try ds.readInt64s()
            try values.withUnsafeBytes { try verify(ds, $0, file: file, path: path) }
            return values
        }
    }

    /// The strings of the group `path` (see `write(_:_:strings:)`), checked: offsets rising from
    /// 0 to the byte count, every string valid UTF-8.
    static func readStrings(_ f: HDF5File, _ path: String, file: String) throws -> [String] {
        let bytes = try f.withDataset(path + "/utf8") { ds in
            let values = try ds.readBytes()
            try values.withUnsafeBytes { try verify(ds, $0, file: file, path: path + "/utf8") }
            return values
        }
        let offsets = try readInt64s(f, path + "/offsets", file: file)
        let total = Int64(bytes.count)
        var rising = true
        for i in 1..<max(1, offsets.count) where offsets[i - 1] > offsets[i] { rising = false }
        guard offsets.first == 0, offsets.last == total, rising else {
            throw DataError(.corrupt, file: file, field: path + "/offsets", "expected offsets rising from 0 to \(bytes.count)")
        }
        return try (0..<(offsets.count - 1)).map { i in
            let piece = bytes[Int(offsets[i])..<Int(offsets[i + 1])]
            guard let s = String(validating: piece, as: UTF8.self) else {
                throw DataError(.corrupt, file: file, field: path, "string \(i) is not valid UTF-8")
            }
            return s
        }
    }
}

/// A per-token dataset read by rows, each row range checked against the chunk checksums it
/// touches (each chunk read and checked once per process: a rank reading its own segments checks
/// only what it reads).
final class ChunkCheckedRows {
    let dataset: HDF5Dataset
    let file: String, path: String
    let count: Int
    let chunk: Int
    let crcs: [Int64]
    private var checked: [Bool]

    init(_ f: HDF5File, _ path: String, file: String) throws {
        self.file = file
        self.path = path
        let ds = try f.openDataset(path)
        do {
            let shape = try ds.shape()
            count = shape.reduce(1, *)
            let rowWidth = shape.dropFirst().reduce(1, *)
            guard try ds.hasAttribute(ChecksummedData.chunksAttribute), try ds.hasAttribute(ChecksummedData.chunkElementsAttribute) else {
                throw DataError(.corrupt, file: file, field: path, "has no crc32_chunks; expected them on every per-token dataset of a format-3 file")
            }
            chunk = Int(try ds.int64Attribute(ChecksummedData.chunkElementsAttribute))
            crcs = try ds.withAttribute(ChecksummedData.chunksAttribute) { try $0.readInt64s() }
            guard chunk > 0, chunk % max(1, rowWidth) == 0, crcs.count == (count + chunk - 1) / chunk else {
                throw DataError(.corrupt, file: file, field: path, "has \(crcs.count) chunk checksums of \(chunk) elements for \(count) elements")
            }
            checked = Array(repeating: false, count: crcs.count)
            dataset = ds
        } catch {
            try? ds.close()  // the first error is the one to report
            throw error
        }
    }

    /// The int32 elements of rows `rows` (of the dataset's first dimension; `rowWidth` elements each).
    func readInt32s(rows: Range<Int>, rowWidth: Int = 1) throws -> [Int32] {
        let elements = (rows.lowerBound * rowWidth)..<(rows.upperBound * rowWidth)
        guard !elements.isEmpty else { return [] }
        for k in (elements.lowerBound / chunk)...((elements.upperBound - 1) / chunk) where !checked[k] {
            let span = (k * chunk)..<min(count, (k + 1) * chunk)
            let values = try dataset.readInt32s(rows: (span.lowerBound / rowWidth)..<(span.upperBound / rowWidth))
            let computed = values.withUnsafeBytes { CRC32.checksum($0) }
            guard crcs[k] == Int64(computed) else {
                throw ChecksummedData.damaged(file, "\(path) (elements \(span))", stored: crcs[k], computed: computed)
            }
            checked[k] = true
        }
        return try dataset.readInt32s(rows: rows)
    }

    func close() throws { try dataset.close() }
}
