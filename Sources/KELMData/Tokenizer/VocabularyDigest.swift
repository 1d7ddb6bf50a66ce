import KELMNumerics

/// A vocabulary's fingerprint: FNV-1a 64 over its tokens' UTF-8 bytes, each followed by a
/// newline (the `vocab.txt` text), as 16 hexadecimal digits. Datasets and checkpoints store it
/// (`vocabulary_digest`), and `train`, `--resume` and `eval` compare it, so that a vocabulary of
/// the same size but other tokens is found rather than silently changing what every id means.
public enum VocabularyDigest {
    public static func of(_ tokens: [String]) -> String {
        var h = FNV1a64.offsetBasis
        for token in tokens {
            Array(token.utf8).withUnsafeBytes { FNV1a64.mix(&h, $0) }
            withUnsafeBytes(of: UInt8(ascii: "\n")) { FNV1a64.mix(&h, $0) }
        }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
