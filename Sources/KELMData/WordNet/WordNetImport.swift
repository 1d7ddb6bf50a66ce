import Foundation

/// Reads the WordNet 3.0 database (the files of Debian's `wordnet-base`, wndb(5)) into a
/// knowledge base and a corpus (DESIGN §6).
///
/// - Entities are synsets, named as NLTK names them: the first lemma of the synset lower-cased,
///   the ss_type letter (`n`, `v`, `a`, `s` for adjective satellites, `r`), and the two-digit
///   position of the synset in that lemma's sense list of `index.<pos>` (satellites use
///   `index.adj`), e.g. `dog.n.01`. The key is NLTK's offset form `02084071-n`.
/// - Surface forms are the lemmas (syntactic markers like `(a)` removed, `_` → space);
///   the description is the definition part of the gloss; the category is the lexicographer file.
/// - Relations are the pointer types, reciprocal pairs folded and symmetric ones deduplicated
///   (`WordNetSchema.pointerRelations`); lexical pointers are lifted to their synsets.
/// - The corpus is, per synset in database order (the data files noun, verb, adj, adv, each in
///   offset order, which groups synsets by lexicographer file), its definition and then each
///   example sentence of its gloss, with the synset as source entity; `prepare` packs these texts
///   in this order.
/// - An ambiguous surface form links to its most frequent sense: the sense (synset, lemma) with
///   the highest tag count in `cntlist.rev` (matched by sense key), ties broken by the sense
///   number in `index.<pos>`, then part of speech (n, v, a, r), then data-file order.
///   Entity ids are ordered so that this sense has the lowest id among the form's carriers
///   wherever the constraints allow it (`preferenceOrder`: "preferred before the other
///   carriers", otherwise noun, verb, adjective, adverb synsets by offset; where these
///   constraints form cycles a few must be broken); the linker follows the preference in any case.
public enum WordNetImport {
    /// Files that must exist in the source directory.
    static let requiredFiles = WordNetSchema.FilePOS.allCases.flatMap { ["data.\($0.fileSuffix)", "index.\($0.fileSuffix)"] }

    /// Reads the database in `source` (e.g. `/usr/share/wordnet`).
    public static func load(source: String) throws -> (KnowledgeBase, [CorpusSegment]) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DataError(.missingFile, file: source,
                            "WordNet database directory not found; expected the directory of the WordNet 3.0 database files (wordnet-base: /usr/share/wordnet)")
        }
        for name in requiredFiles {
            let path = (source as NSString).appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: path) else {
                throw DataError(.missingFile, file: path,
                                "WordNet database file not found; expected \(requiredFiles.joined(separator: ", ")) in \(source)")
            }
        }
        let categories = try lexicographerFiles(source)
        var senseLists: [[String: [Int]]] = []
        for pos in WordNetSchema.FilePOS.allCases {
            senseLists.append(try readIndex((source as NSString).appendingPathComponent("index.\(pos.fileSuffix)")))
        }
        var synsets: [Synset] = []
        for pos in WordNetSchema.FilePOS.allCases {
            try readData((source as NSString).appendingPathComponent("data.\(pos.fileSuffix)"), pos: pos,
                         categoryCount: categories.count, into: &synsets)
        }
        var synsetIndex: [Int: Int] = [:]
        synsetIndex.reserveCapacity(synsets.count)
        for (index, synset) in synsets.enumerated() { synsetIndex[synset.pos.rawValue << 32 | synset.offset] = index }
        let tagCounts = try readTagCounts((source as NSString).appendingPathComponent("cntlist.rev"))

        // The most frequent sense of each surface form (normalised): the highest tag count of
        // the sense (synset, lemma), ties to the lower sense number, then n, v, a, r.
        var best: [String: (synset: Int, count: Int, sense: Int, pos: Int)] = [:]
        var carriers: [String: [Int]] = [:]
        var satelliteKeys: [String: Int] = [:]  // satellite sense keys without head → how many senses have it
        for synset in synsets where synset.ssType == "s" {
            for k in synset.lemmas.indices {
                satelliteKeys[shortSatelliteKey(senseKey(synset, lemma: k, synsets: synsets, synsetIndex: synsetIndex)), default: 0] += 1
            }
        }
        for (index, synset) in synsets.enumerated() {
            for (k, lemma) in synset.lemmas.enumerated() {
                let form = EntityLinker.normalize(lemma)
                guard !form.isEmpty else { continue }
                let lower = lemma.lowercased()
                let key = senseKey(synset, lemma: k, synsets: synsets, synsetIndex: synsetIndex)
                var count = tagCounts[key] ?? 0
                if tagCounts[key] == nil, synset.ssType == "s" {
                    let short = shortSatelliteKey(key)
                    if satelliteKeys[short] == 1 { count = max(0, tagCounts[short] ?? 0) }
                }
                let sense = (senseLists[synset.pos.rawValue][lower]?.firstIndex(of: synset.offset)).map { $0 + 1 } ?? Int.max
                carriers[form, default: []].append(index)
                let candidate = (synset: index, count: count, sense: sense, pos: synset.pos.rawValue)
                if let current = best[form] {
                    if (count, -sense, -candidate.pos, -index) > (current.count, -current.sense, -current.pos, -current.synset) {
                        best[form] = candidate
                    }
                } else {
                    best[form] = candidate
                }
            }
        }

        // Entity order: preferred senses before the other carriers of their forms.
        var successors: [[Int32]] = Array(repeating: [], count: synsets.count)
        for (form, list) in carriers where list.count > 1 {
            guard let preferred = best[form]?.synset else { continue }
            for other in Set(list) where other != preferred { successors[preferred].append(Int32(other)) }
        }
        let order = preferenceOrder(count: synsets.count, successors: successors)
        var entityOf = [Int32](repeating: -1, count: synsets.count)
        for (id, synset) in order.enumerated() { entityOf[synset] = Int32(id) }

        // Entities.
        var entities: [Entity] = []
        entities.reserveCapacity(synsets.count)
        for synsetIndex in order {
            let synset = synsets[synsetIndex]
            let first = synset.lemmas[0].lowercased()
            let senseNumber = (senseLists[synset.pos.rawValue][first]?.firstIndex(of: synset.offset)).map { $0 + 1 }
            guard let senseNumber else {
                throw DataError(.malformed, file: synset.file, line: synset.line, field: "lemma",
                                "index.\(synset.pos.fileSuffix) lists no sense of \"\(first)\" at offset \(synset.offset)")
            }
            let name = "\(first).\(synset.ssType).\(senseNumber < 10 ? "0" : "")\(senseNumber)"
            var forms: [String] = []
            for lemma in synset.lemmas {
                let form = lemma.replacingOccurrences(of: "_", with: " ")
                if !forms.contains(form) { forms.append(form) }
            }
            let offsetText = String(synset.offset)
            let key = String(repeating: "0", count: max(0, 8 - offsetText.count)) + offsetText + "-" + String(synset.ssType)
            entities.append(Entity(key: key, name: name,
                                   description: synset.definition, surfaceForms: forms, category: Int32(synset.category)))
        }

        // Triples.
        let folding = try RelationFolding(WordNetSchema.pointerRelations.map(\.declaration))
        var triples: [Triple] = []
        for (index, synset) in synsets.enumerated() {
            let head = entityOf[index]
            for pointer in synset.pointers {
                guard let target = synsetIndex[pointer.pos.rawValue << 32 | pointer.offset] else {
                    throw DataError(.malformed, file: synset.file, line: synset.line, field: "pointer",
                                    "points to offset \(pointer.offset) in data.\(pointer.pos.fileSuffix), which holds no synset there")
                }
                if let triple = folding.fold(head: head, rawRelation: pointer.relation, tail: entityOf[target]) {
                    triples.append(triple)
                }
            }
        }
        triples = sortedUnique(triples)

        // Corpus: definition, then examples, per synset in database order.
        var corpus: [CorpusSegment] = []
        for (index, synset) in synsets.enumerated() {
            let id = entityOf[index]
            if !synset.definition.isEmpty {
                corpus.append(CorpusSegment(text: synset.definition, mentions: nil, sourceEntity: id))
            }
            for example in synset.examples {
                corpus.append(CorpusSegment(text: example, mentions: nil, sourceEntity: id))
            }
        }
        var preference: [String: Int32] = [:]
        for (form, choice) in best { preference[form] = entityOf[choice.synset] }
        let knowledgeBase = KnowledgeBase(entities: entities, categories: categories,
                                          relations: folding.keptRawRelation.map { WordNetSchema.pointerRelations[$0].name },
                                          triples: triples, linkPreference: preference)
        return (knowledgeBase, corpus)
    }

    // MARK: Files

    struct Pointer {
        let relation: Int
        let pos: WordNetSchema.FilePOS
        let offset: Int
    }

    struct Synset {
        let pos: WordNetSchema.FilePOS
        let offset: Int
        let ssType: Character
        let category: Int
        let lemmas: [String]
        /// The lex_id of each lemma (sense keys use it).
        let lexIDs: [Int]
        let pointers: [Pointer]
        let definition: String
        let examples: [String]
        let file: String
        let line: Int
    }

    /// `lexnames` when present, else the names of lexnames(5).
    static func lexicographerFiles(_ source: String) throws -> [String] {
        let path = (source as NSString).appendingPathComponent("lexnames")
        guard FileManager.default.fileExists(atPath: path) else { return WordNetSchema.lexicographerFiles }
        var names: [String] = []
        for line in try TextLines(path: path, role: "WordNet lexnames file").lines where !line.text.isEmpty {
            let fields = line.text.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard fields.count >= 2, let number = Int(fields[0]), number == names.count else {
                throw DataError(.malformed, file: path, line: line.number,
                                "expected \"<file number \(names.count)>\\t<lexicographer file name>\\t<syntactic category>\"")
            }
            names.append(String(fields[1]))
        }
        return names
    }

    /// lemma → synset offsets in sense order.
    static func readIndex(_ path: String) throws -> [String: [Int]] {
        var senses: [String: [Int]] = [:]
        for line in try TextLines(path: path, role: "WordNet index file").lines {
            if line.text.isEmpty || line.text.hasPrefix(" ") { continue }
            let fields = line.text.split(separator: " ")
            // lemma pos synset_cnt p_cnt [ptr_symbol…] sense_cnt tagsense_cnt synset_offset…
            guard fields.count >= 4, let synsetCount = Int(fields[2]), let pointerCount = Int(fields[3]),
                  fields.count == 4 + pointerCount + 2 + synsetCount else {
                throw DataError(.malformed, file: path, line: line.number,
                                "expected \"lemma pos synset_cnt p_cnt [ptr_symbol…] sense_cnt tagsense_cnt synset_offset…\" (wndb(5))")
            }
            var offsets: [Int] = []
            offsets.reserveCapacity(synsetCount)
            for field in fields[(4 + pointerCount + 2)...] {
                guard let offset = Int(field) else {
                    throw DataError(.malformed, file: path, line: line.number, field: "synset_offset",
                                    "expected an 8-digit offset, found \"\(field)\"")
                }
                offsets.append(offset)
            }
            senses[String(fields[0])] = offsets
        }
        return senses
    }

    /// Reads `data.<pos>` (wndb(5)).
    static func readData(_ path: String, pos: WordNetSchema.FilePOS, categoryCount: Int, into synsets: inout [Synset]) throws {
        var symbolIndex: [Substring: Int] = [:]
        for (index, relation) in WordNetSchema.pointerRelations.enumerated() { symbolIndex[Substring(relation.symbol)] = index }
        for line in try TextLines(path: path, role: "WordNet data file").lines {
            if line.text.isEmpty || line.text.hasPrefix(" ") { continue }
            func malformed(_ field: String, _ expected: String) -> DataError {
                DataError(.malformed, file: path, line: line.number, field: field, expected)
            }
            let barRange = line.text.range(of: " | ")
            let head = barRange.map { line.text[..<$0.lowerBound] } ?? Substring(line.text)
            let gloss = barRange.map { line.text[$0.upperBound...] } ?? ""
            let fields = head.split(separator: " ")
            guard fields.count >= 6, let offset = Int(fields[0]), let category = Int(fields[1]),
                  category >= 0 && category < categoryCount else {
                throw malformed("synset_offset lex_filenum", "expected \"synset_offset lex_filenum ss_type w_cnt word lex_id … p_cnt …\" (wndb(5))")
            }
            guard fields[2].count == 1, let ssType = fields[2].first, WordNetSchema.FilePOS(letter: fields[2]) == pos else {
                throw malformed("ss_type", "expected the ss_type of data.\(pos.fileSuffix), found \"\(fields[2])\"")
            }
            guard let wordCount = Int(fields[3], radix: 16), wordCount > 0, fields.count > 4 + 2 * wordCount else {
                throw malformed("w_cnt", "expected a hexadecimal word count followed by that many word/lex_id pairs")
            }
            var lemmas: [String] = []
            var lexIDs: [Int] = []
            for k in 0..<wordCount {
                var word = fields[4 + 2 * k]
                if word.hasSuffix(")"), let open = word.lastIndex(of: "(") { word = word[..<open] }
                guard let lexID = Int(fields[5 + 2 * k], radix: 16) else {
                    throw malformed("lex_id", "expected a hexadecimal lex_id after \"\(word)\", found \"\(fields[5 + 2 * k])\"")
                }
                lemmas.append(String(word))
                lexIDs.append(lexID)
            }
            var cursor = 4 + 2 * wordCount
            guard let pointerCount = Int(fields[cursor]), fields.count >= cursor + 1 + 4 * pointerCount else {
                throw malformed("p_cnt", "expected a 3-digit pointer count followed by that many pointers")
            }
            cursor += 1
            var pointers: [Pointer] = []
            pointers.reserveCapacity(pointerCount)
            for _ in 0..<pointerCount {
                let symbol = fields[cursor]
                guard let relation = symbolIndex[symbol] else {
                    throw malformed("pointer_symbol", "expected a WordNet pointer symbol, found \"\(symbol)\"")
                }
                guard let target = Int(fields[cursor + 1]), let targetPOS = WordNetSchema.FilePOS(letter: fields[cursor + 2]) else {
                    throw malformed("pointer", "expected \"pointer_symbol synset_offset pos source/target\"")
                }
                pointers.append(Pointer(relation: relation, pos: targetPOS, offset: target))
                cursor += 4
            }
            let (definition, examples) = splitGloss(gloss)
            synsets.append(Synset(pos: pos, offset: offset, ssType: ssType, category: category, lemmas: lemmas,
                                  lexIDs: lexIDs, pointers: pointers, definition: definition, examples: examples, file: path, line: line.number))
        }
    }

    /// Splits a gloss at the semicolons outside quotes: quoted parts are example sentences
    /// (the text between the quotes), the other parts joined by "; " the definition.
    static func splitGloss(_ gloss: Substring) -> (definition: String, examples: [String]) {
        var parts: [Substring] = []
        var inQuote = false
        var start = gloss.startIndex
        for index in gloss.indices {
            let character = gloss[index]
            if character == "\"" { inQuote.toggle() }
            if character == ";" && !inQuote {
                parts.append(gloss[start..<index])
                start = gloss.index(after: index)
            }
        }
        parts.append(gloss[start...])
        var definitions: [String] = []
        var examples: [String] = []
        for part in parts {
            let trimmed = part.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            if trimmed.hasPrefix("\"") {
                let body = trimmed.dropFirst()
                let text = body.firstIndex(of: "\"").map { body[..<$0] } ?? body
                let example = text.trimmingCharacters(in: .whitespaces)
                if !example.isEmpty { examples.append(example) }
            } else {
                definitions.append(trimmed)
            }
        }
        return (definitions.joined(separator: "; "), examples)
    }

    /// `cntlist.rev` (sense_key sense_number tag_cnt) as sense key → tag count; empty when the
    /// file is absent. (Its sense numbers do not always follow the order of the index files, so
    /// senses are matched by key.)
    static func readTagCounts(_ path: String) throws -> [String: Int] {
        guard FileManager.default.fileExists(atPath: path) else { return [:] }
        var counts: [String: Int] = [:]
        for line in try TextLines(path: path, role: "WordNet cntlist.rev file").lines where !line.text.isEmpty {
            let fields = line.text.split(separator: " ")
            guard fields.count == 3, fields[0].contains("%"), Int(fields[1]) != nil, let count = Int(fields[2]) else {
                throw DataError(.malformed, file: path, line: line.number, "expected \"sense_key sense_number tag_cnt\" (cntlist(5))")
            }
            counts[String(fields[0]), default: 0] += count
            // Satellites are also found by the key without head fields, if unique (−1: not unique).
            if fields[0].contains("%5:") {
                let short = shortSatelliteKey(String(fields[0]))
                counts[short] = counts[short] == nil ? count : -1
            }
        }
        return counts
    }

    /// A satellite's sense key without its head fields: `lemma%5:lex_filenum:lex_id:*`. Used
    /// when the full key is not in `cntlist.rev` (whose heads do not always match the data
    /// files), and only when both sides have a single sense with that shorter key.
    static func shortSatelliteKey(_ key: String) -> String {
        guard let third = nthIndex(of: ":", in: Substring(key), 3) else { return key }
        return String(key[...third]) + "*"
    }

    /// The sense key of lemma `k` of `synset` (senseidx(5)):
    /// `lemma%ss_type:lex_filenum:lex_id:head_word:head_id`, the head fields only for adjective
    /// satellites (the first lemma and its lex_id of the head synset their similar-to pointer names).
    static func senseKey(_ synset: Synset, lemma k: Int, synsets: [Synset], synsetIndex: [Int: Int]) -> String {
        func twoDigits(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let type: Int
        switch synset.ssType {
        case "n": type = 1
        case "v": type = 2
        case "a": type = 3
        case "r": type = 4
        default: type = 5
        }
        var head = ":"
        if type == 5 {
            let similar = WordNetSchema.pointerRelations.firstIndex { $0.symbol == "&" }
            if let pointer = synset.pointers.first(where: { $0.relation == similar }),
               let target = synsetIndex[pointer.pos.rawValue << 32 | pointer.offset] {
                head = "\(synsets[target].lemmas[0].lowercased()):\(twoDigits(synsets[target].lexIDs[0]))"
            }
        }
        return "\(synset.lemmas[k].lowercased())%\(type):\(twoDigits(synset.category)):\(twoDigits(synset.lexIDs[k])):\(head)"
    }

    /// An order of 0..<count that satisfies as many "i before each of successors[i]"
    /// constraints as it can, otherwise preferring lower indices. The constraints may have
    /// cycles: the greedy feedback-arc-set order of Eades, Lin and Smyth (1993) decides which
    /// constraints to keep (those pointing forward in it, an acyclic set), then a topological
    /// sort of the kept constraints takes the lowest available index at every step.
    static func preferenceOrder(count: Int, successors: [[Int32]]) -> [Int] {
        var predecessors: [[Int32]] = Array(repeating: [], count: count)
        var outdegree = [Int](repeating: 0, count: count)
        var indegree = [Int](repeating: 0, count: count)
        var unique: [[Int32]] = Array(repeating: [], count: count)
        for v in 0..<count {
            unique[v] = Array(Set(successors[v])).sorted()
            outdegree[v] = unique[v].count
            for w in unique[v] {
                predecessors[Int(w)].append(Int32(v))
                indegree[Int(w)] += 1
            }
        }
        // Eades–Lin–Smyth: sinks go to the back, sources to the front, otherwise the vertex
        // with the largest outdegree − indegree goes to the front.
        var removed = [Bool](repeating: false, count: count)
        var front: [Int] = [], back: [Int] = []
        var sinks = (0..<count).filter { outdegree[$0] == 0 }
        var sources = (0..<count).filter { indegree[$0] == 0 && outdegree[$0] > 0 }
        var largestDelta = MaxHeap()
        for v in 0..<count where outdegree[v] > 0 && indegree[v] > 0 { largestDelta.push(outdegree[v] - indegree[v], v) }
        var remaining = count
        func remove(_ v: Int) {
            removed[v] = true
            remaining -= 1
            for u in predecessors[v] where !removed[Int(u)] {
                outdegree[Int(u)] -= 1
                if outdegree[Int(u)] == 0 { sinks.append(Int(u)) } else { largestDelta.push(outdegree[Int(u)] - indegree[Int(u)], Int(u)) }
            }
            for w in unique[v] where !removed[Int(w)] {
                indegree[Int(w)] -= 1
                if indegree[Int(w)] == 0 { sources.append(Int(w)) } else { largestDelta.push(outdegree[Int(w)] - indegree[Int(w)], Int(w)) }
            }
        }
        while remaining > 0 {
            if let v = sinks.popLast() {
                if !removed[v] && outdegree[v] == 0 { back.append(v); remove(v) }
            } else if let v = sources.popLast() {
                if !removed[v] && indegree[v] == 0 { front.append(v); remove(v) }
            } else if let (delta, v) = largestDelta.pop() {
                if !removed[v] && delta == outdegree[v] - indegree[v] { front.append(v); remove(v) }
            } else {
                break
            }
        }
        var rank = [Int](repeating: 0, count: count)
        for (position, v) in (front + back.reversed()).enumerated() { rank[v] = position }
        // Topological sort of the forward constraints, lowest index first.
        var pending = [Int](repeating: 0, count: count)
        for v in 0..<count { for w in unique[v] where rank[v] < rank[Int(w)] { pending[Int(w)] += 1 } }
        var available = MinHeap()
        for v in 0..<count where pending[v] == 0 { available.push(v) }
        var order: [Int] = []
        order.reserveCapacity(count)
        while let v = available.pop() {
            order.append(v)
            for w in unique[v] where rank[v] < rank[Int(w)] {
                pending[Int(w)] -= 1
                if pending[Int(w)] == 0 { available.push(Int(w)) }
            }
        }
        return order
    }
}

/// A binary max-heap of (priority, value), larger priority first, then smaller value.
struct MaxHeap {
    private var items: [(Int, Int)] = []

    private static func before(_ a: (Int, Int), _ b: (Int, Int)) -> Bool { a.0 > b.0 || (a.0 == b.0 && a.1 < b.1) }

    mutating func push(_ priority: Int, _ value: Int) {
        items.append((priority, value))
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if !Self.before(items[child], items[parent]) { break }
            items.swapAt(parent, child)
            child = parent
        }
    }

    mutating func pop() -> (Int, Int)? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var best = parent
                if left < items.count && Self.before(items[left], items[best]) { best = left }
                if right < items.count && Self.before(items[right], items[best]) { best = right }
                if best == parent { break }
                items.swapAt(parent, best)
                parent = best
            }
        }
        return top
    }
}

/// The index of the `n`-th (1-based) occurrence of `character` in `text`.
func nthIndex(of character: Character, in text: Substring, _ n: Int) -> Substring.Index? {
    var seen = 0
    for index in text.indices where text[index] == character {
        seen += 1
        if seen == n { return index }
    }
    return nil
}

/// A binary min-heap of integers.
struct MinHeap {
    private var items: [Int] = []

    mutating func push(_ value: Int) {
        items.append(value)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if items[parent] <= items[child] { break }
            items.swapAt(parent, child)
            child = parent
        }
    }

    mutating func pop() -> Int? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < items.count && items[left] < items[smallest] { smallest = left }
                if right < items.count && items[right] < items[smallest] { smallest = right }
                if smallest == parent { break }
                items.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return top
    }
}
