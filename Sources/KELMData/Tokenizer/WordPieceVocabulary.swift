// A BERT `vocab.txt`: one token per line, id = line index (DESIGN §6). Tokens are compared as
// sequences of Unicode scalars, as Python compares `str` keys (Swift `String` equality would
// identify canonically equivalent spellings, e.g. a precomposed and a decomposed "é").

import Foundation

/// Why a vocabulary could not be loaded. Line numbers are 1-based (line n holds token id n − 1).
public enum VocabularyError: Error, Equatable, CustomStringConvertible, LocalizedError {
    /// The file cannot be read (missing, a directory, no permission, …).
    case unreadable(path: String, reason: String)
    /// A line is not valid UTF-8.
    case invalidUTF8(path: String, line: Int)
    /// A token occurs twice; `firstLine` is its earlier occurrence.
    case duplicateToken(path: String, token: String, line: Int, firstLine: Int)
    /// Some of `[PAD] [UNK] [CLS] [SEP] [MASK]` are absent.
    case missingSpecialTokens(path: String, missing: [String])
    /// More tokens than an `Int32` id can number.
    case tooManyTokens(path: String, count: Int)

    public var description: String {
        switch self {
        case let .unreadable(path, reason):
            return "cannot read vocabulary \(path): \(reason)"
        case let .invalidUTF8(path, line):
            return "vocabulary \(path) line \(line): invalid UTF-8"
        case let .duplicateToken(path, token, line, firstLine):
            return "vocabulary \(path) line \(line): duplicate token \(String(reflecting: token)) (first on line \(firstLine))"
        case let .missingSpecialTokens(path, missing):
            return "vocabulary \(path) lacks the special token(s) \(missing.joined(separator: " "))"
        case let .tooManyTokens(path, count):
            return "vocabulary \(path) has \(count) tokens, more than Int32 ids can number"
        }
    }

    public var errorDescription: String? { description }
}

/// The tokens of a WordPiece vocabulary, their ids, and the prefix trees the tokenizer matches against.
public struct WordPieceVocabulary: Sendable {
    /// Where the tokens came from (a file path, or a name given to an in-memory vocabulary).
    public let source: String
    /// The tokens in id order.
    public let tokens: [String]
    /// Ids of the special tokens, indexed like `SpecialToken.allCases`.
    private let specialIDs: [Int32]
    /// The special tokens' code points and ids, for matching them in text.
    let specialScalars: [(scalars: [UInt32], id: Int32)]
    let trie: TokenTrie

    /// Loads `vocab.txt`: one token per line (lines end with LF, CRLF or CR, as Python's
    /// universal newlines read them), token id = line index. Throws `VocabularyError` when the file
    /// is unreadable, not UTF-8, repeats a token, or lacks a special token.
    public init(contentsOfFile path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw VocabularyError.unreadable(path: path, reason: "no such file")
        }
        guard !isDirectory.boolValue else {
            throw VocabularyError.unreadable(path: path, reason: "is a directory")
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw VocabularyError.unreadable(path: path, reason: Self.reason(error))
        }
        var lines: [String] = []
        var lineNumber = 0
        var failure: VocabularyError?
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let bytes = raw.bindMemory(to: UInt8.self)
            var start = 0, i = 0
            func take(_ end: Int) -> Bool {
                lineNumber += 1
                guard let line = Self.decodeUTF8(UnsafeBufferPointer(rebasing: bytes[start..<end])) else {
                    failure = .invalidUTF8(path: path, line: lineNumber)
                    return false
                }
                lines.append(line)
                return true
            }
            while i < bytes.count {
                let b = bytes[i]
                if b == 0x0A || b == 0x0D {
                    guard take(i) else { return }
                    i += (b == 0x0D && i + 1 < bytes.count && bytes[i + 1] == 0x0A) ? 2 : 1
                    start = i
                } else {
                    i += 1
                }
            }
            if start < bytes.count { _ = take(bytes.count) }
        }
        if let failure { throw failure }
        try self.init(tokens: lines, source: path)
    }

    /// A vocabulary from tokens in id order; `source` names it in errors.
    public init(tokens: [String], source: String = "<memory>") throws {
        guard tokens.count < Int(Int32.max) else {
            throw VocabularyError.tooManyTokens(path: source, count: tokens.count)
        }
        var trie = TokenTrie()
        for (index, token) in tokens.enumerated() {
            if let earlier = trie.insert(token, id: Int32(index)) {
                throw VocabularyError.duplicateToken(path: source, token: token, line: index + 1,
                                                     firstLine: Int(earlier) + 1)
            }
        }
        var ids: [Int32] = []
        var missing: [String] = []
        for special in SpecialToken.allCases {
            if let id = trie.exactID(special.rawValue.unicodeScalars) {
                ids.append(id)
            } else {
                missing.append(special.rawValue)
            }
        }
        guard missing.isEmpty else { throw VocabularyError.missingSpecialTokens(path: source, missing: missing) }
        self.source = source
        self.tokens = tokens
        self.specialIDs = ids
        self.specialScalars = zip(SpecialToken.allCases, ids).map { (Array($0.rawValue.unicodeScalars.map(\.value)), $1) }
        self.trie = trie
    }

    /// Number of tokens (= 1 + the largest id).
    public var count: Int { tokens.count }

    /// The token with id `id`, or nil outside `0..<count`.
    public func token(for id: Int32) -> String? {
        id >= 0 && Int(id) < tokens.count ? tokens[Int(id)] : nil
    }

    /// The id of `token` (compared code point by code point), or nil if it is not in the vocabulary.
    public func id(for token: String) -> Int32? {
        trie.exactID(token.unicodeScalars)
    }

    /// The id of a special token (every vocabulary holds all of them).
    public func id(for special: SpecialToken) -> Int32 {
        // allCases order; the initialiser found every one.
        specialIDs[SpecialToken.allCases.firstIndex(of: special) ?? 0]
    }

    /// `[PAD]`'s id.
    public var padID: Int32 { id(for: .pad) }
    /// `[UNK]`'s id.
    public var unknownID: Int32 { id(for: .unknown) }
    /// `[CLS]`'s id.
    public var clsID: Int32 { id(for: .cls) }
    /// `[SEP]`'s id.
    public var sepID: Int32 { id(for: .sep) }
    /// `[MASK]`'s id.
    public var maskID: Int32 { id(for: .mask) }

    /// Strict UTF-8 decoding (no repair), nil on any invalid sequence.
    static func decodeUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        var scalars = String.UnicodeScalarView()
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case let .scalarValue(s): scalars.append(s)
            case .emptyInput: return String(scalars)
            case .error: return nil
            }
        }
    }

    static func reason(_ error: Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError {
            return "\(ns.localizedDescription) (\(underlying.localizedDescription))"
        }
        return ns.localizedDescription
    }
}

/// Two prefix trees over Unicode scalars sharing one node space: from `wordRoot` every token is
/// spelled out in full; from `continuationRoot` the tokens that start with `##`, without the `##`.
/// Greedy longest-match-first then walks one tree as far as the word allows.
struct TokenTrie: Sendable {
    static let wordRoot: Int32 = 0
    static let continuationRoot: Int32 = 1

    /// (node << 21 | scalar) → child node.
    private var children = EdgeTable()
    /// Token id ending at each node, −1 if none.
    private(set) var terminal: [Int32] = [-1, -1]

    @inline(__always)
    func child(_ node: Int32, _ scalar: UInt32) -> Int32? {
        children.find(UInt64(node) << 21 | UInt64(scalar))
    }

    /// Adds `token`; returns the id already stored for the same token (a duplicate), else nil.
    mutating func insert(_ token: String, id: Int32) -> Int32? {
        let scalars = Array(token.unicodeScalars)
        if let earlier = add(scalars[...], from: Self.wordRoot, id: id) { return earlier }
        if scalars.count > 2 && scalars[0] == "#" && scalars[1] == "#" {
            _ = add(scalars[2...], from: Self.continuationRoot, id: id)
        }
        return nil
    }

    private mutating func add(_ scalars: ArraySlice<Unicode.Scalar>, from root: Int32, id: Int32) -> Int32? {
        var node = root
        for s in scalars {
            let key = UInt64(node) << 21 | UInt64(s.value)
            if let next = children.find(key) {
                node = next
            } else {
                let next = Int32(terminal.count)
                terminal.append(-1)
                children.insert(key, next)
                node = next
            }
        }
        if terminal[Int(node)] >= 0 { return terminal[Int(node)] }
        terminal[Int(node)] = id
        return nil
    }

    /// The id of exactly this token, or nil.
    func exactID(_ scalars: String.UnicodeScalarView) -> Int32? {
        var node = Self.wordRoot
        for s in scalars {
            guard let next = child(node, s.value) else { return nil }
            node = next
        }
        let id = terminal[Int(node)]
        return id >= 0 ? id : nil
    }
}

/// The trie's edges: an open-addressing hash table from UInt64 keys to node ids with linear
/// probing and a multiplicative hash. Key and value share one slot, so a probe touches one cache
/// line; a `Dictionary` spent most of WordPiece's time hashing.
struct EdgeTable: Sendable {
    private struct Slot {
        var key: UInt64
        var value: Int32
    }

    private static let emptyKey = UInt64.max
    private var slots = [Slot](repeating: Slot(key: EdgeTable.emptyKey, value: -1), count: 1024)
    private var shift: UInt64 = 54  // 64 − log2(capacity)
    private var count = 0

    @inline(__always)
    private func slot(_ key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    @inline(__always)
    func find(_ key: UInt64) -> Int32? {
        slots.withUnsafeBufferPointer { table in
            let mask = table.count - 1
            var i = slot(key)
            while true {
                let k = table[i].key
                if k == key { return table[i].value }
                if k == Self.emptyKey { return nil }
                i = (i + 1) & mask
            }
        }
    }

    /// Adds a key that is not in the table yet.
    mutating func insert(_ key: UInt64, _ value: Int32) {
        if (count + 1) * 2 > slots.count { grow() }
        let mask = slots.count - 1
        var i = slot(key)
        while slots[i].key != Self.emptyKey { i = (i + 1) & mask }
        slots[i] = Slot(key: key, value: value)
        count += 1
    }

    private mutating func grow() {
        let old = slots
        slots = [Slot](repeating: Slot(key: Self.emptyKey, value: -1), count: old.count * 2)
        shift -= 1
        count = 0
        for s in old where s.key != Self.emptyKey { insert(s.key, s.value) }
    }
}
