import Foundation
import KELMHDF5

/// The committed reference fixtures written by Tests/Fixtures/make_reference_fixtures.py.
enum ReferenceFixture {
    static func path(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures").appendingPathComponent(name).path
    }

    /// `/group/<our name with '.' → '/'>`
    static func tensorPath(_ group: String, _ name: String) -> String {
        "/" + group + "/" + name.replacingOccurrences(of: ".", with: "/")
    }
}
