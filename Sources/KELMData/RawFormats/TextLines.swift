import Foundation

/// The lines of a UTF-8 text file, each checked to be valid UTF-8.
///
/// Lines end at `\n`; a `\r` before it is dropped. Empty lines are kept (callers decide), so
/// that `number` is always the line number an editor shows.
struct TextLines {
    /// One line: its 1-based number and its text (without the line terminator).
    struct Line {
        let number: Int
        let text: String
    }

    let file: String
    let lines: [Line]

    /// Reads `path`; `role` names the file in errors when it is missing (e.g. "entities file").
    init(path: String, role: String) throws {
        file = path
        let data = try readInputFile(path, role: role)
        var lines: [Line] = []
        var number = 0
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let bytes = raw.bindMemory(to: UInt8.self)
            var start = 0
            let count = bytes.count
            while start < count {
                number += 1
                var end = start
                while end < count && bytes[end] != 0x0A { end += 1 }
                var stop = end
                if stop > start && bytes[stop - 1] == 0x0D { stop -= 1 }
                let slice = UnsafeBufferPointer(rebasing: bytes[start..<stop])
                guard let text = String(validating: slice, as: UTF8.self) else {
                    let offset = firstInvalidUTF8Offset(slice)
                    throw DataError(.invalidUTF8, file: path, line: number,
                                    "invalid UTF-8 at byte \(offset + 1) of the line; the file must be UTF-8 text")
                }
                lines.append(Line(number: number, text: text))
                start = end + 1
            }
        }
        self.lines = lines
    }
}

/// Reads a whole input file, turning a missing or unreadable file into a `DataError`.
func readInputFile(_ path: String, role: String) throws -> Data {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw DataError(.missingFile, file: path, "\(role) not found")
    }
    guard !isDirectory.boolValue else {
        throw DataError(.missingFile, file: path, "\(role) expected, but this is a directory")
    }
    do {
        return try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
        throw DataError(.missingFile, file: path, "\(role) cannot be read: \(error.localizedDescription)")
    }
}

/// Byte offset of the first byte where `bytes` stops being valid UTF-8.
func firstInvalidUTF8Offset(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
    var index = 0
    while index < bytes.count {
        let lead = bytes[index]
        let length: Int
        switch lead {
        case 0x00...0x7F: length = 1
        case 0xC2...0xDF: length = 2
        case 0xE0...0xEF: length = 3
        case 0xF0...0xF4: length = 4
        default: return index
        }
        guard index + length <= bytes.count else { return index }
        let prefix = UnsafeBufferPointer(rebasing: bytes[index..<(index + length)])
        if String(validating: prefix, as: UTF8.self) == nil { return index }
        index += length
    }
    return index
}

/// Splits a TSV line into its tab-separated columns and checks their number.
///
/// `expected` lists the column names; the last `optional` of them may be absent.
func tsvColumns(_ line: TextLines.Line, file: String, expected: [String], optional: Int = 0) throws -> [String] {
    let columns = line.text.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
    let required = expected.count - optional
    guard columns.count >= required && columns.count <= expected.count else {
        let counts = optional == 0 ? "\(expected.count)" : "\(required) to \(expected.count)"
        let names = expected.enumerated().map { index, name in index >= required ? "[\(name)]" : name }
        throw DataError(.wrongColumnCount, file: file, line: line.number,
                        "expected \(counts) tab-separated columns (\(names.joined(separator: ", "))), found \(columns.count)")
    }
    return columns
}
