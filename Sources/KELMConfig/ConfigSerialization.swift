import Foundation
import Yams

extension KELMConfig {
    /// The canonical JSON of the configuration: one line, keys sorted, snake_case, every key
    /// present (nil optionals as null). This is what run directories and checkpoints store
    /// (DESIGN §7), and what ``fingerprint()`` hashes. Throws a ``ConfigError`` naming the key if a
    /// number is not finite (JSON cannot hold it).
    public func canonicalJSONData() throws -> Data {
        try encodeJSON(formatting: [.sortedKeys, .withoutEscapingSlashes])
    }

    /// ``canonicalJSONData()`` as a string.
    public func canonicalJSON() throws -> String {
        String(decoding: try canonicalJSONData(), as: UTF8.self)
    }

    /// The same content as ``canonicalJSON()``, indented for people (keys sorted).
    public func prettyJSON() throws -> String {
        String(decoding: try encodeJSON(formatting: [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]),
               as: UTF8.self)
    }

    /// The configuration as block-style YAML with the content and order of ``canonicalJSON()``
    /// (sorted keys, every key present, numbers written as in the JSON, strings double-quoted);
    /// ``ConfigLoader`` reads it back to an equal configuration.
    public func yaml() throws -> String {
        // JSON is YAML: compose the canonical JSON and re-emit it in block style. (Yams's own
        // encoder writes 0.1 as `1e-1` and 1e-12 as `9.9999999999999998e-13`.)
        let json = try canonicalJSON()
        do {
            guard let node = try Yams.compose(yaml: json) else {
                return ""
            }
            return try Yams.serialize(node: Self.blockStyle(node))
        } catch let error as YamlError {
            throw ConfigError(.invalidValue("cannot be written as YAML: \(error)"), key: nil)
        }
    }

    /// `node` with every mapping and sequence in block style (JSON text composes to flow style)
    /// and plain mapping keys. String values stay double-quoted, so that a string such as
    /// `"null"` or `"8"` reads back as a string.
    private static func blockStyle(_ node: Node) -> Node {
        switch node {
        case .mapping(let mapping):
            let pairs = mapping.map { pair -> (Node, Node) in
                let key = pair.key.string.map { Node($0) } ?? pair.key
                return (key, blockStyle(pair.value))
            }
            return Node(pairs, mapping.tag, .block)
        case .sequence(let sequence):
            return Node(sequence.map { blockStyle($0) }, sequence.tag, .block)
        case .scalar, .alias:
            return node
        }
    }

    /// Decodes a configuration from JSON (e.g. the canonical JSON stored in a checkpoint) with
    /// the same strictness as YAML, then validates it. Throws ``ConfigError``.
    public init(json: Data) throws {
        let decoded: KELMConfig
        do {
            decoded = try JSONDecoder().decode(KELMConfig.self, from: json)
        } catch let error as ConfigError {
            throw error
        } catch let error as DecodingError {
            throw ConfigError(decoding: error, format: "JSON")
        }
        try decoded.validate()
        self = decoded
    }

    /// ``init(json:)`` from a string.
    public init(json: String) throws {
        try self.init(json: Data(json.utf8))
    }

    private func encodeJSON(formatting: JSONEncoder.OutputFormatting) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = formatting
        do {
            return try encoder.encode(self)
        } catch let error as EncodingError {
            throw ConfigError(encoding: error)
        }
    }
}

extension ConfigError {
    /// An encoding failure (a non-finite number) as an error naming the key.
    init(encoding error: EncodingError) {
        switch error {
        case .invalidValue(let value, let context):
            self.init(.invalidValue("cannot be encoded (\(value)); numbers must be finite"),
                      key: context.codingPath.isEmpty ? nil : dottedKey(context.codingPath))
        @unknown default:
            self.init(.invalidValue("cannot be encoded: \(error)"), key: nil)
        }
    }

    /// A decoding failure the strict reader did not already turn into a ``ConfigError``
    /// (malformed text, mostly) as an error naming the key where there is one.
    init(decoding error: DecodingError, format: String) {
        switch error {
        case .dataCorrupted(let context):
            let key = context.codingPath.isEmpty ? nil : dottedKey(context.codingPath)
            let reason = context.underlyingError.map { "\($0)" } ?? context.debugDescription
            if key == nil {
                self.init(.syntax("invalid \(format): \(reason)"), key: nil)
            } else {
                self.init(.invalidValue(reason), key: key)
            }
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            self.init(.invalidValue(context.debugDescription),
                      key: context.codingPath.isEmpty ? nil : dottedKey(context.codingPath))
        case .keyNotFound(let key, let context):
            self.init(.invalidValue("missing (\(context.debugDescription))"), key: dottedKey(context.codingPath, key))
        @unknown default:
            self.init(.invalidValue("\(error)"), key: nil)
        }
    }
}
