import CHDF5

/// Owner of an HDF5 property list.
final class PropertyList: HDF5Handle {
    init(id: hid_t, site: Site) {
        super.init(id: id, site: site, parent: nil, closeCall: "H5Pclose", closeFunction: H5Pclose)
    }

    private static func create(_ listClass: hid_t, site: Site) throws -> PropertyList {
        PropertyList(id: try h5check(H5Pcreate(listClass), "H5Pcreate", site), site: site)
    }

    /// Link creation: missing intermediate groups are created, link names are UTF-8.
    static func linkCreation(site: Site) throws -> PropertyList {
        try withCleanupOnFailure(try create(kelm_h5p_link_create(), site: site)) { list in
            try h5check(H5Pset_create_intermediate_group(list.id, 1), "H5Pset_create_intermediate_group", site)
            try h5check(H5Pset_char_encoding(list.id, H5T_CSET_UTF8), "H5Pset_char_encoding", site)
        }
    }

    /// Attribute creation: attribute names are UTF-8.
    static func attributeCreation(site: Site) throws -> PropertyList {
        try withCleanupOnFailure(try create(kelm_h5p_attribute_create(), site: site)) { list in
            try h5check(H5Pset_char_encoding(list.id, H5T_CSET_UTF8), "H5Pset_char_encoding", site)
        }
    }

    /// File access: `H5Fclose` fails while objects of the file are still open (rather than
    /// leaving the file open until they are), so a closed file is really closed and complete.
    static func fileAccess(site: Site) throws -> PropertyList {
        try withCleanupOnFailure(try create(kelm_h5p_file_access(), site: site)) { list in
            try h5check(H5Pset_fclose_degree(list.id, H5F_CLOSE_SEMI), "H5Pset_fclose_degree", site)
        }
    }
}
