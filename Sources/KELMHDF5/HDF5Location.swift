import CHDF5

/// What a path inside a file names.
public enum HDF5ObjectType: Sendable, Equatable {
    case group
    case dataset
    case namedDatatype
    case unknown
}

/// A place that holds named members: a file (its root group) or a group.
///
/// Paths are relative to this location, or absolute (from the file's root) when they start with
/// `/`. Creating a group or dataset creates missing intermediate groups, so
/// `file.writeDataset("/params/lm/encoder/layer/0/attention/self/query/weight", …)` works on
/// an empty file.
public class HDF5Location: HDF5Object {
    /// The site used in errors about `path`, with `path` made absolute.
    func childSite(_ path: String) -> Site {
        let full = path.hasPrefix("/") ? path : objectPath + "/" + path
        return Site(file: site.file, object: "/" + full.split(separator: "/").joined(separator: "/"))
    }

    // MARK: Groups

    /// Creates the group `path` and any missing intermediate groups; close it when done.
    /// Throws if `path` already exists.
    public func createGroup(_ path: String) throws -> HDF5Group {
        let site = childSite(path)
        let id = try withClosing(try PropertyList.linkCreation(site: site)) { linkCreation in
            try h5check(H5Gcreate2(self.id, path, linkCreation.id, kelm_h5p_default(), kelm_h5p_default()),
                        "H5Gcreate2", site)
        }
        return HDF5Group(id: id, site: site, parent: self)
    }

    /// Opens the existing group `path`; close it when done.
    public func openGroup(_ path: String) throws -> HDF5Group {
        let site = childSite(path)
        let id = try h5check(H5Gopen2(self.id, path, kelm_h5p_default()), "H5Gopen2", site)
        return HDF5Group(id: id, site: site, parent: self)
    }

    /// Opens the group `path`, runs `body` with it and closes it.
    @discardableResult
    public func withGroup<Result>(_ path: String, _ body: (HDF5Group) throws -> Result) throws -> Result {
        try withClosing(try openGroup(path), body)
    }

    // MARK: Members

    /// Whether `path` names an object. Missing components give `false`, not an error: each
    /// component is checked with `H5Lexists`, and every component but the last must be a group.
    public func exists(_ path: String) throws -> Bool {
        let components = path.split(separator: "/")
        var prefix = path.hasPrefix("/") ? "/" : ""
        for (index, component) in components.enumerated() {
            prefix += (index == 0 ? "" : "/") + component
            let site = childSite(prefix)
            guard try h5check(H5Lexists(id, prefix, kelm_h5p_default()), "H5Lexists", site) > 0 else { return false }
            if index < components.count - 1, try objectType(prefix) != .group { return false }
        }
        return true
    }

    /// What the existing object `path` is.
    public func objectType(_ path: String) throws -> HDF5ObjectType {
        var info = H5O_info_t()
        try h5check(H5Oget_info_by_name2(id, path, &info, H5O_INFO_BASIC, kelm_h5p_default()),
                    "H5Oget_info_by_name2", childSite(path))
        switch info.type {
        case H5O_TYPE_GROUP: return .group
        case H5O_TYPE_DATASET: return .dataset
        case H5O_TYPE_NAMED_DATATYPE: return .namedDatatype
        default: return .unknown
        }
    }

    /// Names of the members (groups, datasets, …) directly in this location, in name order.
    public func memberNames() throws -> [String] {
        var info = H5G_info_t()
        try h5check(H5Gget_info(id, &info), "H5Gget_info", site)
        return try (0..<info.nlinks).map { index in
            try readName("H5Lget_name_by_idx", site) { buffer, size in
                H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, buffer, size, kelm_h5p_default())
            }
        }
    }

    /// Every object below the group `group` that is not itself a group, depth first in name
    /// order, with its absolute path and type (datasets, and whatever else a foreign file holds).
    public func leafObjects(under group: String = "/") throws -> [(path: String, type: HDF5ObjectType)] {
        var leaves: [(path: String, type: HDF5ObjectType)] = []
        func walk(_ path: String) throws {
            for m in try withGroup(path, { try $0.memberNames() }) {
                let child = path == "/" ? "/" + m : path + "/" + m
                let type = try objectType(child)
                if type == .group { try walk(child) } else { leaves.append((child, type)) }
            }
        }
        try walk(group)
        return leaves
    }

    // MARK: Datasets

    /// Creates the dataset `path` (and any missing intermediate groups) with the given element
    /// type and shape (`[]`: scalar); close it when done. Throws if `path` already exists.
    public func createDataset(_ path: String, type: HDF5StorageType, shape: [Int]) throws -> HDF5Dataset {
        let site = childSite(path)
        let id = try withClosing(try Datatype.forStorage(type, site: site)) { fileType in
            try withClosing(try Dataspace.create(shape: shape, site: site)) { space in
                try withClosing(try PropertyList.linkCreation(site: site)) { linkCreation in
                    try h5check(H5Dcreate2(self.id, path, fileType.id, space.id, linkCreation.id,
                                           kelm_h5p_default(), kelm_h5p_default()),
                                "H5Dcreate2", site)
                }
            }
        }
        return HDF5Dataset(id: id, site: site, parent: self)
    }

    /// Opens the existing dataset `path`; close it when done.
    public func openDataset(_ path: String) throws -> HDF5Dataset {
        let site = childSite(path)
        let id = try h5check(H5Dopen2(self.id, path, kelm_h5p_default()), "H5Dopen2", site)
        return HDF5Dataset(id: id, site: site, parent: self)
    }

    /// Opens the dataset `path`, runs `body` with it and closes it.
    @discardableResult
    public func withDataset<Result>(_ path: String, _ body: (HDF5Dataset) throws -> Result) throws -> Result {
        try withClosing(try openDataset(path), body)
    }

    // MARK: Writing a dataset in one call (create, write, close)
    //
    // `shape` defaults to 1-d `[values.count]`; `[]` makes a scalar from one value. The element
    // count of `shape` must equal `values.count`.

    /// Writes a new float dataset (float32 unless `type` says float16 or float64).
    public func writeDataset(_ path: String, _ values: [Float], shape: [Int]? = nil,
                             as type: HDF5StorageType = .float32) throws {
        try values.withUnsafeBufferPointer { try writeDataset(path, $0, shape: shape, as: type) }
    }

    /// Writes a new float dataset (float32 unless `type` says float16 or float64).
    public func writeDataset(_ path: String, _ values: UnsafeBufferPointer<Float>, shape: [Int]? = nil,
                             as type: HDF5StorageType = .float32) throws {
        try writeNewDataset(path, count: values.count, shape: shape, type: type,
                            allowed: [.float16, .float32, .float64], swiftName: "Float") { try $0.write(values) }
    }

    /// Writes a new float dataset from `Float16` values (float16 unless `type` says float32 or
    /// float64, which hold them exactly).
    public func writeDataset(_ path: String, _ values: UnsafeBufferPointer<Float16>, shape: [Int]? = nil,
                             as type: HDF5StorageType = .float16) throws {
        try writeNewDataset(path, count: values.count, shape: shape, type: type,
                            allowed: [.float16, .float32, .float64], swiftName: "Float16") { try $0.write(values) }
    }

    /// Writes a new float dataset (float64 unless `type` says float16 or float32).
    public func writeDataset(_ path: String, _ values: [Double], shape: [Int]? = nil,
                             as type: HDF5StorageType = .float64) throws {
        try writeNewDataset(path, count: values.count, shape: shape, type: type,
                            allowed: [.float16, .float32, .float64], swiftName: "Double") { try $0.write(values) }
    }

    /// Writes a new integer dataset (int32 unless `type` says int64).
    public func writeDataset(_ path: String, _ values: [Int32], shape: [Int]? = nil,
                             as type: HDF5StorageType = .int32) throws {
        try writeNewDataset(path, count: values.count, shape: shape, type: type,
                            allowed: [.int32, .int64], swiftName: "Int32") { try $0.write(values) }
    }

    /// Writes a new integer dataset (int64 unless `type` says int32; values must then fit).
    public func writeDataset(_ path: String, _ values: [Int64], shape: [Int]? = nil,
                             as type: HDF5StorageType = .int64) throws {
        try writeNewDataset(path, count: values.count, shape: shape, type: type,
                            allowed: [.int32, .int64], swiftName: "Int64") { try $0.write(values) }
    }

    /// Writes a new integer dataset (int64 unless `type` says int32; values must then fit).
    public func writeDataset(_ path: String, _ values: [Int], shape: [Int]? = nil,
                             as type: HDF5StorageType = .int64) throws {
        try writeDataset(path, values.map { Int64($0) }, shape: shape, as: type)
    }

    /// Writes a new dataset of unsigned bytes.
    public func writeDataset(_ path: String, _ values: [UInt8], shape: [Int]? = nil) throws {
        try writeNewDataset(path, count: values.count, shape: shape, type: .uint8,
                            allowed: [.uint8], swiftName: "UInt8") { try $0.write(values) }
    }

    /// Writes a new variable-length UTF-8 string dataset.
    public func writeDataset(_ path: String, _ values: [String], shape: [Int]? = nil) throws {
        try writeNewDataset(path, count: values.count, shape: shape, type: .string,
                            allowed: [.string], swiftName: "String") { try $0.write(values) }
    }

    private func writeNewDataset(_ path: String, count: Int, shape: [Int]?, type: HDF5StorageType,
                                 allowed: [HDF5StorageType], swiftName: String,
                                 _ write: (HDF5Dataset) throws -> Void) throws {
        let shape = shape ?? [count]
        guard allowed.contains(type) else {
            throw childSite(path).error(.wrongElementKind, "H5Dcreate2", "cannot store \(swiftName) values as \(type)")
        }
        guard elementCount(of: shape) == count else {
            throw childSite(path).error(.sizeMismatch, "H5Dcreate2",
                                        "\(count) values given for shape \(shape) (\(elementCount(of: shape)) elements)")
        }
        try withClosing(try createDataset(path, type: type, shape: shape), write)
    }
}
