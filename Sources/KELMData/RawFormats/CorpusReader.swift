import Foundation

/// Reads a corpus: plain text (one segment per non-blank line) or, when the file name ends in
/// `.jsonl`, one JSON object per line:
/// `{"text": "…", "mentions": [{"start": 0, "end": 3, "entity": "e1"}], "source": "e1"}` with
/// Unicode code-point offsets (end exclusive). `mentions` and `source` are optional; a line
/// without `mentions` is linked by `prepare`, `"mentions": []` means "no mentions".
public enum CorpusReader {
    /// Reads `path`; entity ids are resolved through `entityIndex` (raw id → entity id).
    public static func read(_ path: String, entityIndex: [String: Int32]) throws -> [CorpusSegment] {
        let file = try TextLines(path: path, role: "corpus file")
        let jsonLines = path.lowercased().hasSuffix(".jsonl")
        var segments: [CorpusSegment] = []
        for line in file.lines where !line.text.allSatisfy({ $0.isWhitespace }) {
            if jsonLines {
                segments.append(try jsonSegment(line, file: path, entityIndex: entityIndex))
            } else {
                segments.append(CorpusSegment(text: line.text))
            }
        }
        guard !segments.isEmpty else {
            throw DataError(.emptyCorpus, file: path, "expected at least one text segment, found none")
        }
        return segments
    }

    private static func jsonSegment(_ line: TextLines.Line, file: String,
                                    entityIndex: [String: Int32]) throws -> CorpusSegment {
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: Data(line.text.utf8))
        } catch {
            throw DataError(.malformed, file: file, line: line.number,
                            "expected a JSON object {\"text\": …, \"mentions\": […]}, found invalid JSON")
        }
        guard let object = parsed as? [String: Any] else {
            throw DataError(.malformed, file: file, line: line.number,
                            "expected a JSON object {\"text\": …, \"mentions\": […]}")
        }
        guard let text = object["text"] as? String else {
            throw DataError(.malformed, file: file, line: line.number, field: "text", "expected a string")
        }
        let length = text.unicodeScalars.count
        var source: Int32 = -1
        if let value = object["source"], !(value is NSNull) {
            source = try entity(value, file: file, line: line.number, field: "source", entityIndex: entityIndex)
        }
        guard let mentionsValue = object["mentions"], !(mentionsValue is NSNull) else {
            return CorpusSegment(text: text, mentions: nil, sourceEntity: source)
        }
        guard let list = mentionsValue as? [Any] else {
            throw DataError(.malformed, file: file, line: line.number, field: "mentions", "expected an array of mentions")
        }
        var mentions: [Mention] = []
        for (index, item) in list.enumerated() {
            let field = "mentions[\(index)]"
            guard let mention = item as? [String: Any] else {
                throw DataError(.malformed, file: file, line: line.number, field: field,
                                "expected an object {\"start\": …, \"end\": …, \"entity\": …}")
            }
            let start = try integer(mention["start"], file: file, line: line.number, field: field + ".start")
            let end = try integer(mention["end"], file: file, line: line.number, field: field + ".end")
            guard start >= 0 && start < end && end <= length else {
                throw DataError(.mentionOutOfRange, file: file, line: line.number, field: field,
                                "span \(start)..<\(end) is outside the text, which has \(length) code points; expected 0 <= start < end <= \(length)")
            }
            guard let entityValue = mention["entity"] else {
                throw DataError(.malformed, file: file, line: line.number, field: field + ".entity", "expected an entity id")
            }
            let entity = try entity(entityValue, file: file, line: line.number, field: field + ".entity",
                                    entityIndex: entityIndex)
            mentions.append(Mention(start: start, end: end, entity: entity))
        }
        mentions.sort { ($0.start, $0.end) < ($1.start, $1.end) }
        return CorpusSegment(text: text, mentions: mentions, sourceEntity: source)
    }

    private static func integer(_ value: Any?, file: String, line: Int, field: String) throws -> Int {
        if let number = value as? NSNumber {
            let double = number.doubleValue
            if double == double.rounded(), abs(double) < 1e15 { return Int(double) }
        }
        throw DataError(.malformed, file: file, line: line, field: field, "expected an integer code-point offset")
    }

    private static func entity(_ value: Any, file: String, line: Int, field: String,
                               entityIndex: [String: Int32]) throws -> Int32 {
        let key: String
        if let text = value as? String {
            key = text
        } else if let number = value as? NSNumber, number.doubleValue == number.doubleValue.rounded() {
            key = String(Int(number.doubleValue))
        } else {
            throw DataError(.malformed, file: file, line: line, field: field, "expected an entity id (string or integer)")
        }
        guard let entity = entityIndex[key] else {
            throw DataError(.unknownEntity, file: file, line: line, field: field,
                            "expected an entity id of the entities file, found \"\(key)\"")
        }
        return entity
    }
}
