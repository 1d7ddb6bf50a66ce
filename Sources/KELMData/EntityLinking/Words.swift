/// Word boundaries for entity linking: a word is a maximal run of letters, digits and
/// combining marks; everything else (spaces, punctuation, apostrophes, hyphens) separates words.
/// Positions are Unicode code points.
enum Words {
    /// Whether `scalar` belongs to a word.
    @inline(__always)
    static func isWordScalar(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x80 {
            return (value >= 0x61 && value <= 0x7A) || (value >= 0x41 && value <= 0x5A) || (value >= 0x30 && value <= 0x39)
        }
        let properties = scalar.properties
        if properties.isAlphabetic { return true }
        switch properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber, .nonspacingMark, .spacingMark, .enclosingMark:
            return true
        default:
            return false
        }
    }

    /// The word spans (code points, end exclusive) of `scalars`.
    static func spans(_ scalars: [Unicode.Scalar]) -> [Range<Int>] {
        var spans: [Range<Int>] = []
        var index = 0
        let count = scalars.count
        while index < count {
            if !isWordScalar(scalars[index]) {
                index += 1
                continue
            }
            let start = index
            while index < count && isWordScalar(scalars[index]) { index += 1 }
            spans.append(start..<index)
        }
        return spans
    }

    /// The lower-case form of the word `scalars[span]`.
    static func lowercased(_ scalars: [Unicode.Scalar], _ span: Range<Int>) -> String {
        var ascii = true
        for i in span where scalars[i].value >= 0x80 { ascii = false; break }
        if ascii {
            return String(unsafeUninitializedCapacity: span.count) { buffer in
                for (k, i) in span.enumerated() {
                    var byte = UInt8(scalars[i].value)
                    if byte >= 0x41 && byte <= 0x5A { byte += 0x20 }
                    buffer[k] = byte
                }
                return span.count
            }
        }
        var text = String.UnicodeScalarView()
        for i in span { text.append(scalars[i]) }
        return String(text).lowercased()
    }

    /// The lower-case words of `text`.
    static func lowercasedWords(_ text: String) -> [String] {
        let scalars = Array(text.unicodeScalars)
        return spans(scalars).map { lowercased(scalars, $0) }
    }
}

/// English stop words (NLTK's list): a surface form made of stop words only is never linked.
public enum StopWords {
    /// The lower-case stop words.
    public static let english: Set<String> = [
        "i", "me", "my", "myself", "we", "our", "ours", "ourselves", "you", "your", "yours", "yourself",
        "yourselves", "he", "him", "his", "himself", "she", "her", "hers", "herself", "it", "its", "itself",
        "they", "them", "their", "theirs", "themselves", "what", "which", "who", "whom", "this", "that",
        "these", "those", "am", "is", "are", "was", "were", "be", "been", "being", "have", "has", "had",
        "having", "do", "does", "did", "doing", "a", "an", "the", "and", "but", "if", "or", "because", "as",
        "until", "while", "of", "at", "by", "for", "with", "about", "against", "between", "into", "through",
        "during", "before", "after", "above", "below", "to", "from", "up", "down", "in", "out", "on", "off",
        "over", "under", "again", "further", "then", "once", "here", "there", "when", "where", "why", "how",
        "all", "any", "both", "each", "few", "more", "most", "other", "some", "such", "no", "nor", "not",
        "only", "own", "same", "so", "than", "too", "very", "s", "t", "can", "will", "just", "don", "should",
        "now", "d", "ll", "m", "o", "re", "ve", "y", "ain", "aren", "couldn", "didn", "doesn", "hadn",
        "hasn", "haven", "isn", "ma", "mightn", "mustn", "needn", "shan", "shouldn", "wasn", "weren", "won",
        "wouldn",
    ]
}
