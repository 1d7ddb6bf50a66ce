// The character classes and the case/accent folding of BERT's basic tokenisation as Hugging
// Face's default `BertTokenizer` (`tokenizers`' BertNormalizer and BertPreTokenizer) applies them,
// on Unicode scalars (code points), never on Swift `Character`s.
//
// Unicode data come from the Swift standard library (and Foundation for NFD); the reference
// fixture keeps to code points assigned in Unicode 14.

import Foundation

/// Per-scalar classification bits, as the basic tokenisation tests them.
struct ScalarFlags: OptionSet, Sendable {
    let rawValue: UInt8

    /// True if any bit of `other` is set (for one flag: `contains`, without the generic overhead).
    @inline(__always)
    func has(_ other: ScalarFlags) -> Bool { rawValue & other.rawValue != 0 }

    /// Cleaning drops it: NUL, U+FFFD, or a control character (categories Cc, Cf, Co, Cs except
    /// tab, LF, CR; unassigned code points are kept, as `tokenizers` keeps them).
    static let removed = ScalarFlags(rawValue: 1 << 0)
    /// Separates words: space, tab, LF, CR, category `Zs` (cleaning turns them into a space), or
    /// U+2028, U+2029.
    static let whitespace = ScalarFlags(rawValue: 1 << 1)
    /// Punctuation: ASCII 33–47, 58–64, 91–96, 123–126, or category `P*`.
    static let punctuation = ScalarFlags(rawValue: 1 << 2)
    /// The CJK ideograph blocks that get spaces around them.
    static let chinese = ScalarFlags(rawValue: 1 << 3)
    /// Category `Mn`, removed after NFD (accent stripping).
    static let nonspacingMark = ScalarFlags(rawValue: 1 << 4)
    /// Canonical combining class ≠ 0: takes part in the canonical reordering of NFD.
    static let combining = ScalarFlags(rawValue: 1 << 7)
}

/// The Unicode look-ups of the basic tokenisation. Scalars of the Basic Multilingual Plane are answered from
/// tables built once per process (on first use, about 0.1 s); the other planes are computed on demand.
enum TokenizerUnicode {
    /// Appends NFD(lowercase(v)) (the code point's full, context-free lowercase mapping, then
    /// canonical decomposition) to `out`.
    @inline(__always)
    static func appendFolded(_ v: UInt32, to out: inout [UInt32]) {
        if v < 0x1_0000 {
            let entry = tables.foldEntries[Int(v)]
            if entry == 0 {
                out.append(v)
            } else {
                let start = Int(entry >> 3), count = Int(entry & 7)
                for k in start..<(start + count) { out.append(tables.foldPool[k]) }
            }
            return
        }
        out.append(contentsOf: computeFolded(v))
    }

    /// The canonical combining class of `v` (0 for a starter).
    static func combiningClass(_ v: UInt32) -> UInt8 {
        guard let s = Unicode.Scalar(v) else { return 0 }
        return s.properties.canonicalCombiningClass.rawValue
    }

    /// The CJK ideographs that become words of their own.
    static func isChinese(_ cp: UInt32) -> Bool {
        (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF)
            || (cp >= 0x2_0000 && cp <= 0x2_A6DF) || (cp >= 0x2_A700 && cp <= 0x2_B73F)
            || (cp >= 0x2_B740 && cp <= 0x2_B81F) || (cp >= 0x2_B820 && cp <= 0x2_CEAF)
            || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2_F800 && cp <= 0x2_FA1F)
    }

    static func computeFlags(_ v: UInt32) -> ScalarFlags {
        guard let scalar = Unicode.Scalar(v) else { return [.removed] }
        let p = scalar.properties
        var f: ScalarFlags = []
        let category = p.generalCategory
        switch category {
        case .control, .format, .surrogate, .privateUse:
            if v != 0x09 && v != 0x0A && v != 0x0D { f.insert(.removed) }
        default:
            break
        }
        if v == 0 || v == 0xFFFD { f.insert(.removed) }
        if v == 0x20 || v == 0x09 || v == 0x0A || v == 0x0D || category == .spaceSeparator
            || v == 0x2028 || v == 0x2029 {
            f.insert(.whitespace)
        }
        switch category {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            f.insert(.punctuation)
        default:
            if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) {
                f.insert(.punctuation)
            }
        }
        if isChinese(v) { f.insert(.chinese) }
        if category == .nonspacingMark { f.insert(.nonspacingMark) }
        if p.canonicalCombiningClass.rawValue != 0 { f.insert(.combining) }
        return f
    }

    /// NFD(lowercase(v)) computed with the standard library and Foundation.
    static func computeFolded(_ v: UInt32) -> [UInt32] {
        guard let scalar = Unicode.Scalar(v) else { return [v] }
        if v < 0x80 {
            return [(v >= 0x41 && v <= 0x5A) ? v + 0x20 : v]
        }
        let lower = scalar.properties.lowercaseMapping
        return lower.decomposedStringWithCanonicalMapping.unicodeScalars.map(\.value)
    }

    /// Built once per process, on first use (a global `let` is initialised lazily and thread-safely).
    static let tables = Tables()

    struct Tables: Sendable {
        /// `ScalarFlags` raw values of the 65,536 BMP code points.
        let flags: [UInt8]
        /// Per BMP code point: 0 when NFD(lowercase(v)) = v, else (start in `foldPool`) << 3 | count.
        let foldEntries: [UInt32]
        let foldPool: [UInt32]

        init() {
            var flags = [UInt8](repeating: 0, count: 0x1_0000)
            var entries = [UInt32](repeating: 0, count: 0x1_0000)
            var pool: [UInt32] = []
            for v in UInt32(0)..<0x1_0000 {
                flags[Int(v)] = TokenizerUnicode.computeFlags(v).rawValue
                if ScalarFlags(rawValue: flags[Int(v)]).contains(.removed) { continue }
                let folded = TokenizerUnicode.computeFolded(v)
                if folded != [v] {
                    precondition(folded.count < 8, "fold of U+\(String(v, radix: 16)) longer than 7 scalars")
                    entries[Int(v)] = UInt32(pool.count) << 3 | UInt32(folded.count)
                    pool.append(contentsOf: folded)
                }
            }
            self.flags = flags
            self.foldEntries = entries
            self.foldPool = pool
        }
    }
}
