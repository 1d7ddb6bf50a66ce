import KELMConfig
import KELMNumerics

extension KELMConfig {
    /// A stable 64-bit hash of the configuration: FNV-1a 64 of the UTF-8 bytes of
    /// ``canonicalJSON()``. Ranks compare it to check that they run the same configuration.
    public func fingerprint() throws -> UInt64 {
        FNV1a64.hash(try canonicalJSONData())
    }

    /// ``fingerprint()`` as 16 lowercase hexadecimal digits.
    public func fingerprintHex() throws -> String {
        let hex = String(try fingerprint(), radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
