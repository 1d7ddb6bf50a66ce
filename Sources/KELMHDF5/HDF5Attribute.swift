import CHDF5

/// An open attribute of a file (root group), group or dataset.
///
/// Open or create one through `HDF5Object` (`openAttribute`, `createAttribute`), or use the
/// one-call helpers there (`setAttribute`, `int64Attribute`, …).
public final class HDF5Attribute: HDF5Handle {
    /// The attribute's name.
    public let name: String
    /// Path of the object the attribute is attached to.
    public let ownerPath: String

    init(id: hid_t, name: String, owner: HDF5Object, site: Site) {
        self.name = name
        self.ownerPath = owner.objectPath
        super.init(id: id, site: site, parent: owner, closeCall: "H5Aclose", closeFunction: H5Aclose)
    }

    private var io: DataIO { DataIO(id: id, isDataset: false, site: site) }

    /// The attribute's dimensions; `[]` for a scalar.
    public func shape() throws -> [Int] { try io.shape() }

    /// How the attribute's elements are stored.
    public func elementKind() throws -> HDF5ElementKind { try io.kind() }

    // MARK: Writing (the count must equal the attribute's element count)

    /// Writes floats to a float attribute (float16 storage: rounded to `Float16`).
    public func write(_ values: [Float]) throws { try values.withUnsafeBufferPointer { try io.writeFloatingPoint($0) } }

    /// Writes doubles to a float attribute.
    public func write(_ values: [Double]) throws {
        try values.withUnsafeBufferPointer { try io.writeFloatingPoint($0) }
    }

    /// Writes 32-bit integers to an integer attribute; values must fit the stored type.
    public func write(_ values: [Int32]) throws { try values.withUnsafeBufferPointer { try io.writeIntegers($0) } }

    /// Writes 64-bit integers to an integer attribute; values must fit the stored type.
    public func write(_ values: [Int64]) throws { try values.withUnsafeBufferPointer { try io.writeIntegers($0) } }

    /// Writes strings to a variable-length string attribute.
    public func write(_ values: [String]) throws { try io.writeStrings(values) }

    // MARK: Reading

    /// All elements as `Float`, from float16, float32 or float64 storage.
    public func readFloats() throws -> [Float] { try io.readFloatingPoint(Float.self) }

    /// All elements as `Double`, from float storage of any size.
    public func readDoubles() throws -> [Double] { try io.readFloatingPoint(Double.self) }

    /// All elements as `Int32`, from integer storage; throws `.outOfRange` for a value that does not fit.
    public func readInt32s() throws -> [Int32] { try io.readIntegers(Int32.self) }

    /// All elements as `Int64`, from integer storage; throws `.outOfRange` for a value that does not fit.
    public func readInt64s() throws -> [Int64] { try io.readIntegers(Int64.self) }

    /// All elements as strings, variable- or fixed-length.
    public func readStrings() throws -> [String] { try io.readStrings() }

    /// The single element of a scalar (or one-element) integer attribute.
    public func readInt64() throws -> Int64 { try io.single(try readInt64s()) }

    /// The single element of a scalar (or one-element) float attribute.
    public func readDouble() throws -> Double { try io.single(try readDoubles()) }

    /// The single element of a scalar (or one-element) string attribute.
    public func readString() throws -> String { try io.single(try readStrings()) }
}
