import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Yams

/// One `--set section.key=value` override, parsed (see ``ConfigLoader/parseOverride(_:)``).
public struct ConfigOverride: Equatable, Sendable {
    /// The section (`train`).
    public let section: String
    /// The key within the section (`micro_batch`).
    public let key: String
    /// The value text after the first `=`, parsed as YAML when applied (`8`, `1e-3`, `full`, `null`).
    public let value: String
    /// The argument as given (`train.micro_batch=8`).
    public let text: String

    /// The dotted key (`train.micro_batch`).
    public var dottedKey: String { section + "." + key }

    /// How the override is named as the source of an error: `--set train.micro_batch=8`.
    public var sourceName: String { "--set " + text }
}

/// Loads a ``KELMConfig`` from YAML (a file or a string) and `--set` overrides
/// (DESIGN §10). Precedence: defaults < file < overrides, later overrides winning over earlier ones.
///
/// Every loader validates the result (``KELMConfig/validate()``). Errors are ``ConfigError``s
/// that name the dotted key and where the offending text came from: the file (with the line and
/// column of the key or value), `<string>`, or the `--set` argument.
public enum ConfigLoader {
    /// Loads the YAML file at `path` (or only the defaults when `path` is nil), applies the
    /// overrides (`section.key=value` each) and validates.
    public static func load(file path: String?, overrides: [String] = []) throws -> KELMConfig {
        guard let path else {
            return try resolve(root: nil, source: nil, overrides: overrides)
        }
        let bytes = try readAll(path)
        guard let text = String(validatingUTF8: bytes.map { CChar(bitPattern: $0) } + [0]) else {
            throw ConfigError(.unreadable("not UTF-8 text"), key: nil, source: path)
        }
        return try load(yaml: text, source: path, overrides: overrides)
    }

    /// Every byte of the file `path` (a regular file, a pipe, /dev/null …), by POSIX reads; a
    /// failure is a `ConfigError` naming the file and the system's reason.
    static func readAll(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ConfigError(.unreadable(String(cString: strerror(errno)).lowercased()), key: nil, source: path) }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR {
            throw ConfigError(.unreadable("is a directory"), key: nil, source: path)
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw ConfigError(.unreadable(String(cString: strerror(errno)).lowercased()), key: nil, source: path) }
            if n == 0 { return bytes }
            bytes += chunk[0..<n]
        }
    }

    /// Loads configuration YAML given as a string; `source` names it in errors.
    public static func load(yaml: String, source: String = "<string>", overrides: [String] = []) throws -> KELMConfig {
        let root = try parse(yaml, source: source)
        return try resolve(root: root, source: source, overrides: overrides)
    }

    /// The defaults with the overrides applied, validated.
    public static func load(overrides: [String]) throws -> KELMConfig {
        try resolve(root: nil, source: nil, overrides: overrides)
    }

    /// Parses one override `section.key=value` (the value is everything after the first `=`).
    /// Throws `malformedOverride` when there is no `=`, the key is empty or not of the form
    /// `section.key`, and `unknownKey` (with a suggestion) when the key is not in the schema.
    public static func parseOverride(_ text: String) throws -> ConfigOverride {
        guard let equals = text.firstIndex(of: "=") else {
            throw ConfigError(.malformedOverride(override: text, reason: "expected section.key=value"), key: nil)
        }
        let key = text[..<equals].trimmingCharacters(in: .whitespaces)
        let value = String(text[text.index(after: equals)...])
        guard !key.isEmpty else {
            throw ConfigError(.malformedOverride(override: text, reason: "the key before '=' is empty; expected section.key=value"),
                              key: nil)
        }
        let parts = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw ConfigError(.malformedOverride(override: text, reason: "the key '\(key)' is not of the form section.key"),
                              key: nil)
        }
        guard ConfigSchema.contains(section: parts[0], key: parts[1]) else {
            throw ConfigError(.unknownKey(suggestion: ConfigSchema.suggestion(for: key)), key: key, source: "--set " + text)
        }
        return ConfigOverride(section: parts[0], key: parts[1], value: value, text: text)
    }

    // MARK: - Implementation

    /// Parses YAML text to a node tree (nil for an empty document).
    private static func parse(_ text: String, source: String) throws -> Node? {
        do {
            return try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw syntaxError(error, source: source)
        }
    }

    /// Applies the overrides to `root` (the parsed file, nil for none), decodes strictly,
    /// validates, and attributes any error to the file or the override it came from.
    private static func resolve(root parsed: Node?, source: String?, overrides: [String]) throws -> KELMConfig {
        var root = parsed ?? Node([(Node, Node)]())
        var overridden: [String: ConfigOverride] = [:]
        for text in overrides {
            let override = try parseOverride(text)
            let value = try overrideValue(override)
            overridden[override.dottedKey] = override
            root = apply(override, value: value, to: root)
        }
        let locate = { (error: ConfigError) -> ConfigError in
            attribute(error, root: root, source: source, overridden: overridden)
        }
        let config: KELMConfig
        do {
            config = try YAMLDecoder().decode(KELMConfig.self, from: root)
        } catch let error as ConfigError {
            throw locate(error)
        } catch let error as DecodingError {
            throw locate(ConfigError(decoding: error, format: "YAML"))
        }
        if let first = config.validationErrors().first {
            throw locate(first)
        }
        return config
    }

    /// The override's value as a YAML node; an empty value is null.
    private static func overrideValue(_ override: ConfigOverride) throws -> Node {
        let parsed: Node?
        do {
            parsed = try Yams.compose(yaml: override.value)
        } catch let error as YamlError {
            // Positions inside a one-line value would read as part of the argument; drop them.
            var syntax = syntaxError(error, source: override.sourceName)
            syntax.line = nil
            syntax.column = nil
            throw syntax
        }
        return parsed ?? Node("", .implicit, .plain)
    }

    /// `root` with `section.key` set to `value`. When `root` or the section is neither a mapping
    /// nor null, it is returned unchanged, and decoding reports the misshapen file.
    private static func apply(_ override: ConfigOverride, value: Node, to root: Node) -> Node {
        guard case .mapping(var rootMapping) = root else {
            return root
        }
        var section = Node.Mapping([])
        if let existing = rootMapping[override.section] {
            if case .mapping(let mapping) = existing {
                section = mapping
            } else if existing.null == nil {
                return root
            }
        }
        section[override.key] = value
        rootMapping[override.section] = .mapping(section)
        return .mapping(rootMapping)
    }

    /// Fills in where `error` came from: the override that set its key, else the file (with
    /// the position of the key, for unknown keys, or of the value).
    private static func attribute(_ error: ConfigError, root: Node, source: String?,
                                  overridden: [String: ConfigOverride]) -> ConfigError {
        var located = error
        guard let key = error.key else {
            located.source = source
            return located
        }
        if let override = overridden[key] {
            located.source = override.sourceName
            return located
        }
        let atKey: Bool
        if case .unknownKey = error.kind {
            atKey = true
        } else {
            atKey = false
        }
        guard let mark = position(of: key, in: root, atKey: atKey) else {
            // Not written anywhere (a default that another key made invalid): no source to name.
            return located
        }
        located.source = source
        located.line = mark.line
        located.column = mark.column
        return located
    }

    /// The position of the dotted `key` in the tree: of the key itself when `atKey`, else of its value.
    private static func position(of key: String, in root: Node, atKey: Bool) -> Mark? {
        let parts = key.split(separator: ".").map(String.init)
        var node = root
        var mark: Mark?
        for (index, part) in parts.enumerated() {
            guard case .mapping(let mapping) = node,
                  let pair = mapping.first(where: { $0.key.string == part }) else {
                return nil
            }
            mark = (atKey && index == parts.count - 1) ? pair.key.mark : pair.value.mark
            node = pair.value
        }
        return mark
    }

    /// A Yams parse error as a ``ConfigError`` with the line and column Yams reports.
    private static func syntaxError(_ error: YamlError, source: String) -> ConfigError {
        func detail(_ problem: String, _ context: YamlError.Context?) -> String {
            guard let context else {
                return problem
            }
            return "\(problem) (\(context.text) at line \(context.mark.line), column \(context.mark.column))"
        }
        switch error {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            return ConfigError(.syntax(detail(problem, context)), key: nil, source: source,
                               line: mark.line, column: mark.column)
        case .duplicatedKeysInMapping(let duplicates, let context):
            let names = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            return ConfigError(.syntax("duplicate key \(names) in a mapping"), key: nil, source: source,
                               line: context.mark.line, column: context.mark.column)
        case .reader(let problem, _, _, _):
            return ConfigError(.syntax(problem), key: nil, source: source)
        default:
            return ConfigError(.syntax("\(error)"), key: nil, source: source)
        }
    }
}
