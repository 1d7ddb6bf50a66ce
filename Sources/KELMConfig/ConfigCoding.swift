import Foundation

// Decoding and encoding helpers shared by the configuration sections: the strict per-key reader
// (unknown keys, type checks, enum checks, all naming the dotted key), the description of an
// offending value, and "did you mean" suggestions. They work with any `Decoder` (Yams for YAML,
// Foundation for JSON), so both formats obey the same rules.

/// A coding key for any string, used to list every key present in a mapping.
struct AnyConfigKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }

    init(_ string: String) {
        self.stringValue = string
    }

    init(stringValue: String) {
        self.stringValue = stringValue
    }

    init?(intValue: Int) {
        self.stringValue = String(intValue)
    }
}

/// A scalar Swift type that a configuration key may have.
protocol ConfigScalar: Codable, Equatable, Sendable {
    /// How the type is named in error messages ("an integer").
    static var typeDescription: String { get }
}

extension Int: ConfigScalar {
    static var typeDescription: String { "an integer" }
}

extension Double: ConfigScalar {
    static var typeDescription: String { "a number" }
}

extension Bool: ConfigScalar {
    static var typeDescription: String { "true or false" }
}

extension String: ConfigScalar {
    static var typeDescription: String { "a string" }
}

/// An enumerated string key: a `String`-backed enum whose raw values are the spellings allowed
/// in the file (`knowledge-paths`).
public protocol ConfigEnum: RawRepresentable, CaseIterable, Codable, Equatable, Sendable where RawValue == String {}

extension ConfigEnum {
    /// The allowed spellings, comma-separated, in declaration order.
    public static var allowedValues: String {
        allCases.map { $0.rawValue }.joined(separator: ", ")
    }
}

/// A section of the configuration (`model`, `train`, …): decodable with every key optional and
/// encodable with every key present, both from its field table.
protocol ConfigSection: Codable, Equatable, Sendable {
    /// The section's name in the file (`train`).
    static var sectionName: String { get }
    /// The section's keys, in file order.
    static var fields: [ConfigField<Self>] { get }
    /// The section with every key at its default.
    init()
}

extension ConfigSection {
    /// The section's keys as spelled in the file, in file order.
    static var keyNames: [String] { fields.map(\.name) }

    /// Decodes strictly; absent keys take their defaults.
    public init(from decoder: Decoder) throws {
        let r = try ConfigReader<AnyConfigKey>(decoder, known: Set(Self.fields.map(\.name)))
        let defaults = Self()
        self = defaults
        for field in Self.fields { try field.read(r, &self, defaults) }
    }

    /// Encodes every key.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: AnyConfigKey.self)
        for field in Self.fields { try field.write(&c, self) }
    }
}

/// Joins a coding path (plus an optional last key) into a dotted config key.
func dottedKey(_ path: [CodingKey], _ last: CodingKey? = nil) -> String {
    var parts = path.map { $0.stringValue }
    if let last {
        parts.append(last.stringValue)
    }
    return parts.joined(separator: ".")
}

/// Runs `body` to probe the shape of a value; a thrown error only means "not this shape".
private func probe<T>(_ body: () throws -> T) -> T? {
    do {
        return try body()
    } catch {
        return nil
    }
}

/// A value of any shape, decoded only to describe it in an error message: scalars as written
/// (strings quoted), lists as `[a, b]`, mappings as `{k: v}`.
struct FoundValue: Decodable {
    /// The description.
    let text: String

    init(from decoder: Decoder) throws {
        if let single = probe({ try decoder.singleValueContainer() }) {
            if single.decodeNil() {
                text = "null"
                return
            }
            // Yams gives any scalar as a string (its text as written); JSON only gives strings.
            let raw = probe { try single.decode(String.self) }
            if let int = probe({ try single.decode(Int.self) }) {
                text = raw ?? String(int)
                return
            }
            if let double = probe({ try single.decode(Double.self) }) {
                text = raw ?? String(double)
                return
            }
            if let bool = probe({ try single.decode(Bool.self) }) {
                text = raw ?? String(bool)
                return
            }
            if let raw {
                text = FoundValue.quoted(raw)
                return
            }
        }
        if var list = probe({ try decoder.unkeyedContainer() }) {
            var items: [String] = []
            while !list.isAtEnd {
                items.append(try list.decode(FoundValue.self).text)
            }
            text = FoundValue.shortened("[" + items.joined(separator: ", ") + "]")
            return
        }
        if let mapping = probe({ try decoder.container(keyedBy: AnyConfigKey.self) }) {
            var items: [String] = []
            for key in mapping.allKeys {
                items.append(key.stringValue + ": " + (try mapping.decode(FoundValue.self, forKey: key).text))
            }
            text = FoundValue.shortened("{" + items.joined(separator: ", ") + "}")
            return
        }
        text = "a value of unknown shape"
    }

    /// `s` in double quotes, with quotes, backslashes and newlines escaped.
    static func quoted(_ s: String) -> String {
        let escaped = s
            .replacingOccurrences(of: "\\", with: "\\\\")
            .replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
        return shortened("\"" + escaped + "\"")
    }

    /// `s` cut to at most 80 characters.
    static func shortened(_ s: String) -> String {
        s.count <= 80 ? s : String(s.prefix(77)) + "..."
    }
}

/// Reads one mapping of the configuration strictly: rejects keys not in `Key` (or not among the
/// names given), and decodes each key with its default when absent, naming the dotted key in
/// every error.
struct ConfigReader<Key: CodingKey> {
    /// The mapping, keyed by the known keys.
    let container: KeyedDecodingContainer<Key>
    /// The coding path of the mapping (empty at the top level, `[train]` for a section).
    let path: [CodingKey]

    /// Opens the mapping that `decoder` holds; throws if it is not a mapping or has an unknown key.
    init(_ decoder: Decoder, keys: Key.Type) throws where Key: CaseIterable {
        try self.init(decoder, known: Set(Key.allCases.map { $0.stringValue }))
    }

    /// As `init(_:keys:)` for the keys named `known` (a section's field table).
    init(_ decoder: Decoder, known: Set<String>) throws {
        path = decoder.codingPath
        let mappingKey: String? = path.isEmpty ? nil : dottedKey(path)
        let everything: KeyedDecodingContainer<AnyConfigKey>
        do {
            everything = try decoder.container(keyedBy: AnyConfigKey.self)
        } catch {
            let found = probe { try FoundValue(from: decoder).text } ?? "a value of another type"
            throw ConfigError(.typeMismatch(expected: "a mapping", found: found), key: mappingKey)
        }
        for key in everything.allKeys where !known.contains(key.stringValue) {
            let unknown = dottedKey(path, key)
            throw ConfigError(.unknownKey(suggestion: ConfigSchema.suggestion(for: unknown)), key: unknown)
        }
        container = try decoder.container(keyedBy: Key.self)
    }

    /// The value at `key`, or `fallback` when the key is absent; null or a value of another
    /// type is an error.
    func value<T: ConfigScalar>(_ key: Key, _ fallback: T) throws -> T {
        guard container.contains(key) else {
            return fallback
        }
        if try container.decodeNil(forKey: key) {
            throw ConfigError(.typeMismatch(expected: T.typeDescription, found: "null"), key: dottedKey(path, key))
        }
        return try decode(T.self, key, expected: T.typeDescription)
    }

    /// The value at `key`, `fallback` when the key is absent, nil when it is null.
    func optional<T: ConfigScalar>(_ key: Key, _ fallback: T?) throws -> T? {
        guard container.contains(key) else {
            return fallback
        }
        if try container.decodeNil(forKey: key) {
            return nil
        }
        return try decode(T.self, key, expected: T.typeDescription + " or null")
    }

    /// The enum value at `key`, or `fallback` when absent; an unknown spelling is an error that
    /// lists the allowed ones.
    func enumeration<E: ConfigEnum>(_ key: Key, _ fallback: E) throws -> E {
        guard container.contains(key) else {
            return fallback
        }
        let expected = "one of " + E.allowedValues
        if try container.decodeNil(forKey: key) {
            throw ConfigError(.typeMismatch(expected: expected, found: "null"), key: dottedKey(path, key))
        }
        let raw = try decode(String.self, key, expected: expected)
        guard let value = E(rawValue: raw) else {
            let reason = "invalid value \(FoundValue.quoted(raw)); allowed values: \(E.allowedValues)"
            throw ConfigError(.invalidValue(reason), key: dottedKey(path, key))
        }
        return value
    }

    /// The section at `key`, or `fallback` when absent or empty (`train:` with nothing under it).
    func section<S: ConfigSection>(_ key: Key, _ fallback: S) throws -> S {
        guard container.contains(key) else {
            return fallback
        }
        if try container.decodeNil(forKey: key) {
            return fallback
        }
        return try container.decode(S.self, forKey: key)
    }

    /// Decodes a scalar, turning a type mismatch into a `ConfigError` that shows the value found.
    /// Any failure counts as a mismatch: decoders do not only throw `DecodingError` (Foundation's
    /// JSON decoder throws its own error for a fractional number read as `Int`).
    private func decode<T: ConfigScalar>(_ type: T.Type, _ key: Key, expected: String) throws -> T {
        do {
            return try container.decode(T.self, forKey: key)
        } catch {
            let found = probe { try container.decode(FoundValue.self, forKey: key).text } ?? "a value of another type"
            throw ConfigError(.typeMismatch(expected: expected, found: found), key: dottedKey(path, key))
        }
    }
}

/// One key of a section: its spelling in the file, and how it is read (strictly, with the
/// section's default when absent) and written. A section lists its keys once, in a field table,
/// and `ConfigSection`'s `init(from:)` and `encode(to:)` follow from it.
struct ConfigField<Section>: Sendable {
    let name: String
    let read: @Sendable (ConfigReader<AnyConfigKey>, inout Section, Section) throws -> Void
    let write: @Sendable (inout KeyedEncodingContainer<AnyConfigKey>, Section) throws -> Void

    /// A scalar key (null is an error).
    static func value<T: ConfigScalar>(_ name: String, _ path: WritableKeyPath<Section, T> & Sendable) -> Self {
        let key = AnyConfigKey(name)
        return Self(name: name, read: { r, s, d in s[keyPath: path] = try r.value(key, d[keyPath: path]) },
                    write: { c, s in try c.encode(s[keyPath: path], forKey: key) })
    }

    /// A key that may be null.
    static func optional<T: ConfigScalar>(_ name: String, _ path: WritableKeyPath<Section, T?> & Sendable) -> Self {
        let key = AnyConfigKey(name)
        return Self(name: name, read: { r, s, d in s[keyPath: path] = try r.optional(key, d[keyPath: path]) },
                    write: { c, s in try c.encodeOrNull(s[keyPath: path], forKey: key) })
    }

    /// An enumerated key.
    static func enumeration<E: ConfigEnum>(_ name: String, _ path: WritableKeyPath<Section, E> & Sendable) -> Self {
        let key = AnyConfigKey(name)
        return Self(name: name, read: { r, s, d in s[keyPath: path] = try r.enumeration(key, d[keyPath: path]) },
                    write: { c, s in try c.encode(s[keyPath: path], forKey: key) })
    }
}

extension KeyedEncodingContainer {
    /// Encodes `value`, or an explicit null when it is nil, so that every key is present.
    mutating func encodeOrNull<T: Encodable>(_ value: T?, forKey key: Key) throws {
        if let value {
            try encode(value, forKey: key)
        } else {
            try encodeNil(forKey: key)
        }
    }
}

/// The set of known keys, for unknown-key checks of overrides and "did you mean" suggestions.
enum ConfigSchema {
    /// Every section with its keys, in file order.
    static let sections: [(name: String, keys: [String])] = [
        (KELMConfig.ModelSection.sectionName, KELMConfig.ModelSection.keyNames),
        (KELMConfig.DataSection.sectionName, KELMConfig.DataSection.keyNames),
        (KELMConfig.TrainSection.sectionName, KELMConfig.TrainSection.keyNames),
        (KELMConfig.RoutingSection.sectionName, KELMConfig.RoutingSection.keyNames),
        (KELMConfig.MemorySection.sectionName, KELMConfig.MemorySection.keyNames),
        (KELMConfig.CheckpointSection.sectionName, KELMConfig.CheckpointSection.keyNames),
        (KELMConfig.EvalSection.sectionName, KELMConfig.EvalSection.keyNames),
        (KELMConfig.LogSection.sectionName, KELMConfig.LogSection.keyNames),
    ]

    /// The keys of section `name`, or nil if there is no such section.
    static func keys(ofSection name: String) -> [String]? {
        sections.first { $0.name == name }?.keys
    }

    /// Whether `section.key` is a known key.
    static func contains(section: String, key: String) -> Bool {
        keys(ofSection: section)?.contains(key) ?? false
    }

    /// A known dotted key close to the unknown dotted key `unknown`, if there is one: a near
    /// spelling in the same section, else the same key name in another section (`micro_batch`
    /// at the top level suggests `train.micro_batch`), else a near section name.
    static func suggestion(for unknown: String) -> String? {
        let parts = unknown.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        let sectionNames = sections.map { $0.name }
        if parts.count == 1 {
            let name = parts[0]
            if let owner = sections.first(where: { $0.keys.contains(name) }) {
                return owner.name + "." + name
            }
            return closest(to: name, among: sectionNames)
        }
        guard parts.count == 2 else {
            return nil
        }
        let (section, name) = (parts[0], parts[1])
        if let keys = keys(ofSection: section) {
            if let near = closest(to: name, among: keys) {
                return section + "." + near
            }
        } else if let nearSection = closest(to: section, among: sectionNames),
                  let keys = keys(ofSection: nearSection) {
            if keys.contains(name) {
                return nearSection + "." + name
            }
            if let near = closest(to: name, among: keys) {
                return nearSection + "." + near
            }
        }
        if let owner = sections.first(where: { $0.keys.contains(name) }) {
            return owner.name + "." + name
        }
        return nil
    }

    /// The candidate nearest to `name` in edit distance, if it is near enough to be a typo.
    static func closest(to name: String, among candidates: [String]) -> String? {
        let normalised = name.lowercased().replacingOccurrences(of: "-", with: "_")
        let limit = max(1, min(3, name.count / 3))
        var best: (candidate: String, distance: Int)?
        for candidate in candidates {
            let distance = editDistance(normalised, candidate)
            guard distance <= limit else {
                continue
            }
            if let current = best, current.distance <= distance {
                continue
            }
            best = (candidate, distance)
        }
        return best?.candidate
    }

    /// Optimal-string-alignment distance: insertions, deletions, substitutions and transpositions
    /// of adjacent characters each cost 1.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let x = Array(a)
        let y = Array(b)
        if x.isEmpty { return y.count }
        if y.isEmpty { return x.count }
        var d = [[Int]](repeating: [Int](repeating: 0, count: y.count + 1), count: x.count + 1)
        for i in 0...x.count { d[i][0] = i }
        for j in 0...y.count { d[0][j] = j }
        for i in 1...x.count {
            for j in 1...y.count {
                let cost = x[i - 1] == y[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1 && j > 1 && x[i - 1] == y[j - 2] && x[i - 2] == y[j - 1] {
                    d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
                }
            }
        }
        return d[x.count][y.count]
    }
}
