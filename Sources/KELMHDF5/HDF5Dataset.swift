import CHDF5

/// An open dataset. Create or open one through `HDF5Location` (`createDataset`, `openDataset`,
/// `withDataset`), or write one in a single call with `HDF5Location.writeDataset`.
///
/// Reads check the stored element kind (float, integer, string) against the requested Swift type
/// and convert within a kind; writes check the value count against the dataset's element count.
public final class HDF5Dataset: HDF5Object {
    init(id: hid_t, site: Site, parent: HDF5Location) {
        super.init(id: id, site: site, parent: parent, closeCall: "H5Dclose", closeFunction: H5Dclose)
    }

    private var io: DataIO { DataIO(id: id, isDataset: true, site: site) }

    /// The dataset's dimensions; `[]` for a scalar.
    public func shape() throws -> [Int] { try io.shape() }

    /// How the dataset's elements are stored.
    public func elementKind() throws -> HDF5ElementKind { try io.kind() }

    // MARK: Writing (the count must equal the dataset's element count)

    /// Writes floats to a float dataset (float16 storage: rounded to `Float16`).
    public func write(_ values: [Float]) throws { try values.withUnsafeBufferPointer { try io.writeFloatingPoint($0) } }

    /// Writes floats to a float dataset (float16 storage: rounded to `Float16`).
    public func write(_ values: UnsafeBufferPointer<Float>) throws { try io.writeFloatingPoint(values) }

    /// Writes `Float16` values to a float dataset (stored unchanged in float16 storage, widened
    /// exactly in wider storage).
    public func write(_ values: UnsafeBufferPointer<Float16>) throws { try io.writeHalves(values) }

    /// Writes doubles to a float dataset.
    public func write(_ values: [Double]) throws {
        try values.withUnsafeBufferPointer { try io.writeFloatingPoint($0) }
    }

    /// Writes 32-bit integers to an integer dataset; values must fit the stored type.
    public func write(_ values: [Int32]) throws { try values.withUnsafeBufferPointer { try io.writeIntegers($0) } }

    /// Writes 64-bit integers to an integer dataset; values must fit the stored type.
    public func write(_ values: [Int64]) throws { try values.withUnsafeBufferPointer { try io.writeIntegers($0) } }

    /// Writes strings to a variable-length string dataset.
    public func write(_ values: [String]) throws { try io.writeStrings(values) }

    // MARK: Reading everything

    /// All elements as `Float`, from float16, float32 or float64 storage.
    public func readFloats() throws -> [Float] { try io.readFloatingPoint(Float.self) }

    /// All elements as `Float` into `buffer`, whose count must equal the element count.
    public func read(into buffer: UnsafeMutableBufferPointer<Float>) throws { try io.readFloats(into: buffer) }

    /// All elements of a float16 dataset, unchanged, into `buffer`, whose count must equal the
    /// element count; other storage is a `.wrongElementKind` error (it would need rounding).
    public func read(into buffer: UnsafeMutableBufferPointer<Float16>) throws { try io.readHalves(into: buffer) }

    /// All elements as `Double`, from float storage of any size.
    public func readDoubles() throws -> [Double] { try io.readFloatingPoint(Double.self) }

    /// All elements as `Int32`, from integer storage; throws `.outOfRange` for a value that does not fit.
    public func readInt32s() throws -> [Int32] { try io.readIntegers(Int32.self) }

    /// All elements as `Int64`, from integer storage; throws `.outOfRange` for a value that does not fit.
    public func readInt64s() throws -> [Int64] { try io.readIntegers(Int64.self) }

    /// All elements as strings, variable- or fixed-length.
    public func readStrings() throws -> [String] { try io.readStrings() }

    /// All elements (or `rows`) of an unsigned 8-bit dataset.
    public func readBytes(rows: Range<Int>? = nil) throws -> [UInt8] { try io.readBytes(rows: rows) }

    /// Writes every element of an unsigned 8-bit dataset.
    public func write(_ values: [UInt8]) throws { try values.withUnsafeBufferPointer { try io.writeBytes($0) } }

    /// The single element of a scalar (or one-element) integer dataset.
    public func readInt64() throws -> Int64 { try io.single(try readInt64s()) }

    /// The single element of a scalar (or one-element) float dataset.
    public func readDouble() throws -> Double { try io.single(try readDoubles()) }

    /// The single element of a scalar (or one-element) string dataset.
    public func readString() throws -> String { try io.single(try readStrings()) }

    // MARK: Reading rows (a hyperslab along the first dimension)

    /// Rows `rows` of the first dimension (e.g. rows of a 2-D matrix, elements of a 1-D array),
    /// row-major, as `Float`. Throws `.outOfRange` unless `0 <= rows.lowerBound` and
    /// `rows.upperBound <= shape[0]`.
    public func readFloats(rows: Range<Int>) throws -> [Float] { try io.readFloatingPoint(Float.self, rows: rows) }

    /// Rows `rows` of the first dimension as `Float` into `buffer`, whose count must equal
    /// `rows.count` times the size of one row.
    public func read(rows: Range<Int>, into buffer: UnsafeMutableBufferPointer<Float>) throws {
        try io.readFloats(rows: rows, into: buffer)
    }

    /// Rows `rows` of the first dimension as `Int32`.
    public func readInt32s(rows: Range<Int>) throws -> [Int32] { try io.readIntegers(Int32.self, rows: rows) }

    /// Rows `rows` of the first dimension as `Int64`.
    public func readInt64s(rows: Range<Int>) throws -> [Int64] { try io.readIntegers(Int64.self, rows: rows) }
}
