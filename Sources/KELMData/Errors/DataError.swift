import Foundation

/// A problem with the input of `prepare` or with a dataset file: which file, which line (or
/// field), what was found and what was expected.
///
/// `description` reads like
/// `triples.tsv:7: expected 3 tab-separated columns (head id, relation id, tail id), found 2`.
public struct DataError: Error, Equatable, CustomStringConvertible, LocalizedError {
    /// What kind of problem this is, for callers (and tests) that branch on it.
    public enum Kind: Equatable, Sendable {
        /// A TSV line has the wrong number of tab-separated columns.
        case wrongColumnCount
        /// An entity id that `entities.tsv` does not define.
        case unknownEntity
        /// A relation id that `relations.tsv` does not define.
        case unknownRelation
        /// Bytes that are not valid UTF-8.
        case invalidUTF8
        /// A mention span outside its text (or empty, or reversed).
        case mentionOutOfRange
        /// The corpus holds no text segment.
        case emptyCorpus
        /// The vocabulary lacks one of `[PAD] [UNK] [CLS] [SEP] [MASK]`.
        case missingSpecialToken
        /// A required input file does not exist or cannot be read.
        case missingFile
        /// A line or field that cannot be parsed (bad JSON, a non-number where a number belongs…).
        case malformed
        /// An id defined twice.
        case duplicate
        /// An option value out of range, or a dataset file that is not a kelm-dist dataset.
        case invalidArgument
        /// Writing the output failed.
        case outputFailed
        /// A dataset file's data does not match its checksums (or lacks them): damaged.
        case corrupt
    }

    /// What kind of problem this is.
    public let kind: Kind
    /// The file concerned (as given by the user).
    public let file: String
    /// 1-based line number, when the problem is on one line.
    public let line: Int?
    /// The field (column, JSON key, option) concerned, when there is one.
    public let field: String?
    /// What was found and what was expected.
    public let message: String

    /// Creates an error.
    public init(_ kind: Kind, file: String, line: Int? = nil, field: String? = nil, _ message: String) {
        self.kind = kind
        self.file = file
        self.line = line
        self.field = field
        self.message = message
    }

    /// `file:line: field: message` (the parts that are known).
    public var description: String {
        var location = file
        if let line { location += ":\(line)" }
        if let field { location += ": \(field)" }
        return "\(location): \(message)"
    }

    /// Same as `description`.
    public var errorDescription: String? { description }
}
