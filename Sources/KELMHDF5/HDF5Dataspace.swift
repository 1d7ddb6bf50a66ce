import CHDF5

/// Owner of an HDF5 dataspace (the shape of a dataset or attribute, and a selection in it).
final class Dataspace: HDF5Handle {
    init(id: hid_t, site: Site) {
        super.init(id: id, site: site, parent: nil, closeCall: "H5Sclose", closeFunction: H5Sclose)
    }

    /// A new dataspace of the given shape: `[]` is a scalar (0-d), otherwise a simple dataspace.
    static func create(shape: [Int], site: Site) throws -> Dataspace {
        if let negative = shape.first(where: { $0 < 0 }) {
            throw site.error(.invalidArgument, "H5Screate_simple", "negative dimension \(negative) in shape \(shape)")
        }
        if shape.isEmpty {
            return Dataspace(id: try h5check(H5Screate(H5S_SCALAR), "H5Screate", site), site: site)
        }
        let dims = shape.map { hsize_t($0) }
        let id = try h5check(H5Screate_simple(Int32(dims.count), dims, nil), "H5Screate_simple", site)
        return Dataspace(id: id, site: site)
    }

    /// The current dimensions; `[]` for a scalar dataspace. An empty (null) dataspace, as h5py
    /// writes for empty attributes, reports `[0]`.
    func shape() throws -> [Int] {
        let spaceClass = H5Sget_simple_extent_type(id)
        try h5check(spaceClass.rawValue, "H5Sget_simple_extent_type", site)
        if spaceClass == H5S_NULL { return [0] }
        let rank = try h5check(H5Sget_simple_extent_ndims(id), "H5Sget_simple_extent_ndims", site)
        var dims = [hsize_t](repeating: 0, count: Int(rank))
        try h5check(H5Sget_simple_extent_dims(id, &dims, nil), "H5Sget_simple_extent_dims", site)
        return dims.map { Int($0) }
    }

    /// Selects rows `rows` (along the first dimension) of a dataspace of shape `shape`.
    func selectRows(_ rows: Range<Int>, of shape: [Int]) throws {
        let start = [hsize_t(rows.lowerBound)] + [hsize_t](repeating: 0, count: shape.count - 1)
        let count = [hsize_t(rows.count)] + shape.dropFirst().map { hsize_t($0) }
        try h5check(H5Sselect_hyperslab(id, H5S_SELECT_SET, start, nil, count, nil), "H5Sselect_hyperslab", site)
    }
}

/// Number of elements of an array of the given shape (1 for a scalar).
func elementCount(of shape: [Int]) -> Int {
    shape.reduce(1, *)
}
