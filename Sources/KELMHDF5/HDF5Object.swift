import CHDF5

/// An open object that can carry attributes: a file (its root group), a group or a dataset.
///
/// The `setAttribute` helpers replace an attribute of the same name, like h5py's
/// `obj.attrs[name] = value`; scalars are stored as scalar (0-d) attributes, arrays as 1-d.
public class HDF5Object: HDF5Handle {
    /// Path of the object inside the file; `"/"` for the root group.
    public var objectPath: String { site.object }

    /// The site used in errors about attribute `name`.
    func attributeSite(_ name: String) -> Site {
        Site(file: site.file, object: "\(objectPath) attribute \"\(name)\"")
    }

    // MARK: Attribute handles

    /// Whether the object has an attribute called `name`.
    public func hasAttribute(_ name: String) throws -> Bool {
        try h5check(H5Aexists(id, name), "H5Aexists", attributeSite(name)) > 0
    }

    /// Names of the object's attributes, in name order.
    public func attributeNames() throws -> [String] {
        var info = H5O_info_t()
        try h5check(H5Oget_info2(id, &info, H5O_INFO_NUM_ATTRS), "H5Oget_info2", site)
        return try (0..<info.num_attrs).map { index in
            try readName("H5Aget_name_by_idx", site) { buffer, size in
                H5Aget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, buffer, size, kelm_h5p_default())
            }
        }
    }

    /// Opens the attribute `name`; close it when done.
    public func openAttribute(_ name: String) throws -> HDF5Attribute {
        let site = attributeSite(name)
        let id = try h5check(H5Aopen(self.id, name, kelm_h5p_default()), "H5Aopen", site)
        return HDF5Attribute(id: id, name: name, owner: self, site: site)
    }

    /// Opens the attribute `name`, runs `body` with it and closes it.
    @discardableResult
    public func withAttribute<Result>(_ name: String, _ body: (HDF5Attribute) throws -> Result) throws -> Result {
        try withClosing(try openAttribute(name), body)
    }

    /// Creates the attribute `name` (which must not exist yet) of the given element type and
    /// shape (`[]`: scalar); close it when done.
    public func createAttribute(_ name: String, type: HDF5StorageType, shape: [Int] = []) throws -> HDF5Attribute {
        let site = attributeSite(name)
        let id = try withClosing(try Datatype.forStorage(type, site: site)) { fileType in
            try withClosing(try Dataspace.create(shape: shape, site: site)) { space in
                try withClosing(try PropertyList.attributeCreation(site: site)) { creation in
                    try h5check(H5Acreate2(self.id, name, fileType.id, space.id, creation.id, kelm_h5p_default()),
                                "H5Acreate2", site)
                }
            }
        }
        return HDF5Attribute(id: id, name: name, owner: self, site: site)
    }

    /// Deletes the attribute `name`.
    public func deleteAttribute(_ name: String) throws {
        try h5check(H5Adelete(id, name), "H5Adelete", attributeSite(name))
    }

    // MARK: Writing attributes in one call

    /// Sets a scalar int64 attribute.
    public func setAttribute(_ name: String, _ value: Int64) throws {
        try replaceAttribute(name, type: .int64, shape: []) { try $0.write([value]) }
    }

    /// Sets a scalar int64 attribute.
    public func setAttribute(_ name: String, _ value: Int) throws {
        try setAttribute(name, Int64(value))
    }

    /// Sets a scalar float64 attribute.
    public func setAttribute(_ name: String, _ value: Double) throws {
        try replaceAttribute(name, type: .float64, shape: []) { try $0.write([value]) }
    }

    /// Sets a scalar variable-length UTF-8 string attribute.
    public func setAttribute(_ name: String, _ value: String) throws {
        try replaceAttribute(name, type: .string, shape: []) { try $0.write([value]) }
    }

    /// Sets a scalar fixed-length UTF-8 string attribute (kept in the object header, so covered
    /// by its checksum in the 1.8 object formats; read back by `stringAttribute`).
    public func setFixedLengthAttribute(_ name: String, _ value: String) throws {
        if try hasAttribute(name) { try deleteAttribute(name) }
        let site = attributeSite(name)
        var bytes = Array(value.utf8)
        guard !bytes.contains(0) else { throw site.error(.invalidArgument, "H5Awrite", "the string contains a NUL character") }
        if bytes.isEmpty { bytes = [0] }
        let id = try withClosing(try Datatype.fixedLengthString(bytes: bytes.count, site: site)) { type -> hid_t in
            let attribute = try withClosing(try Dataspace.create(shape: [], site: site)) { space in
                try withClosing(try PropertyList.attributeCreation(site: site)) { creation in
                    try h5check(H5Acreate2(self.id, name, type.id, space.id, creation.id, kelm_h5p_default()), "H5Acreate2", site)
                }
            }
            let status = bytes.withUnsafeBytes { H5Awrite(attribute, type.id, $0.baseAddress) }
            if status < 0 { H5Aclose(attribute); try h5check(status, "H5Awrite", site) }
            return attribute
        }
        try h5check(H5Aclose(id), "H5Aclose", site)
    }

    /// Sets a 1-d float32 attribute.
    public func setAttribute(_ name: String, _ values: [Float]) throws {
        try replaceAttribute(name, type: .float32, shape: [values.count]) { try $0.write(values) }
    }

    /// Sets a 1-d float64 attribute.
    public func setAttribute(_ name: String, _ values: [Double]) throws {
        try replaceAttribute(name, type: .float64, shape: [values.count]) { try $0.write(values) }
    }

    /// Sets a 1-d int32 attribute.
    public func setAttribute(_ name: String, _ values: [Int32]) throws {
        try replaceAttribute(name, type: .int32, shape: [values.count]) { try $0.write(values) }
    }

    /// Sets a 1-d int64 attribute.
    public func setAttribute(_ name: String, _ values: [Int64]) throws {
        try replaceAttribute(name, type: .int64, shape: [values.count]) { try $0.write(values) }
    }

    /// Sets a 1-d int64 attribute.
    public func setAttribute(_ name: String, _ values: [Int]) throws {
        try setAttribute(name, values.map { Int64($0) })
    }

    /// Sets a 1-d variable-length UTF-8 string attribute.
    public func setAttribute(_ name: String, _ values: [String]) throws {
        try replaceAttribute(name, type: .string, shape: [values.count]) { try $0.write(values) }
    }

    private func replaceAttribute(_ name: String, type: HDF5StorageType, shape: [Int],
                                  _ write: (HDF5Attribute) throws -> Void) throws {
        if try hasAttribute(name) { try deleteAttribute(name) }
        try withClosing(try createAttribute(name, type: type, shape: shape), write)
    }

    // MARK: Reading attributes in one call

    /// The value of a scalar (or one-element) integer attribute.
    public func int64Attribute(_ name: String) throws -> Int64 {
        try withAttribute(name) { try $0.readInt64() }
    }

    /// The value of a scalar (or one-element) integer attribute, as `Int`.
    public func intAttribute(_ name: String) throws -> Int {
        Int(try int64Attribute(name))
    }

    /// The value of a scalar (or one-element) float attribute.
    public func doubleAttribute(_ name: String) throws -> Double {
        try withAttribute(name) { try $0.readDouble() }
    }

    /// The value of a scalar (or one-element) string attribute.
    public func stringAttribute(_ name: String) throws -> String {
        try withAttribute(name) { try $0.readString() }
    }

    /// All elements of a float attribute, as `Float`.
    public func floatArrayAttribute(_ name: String) throws -> [Float] {
        try withAttribute(name) { try $0.readFloats() }
    }

    /// All elements of a float attribute, as `Double`.
    public func doubleArrayAttribute(_ name: String) throws -> [Double] {
        try withAttribute(name) { try $0.readDoubles() }
    }

    /// All elements of an integer attribute, as `Int32`.
    public func int32ArrayAttribute(_ name: String) throws -> [Int32] {
        try withAttribute(name) { try $0.readInt32s() }
    }

    /// All elements of an integer attribute, as `Int64`.
    public func int64ArrayAttribute(_ name: String) throws -> [Int64] {
        try withAttribute(name) { try $0.readInt64s() }
    }

    /// All elements of a string attribute.
    public func stringArrayAttribute(_ name: String) throws -> [String] {
        try withAttribute(name) { try $0.readStrings() }
    }
}

/// Reads a name from an HDF5 call that, like `H5Lget_name_by_idx`, returns the name's length
/// when given no buffer and fills a buffer of the given size otherwise.
func readName(_ call: String, _ site: Site,
              _ get: (UnsafeMutablePointer<CChar>?, Int) -> Int) throws -> String {
    let length = try h5check(get(nil, 0), call, site)
    var buffer = [CChar](repeating: 0, count: length + 1)
    try h5check(get(&buffer, buffer.count), call, site)
    return String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
