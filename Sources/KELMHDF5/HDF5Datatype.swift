import CHDF5

/// Owner of a transient HDF5 datatype (a copy of a predefined type, or the type of a dataset
/// or attribute).
final class Datatype: HDF5Handle {
    init(id: hid_t, site: Site) {
        super.init(id: id, site: site, parent: nil, closeCall: "H5Tclose", closeFunction: H5Tclose)
    }

    /// A modifiable copy of `type` (e.g. a predefined type such as `H5T_IEEE_F32LE`).
    static func copy(_ type: hid_t, site: Site) throws -> Datatype {
        Datatype(id: try h5check(H5Tcopy(type), "H5Tcopy", site), site: site)
    }

    /// IEEE half precision, little-endian: sign bit 15, exponent bits 10–14 (bias 15), mantissa
    /// bits 0–9. h5py and numpy read it as `float16`.
    static func half(site: Site) throws -> Datatype {
        try withCleanupOnFailure(try copy(kelm_h5t_ieee_f32le(), site: site)) { type in
            try h5check(H5Tset_fields(type.id, 15, 10, 5, 0, 10), "H5Tset_fields", site)
            try h5check(H5Tset_size(type.id, 2), "H5Tset_size", site)
            try h5check(H5Tset_ebias(type.id, 15), "H5Tset_ebias", site)
            try h5check(H5Tset_precision(type.id, 16), "H5Tset_precision", site)
        }
    }

    /// Fixed-length UTF-8 string of `bytes` bytes, NUL-padded: stored in the object header, not in
    /// a global heap (whose blocks carry no checksum).
    static func fixedLengthString(bytes: Int, site: Site) throws -> Datatype {
        try withCleanupOnFailure(try copy(kelm_h5t_c_s1(), site: site)) { type in
            try h5check(H5Tset_size(type.id, max(1, bytes)), "H5Tset_size", site)
            try h5check(H5Tset_cset(type.id, H5T_CSET_UTF8), "H5Tset_cset", site)
            try h5check(H5Tset_strpad(type.id, H5T_STR_NULLPAD), "H5Tset_strpad", site)
        }
    }

    /// Variable-length, NUL-terminated string in the given character set (UTF-8 by default, as
    /// h5py writes `str`).
    static func variableLengthString(characterSet: H5T_cset_t = H5T_CSET_UTF8, site: Site) throws -> Datatype {
        try withCleanupOnFailure(try copy(kelm_h5t_c_s1(), site: site)) { type in
            try h5check(H5Tset_size(type.id, kelm_h5t_variable()), "H5Tset_size", site)
            try h5check(H5Tset_cset(type.id, characterSet), "H5Tset_cset", site)
        }
    }

    /// The file type used to store elements of `storage`.
    static func forStorage(_ storage: HDF5StorageType, site: Site) throws -> Datatype {
        switch storage {
        case .float16: return try half(site: site)
        case .float32: return try copy(kelm_h5t_ieee_f32le(), site: site)
        case .float64: return try copy(kelm_h5t_ieee_f64le(), site: site)
        case .int32: return try copy(kelm_h5t_std_i32le(), site: site)
        case .int64: return try copy(kelm_h5t_std_i64le(), site: site)
        case .uint8: return try copy(kelm_h5t_std_u8le(), site: site)
        case .string: return try variableLengthString(site: site)
        }
    }

    /// Size of one element in bytes (for variable-length strings: the size of a pointer).
    func size() throws -> Int {
        Int(try h5check(H5Tget_size(id), "H5Tget_size", site, failed: { $0 == 0 }))
    }

    /// Padding of a fixed-length string type.
    func stringPadding() throws -> H5T_str_t {
        let padding = H5Tget_strpad(id)
        try h5check(padding.rawValue, "H5Tget_strpad", site)
        return padding
    }

    /// Character set of a string type.
    func characterSet() throws -> H5T_cset_t {
        let characterSet = H5Tget_cset(id)
        try h5check(characterSet.rawValue, "H5Tget_cset", site)
        return characterSet
    }

    /// The kind of element this type describes.
    func kind() throws -> HDF5ElementKind {
        let typeClass = H5Tget_class(id)
        try h5check(typeClass.rawValue, "H5Tget_class", site)
        switch typeClass {
        case H5T_FLOAT:
            return .float(bytes: try size())
        case H5T_INTEGER:
            let sign = H5Tget_sign(id)
            try h5check(sign.rawValue, "H5Tget_sign", site)
            return .integer(bytes: try size(), signed: sign != H5T_SGN_NONE)
        case H5T_STRING:
            let variable = try h5check(H5Tis_variable_str(id), "H5Tis_variable_str", site)
            return .string(variableLength: variable > 0)
        case H5T_COMPOUND: return .other("compound")
        case H5T_ENUM: return .other("enum")
        case H5T_OPAQUE: return .other("opaque")
        case H5T_BITFIELD: return .other("bitfield")
        case H5T_ARRAY: return .other("array")
        case H5T_VLEN: return .other("variable-length sequence")
        case H5T_REFERENCE: return .other("reference")
        case H5T_TIME: return .other("time")
        default: return .other("type class \(typeClass.rawValue)")
        }
    }
}
