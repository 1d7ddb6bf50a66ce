import Foundation

/// An error in a configuration (DESIGN §10): an unknown key, an ill-typed or out-of-range value,
/// a YAML syntax error, an unreadable file or a malformed `--set` override.
///
/// Every error that concerns one key names it in dotted form (`train.micro_batch`) in ``key``;
/// ``source`` names where the offending text came from (a file path, `<string>`, or the
/// `--set …` argument), and ``line``/``column`` locate it in that source where known.
/// ``description`` is the complete, human-readable message, e.g.
/// `configs/tiny.yaml:7:16: config key 'train.micro_batch': expected an integer, found "eight"`.
public struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    /// What went wrong.
    public enum Kind: Equatable, Sendable {
        /// The key is not part of the schema; `suggestion` is the closest known dotted key, if any is close.
        case unknownKey(suggestion: String?)
        /// The value has the wrong type: `expected` describes the wanted type ("an integer"),
        /// `found` the value as written (`"eight"`, `[1, 2]`, `null`).
        case typeMismatch(expected: String, found: String)
        /// The value has the right type but is not allowed (a bad enum value or out of range);
        /// the associated text says why ("must be >= 1, found 0").
        case invalidValue(String)
        /// The YAML (or JSON) text could not be parsed.
        case syntax(String)
        /// The configuration file could not be read.
        case unreadable(String)
        /// A `--set` argument (`override`, as given) is not of the form `section.key=value`;
        /// `reason` says why.
        case malformedOverride(override: String, reason: String)
    }

    /// What went wrong.
    public var kind: Kind
    /// The dotted key concerned (`train.micro_batch`, or `train` for a whole section); nil when
    /// the error is not about one key (syntax errors, malformed overrides, the top level).
    public var key: String?
    /// Where the offending text came from: a file path, `<string>`, or `--set section.key=value`.
    public var source: String?
    /// 1-based line in ``source``, where known.
    public var line: Int?
    /// 1-based column in ``source``, where known.
    public var column: Int?

    /// Creates an error; ``source``, ``line`` and ``column`` are usually filled in by the loader.
    public init(_ kind: Kind, key: String?, source: String? = nil, line: Int? = nil, column: Int? = nil) {
        self.kind = kind
        self.key = key
        self.source = source
        self.line = line
        self.column = column
    }

    /// The message without the source location.
    public var message: String {
        let subject = key.map { "config key '\($0)'" } ?? "config top level"
        switch kind {
        case .unknownKey(let suggestion):
            let name = key ?? "?"
            if let suggestion {
                return "unknown config key '\(name)' (did you mean '\(suggestion)'?)"
            }
            return "unknown config key '\(name)'"
        case .typeMismatch(let expected, let found):
            return "\(subject): expected \(expected), found \(found)"
        case .invalidValue(let reason):
            return "\(subject): \(reason)"
        case .syntax(let reason):
            return "YAML syntax error: \(reason)"
        case .unreadable(let reason):
            return "cannot read config file: \(reason)"
        case .malformedOverride(let override, let reason):
            return "malformed --set override '\(override)': \(reason)"
        }
    }

    /// The full message: `source:line:column: message`, with the parts that are known.
    public var description: String {
        var location = ""
        if let source {
            location = source
            if let line {
                location += ":\(line)"
                if let column {
                    location += ":\(column)"
                }
            }
            location += ": "
        }
        return location + message
    }

    /// `LocalizedError` conformance, so that `localizedDescription` is the full message.
    public var errorDescription: String? { description }
}
