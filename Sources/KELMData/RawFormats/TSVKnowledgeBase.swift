import Foundation

/// Paths of the raw TSV inputs of `prepare tsv` (formats in docs/data.md).
public struct TSVInputFiles: Sendable {
    /// `entities.tsv`: id, name, description, aliases (`|`-separated), optional category.
    public var entities: String
    /// `relations.tsv`: id, name, optional inverse-of relation id or `symmetric`.
    public var relations: String
    /// `triples.tsv`: head id, relation id, tail id.
    public var triples: String
    /// The corpus: one text segment per line, or JSONL (file name ending in `.jsonl`).
    public var corpus: String

    public init(entities: String, relations: String, triples: String, corpus: String) {
        self.entities = entities
        self.relations = relations
        self.triples = triples
        self.corpus = corpus
    }
}

/// Reads the TSV knowledge base and corpus into a `KnowledgeBase` and its corpus segments.
public enum TSVImport {
    /// Reads and checks all four files; throws a `DataError` naming the file, line and field of
    /// the first problem.
    public static func load(_ files: TSVInputFiles) throws -> (KnowledgeBase, [CorpusSegment]) {
        let (entities, categories, entityIndex) = try readEntities(files.entities)
        let (relationNames, folding, relationIndex) = try readRelations(files.relations)
        let triples = try readTriples(files.triples, entityIndex: entityIndex, relationIndex: relationIndex,
                                      folding: folding)
        let corpus = try CorpusReader.read(files.corpus, entityIndex: entityIndex)
        let knowledgeBase = KnowledgeBase(entities: entities, categories: categories,
                                          relations: folding.keptRawRelation.map { relationNames[$0] },
                                          triples: triples)
        return (knowledgeBase, corpus)
    }

    static func readEntities(_ path: String) throws -> ([Entity], [String], [String: Int32]) {
        let file = try TextLines(path: path, role: "entities file")
        var entities: [Entity] = []
        var index: [String: Int32] = [:]
        var categories: [String] = []
        var categoryIndex: [String: Int32] = [:]
        for line in file.lines where !line.text.isEmpty {
            let columns = try tsvColumns(line, file: path,
                                         expected: ["id", "name", "description", "aliases", "category"], optional: 1)
            let key = columns[0].trimmingCharacters(in: .whitespaces)
            let name = columns[1].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty else {
                throw DataError(.malformed, file: path, line: line.number, field: "id", "expected an entity id, found an empty column")
            }
            guard !name.isEmpty else {
                throw DataError(.malformed, file: path, line: line.number, field: "name", "expected the entity's name, found an empty column")
            }
            guard index[key] == nil else {
                throw DataError(.duplicate, file: path, line: line.number, field: "id", "entity id \"\(key)\" is defined twice")
            }
            var forms = [name]
            for alias in columns[3].split(separator: "|") {
                let trimmed = alias.trimmingCharacters(in: .whitespaces)
                if !trimmed.isEmpty && !forms.contains(trimmed) { forms.append(trimmed) }
            }
            var category: Int32 = -1
            if columns.count == 5 {
                let categoryName = columns[4].trimmingCharacters(in: .whitespaces)
                if !categoryName.isEmpty {
                    if let known = categoryIndex[categoryName] {
                        category = known
                    } else {
                        category = Int32(categories.count)
                        categoryIndex[categoryName] = category
                        categories.append(categoryName)
                    }
                }
            }
            index[key] = Int32(entities.count)
            entities.append(Entity(key: key, name: name, description: columns[2].trimmingCharacters(in: .whitespaces),
                                   surfaceForms: forms, category: category))
        }
        guard !entities.isEmpty else {
            throw DataError(.malformed, file: path, "expected at least one entity, found none")
        }
        return (entities, categories, index)
    }

    static func readRelations(_ path: String) throws -> ([String], RelationFolding, [String: Int]) {
        let file = try TextLines(path: path, role: "relations file")
        var rows: [(line: Int, key: String, name: String, third: String)] = []
        var index: [String: Int] = [:]
        for line in file.lines where !line.text.isEmpty {
            let columns = try tsvColumns(line, file: path, expected: ["id", "name", "inverse-of or symmetric"], optional: 1)
            let key = columns[0].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty else {
                throw DataError(.malformed, file: path, line: line.number, field: "id", "expected a relation id, found an empty column")
            }
            guard index[key] == nil else {
                throw DataError(.duplicate, file: path, line: line.number, field: "id", "relation id \"\(key)\" is defined twice")
            }
            index[key] = rows.count
            let name = columns[1].trimmingCharacters(in: .whitespaces)
            rows.append((line.number, key, name.isEmpty ? key : name,
                         columns.count == 3 ? columns[2].trimmingCharacters(in: .whitespaces) : ""))
        }
        guard !rows.isEmpty else {
            throw DataError(.malformed, file: path, "expected at least one relation, found none")
        }
        var declarations: [RelationDeclaration] = []
        for row in rows {
            switch row.third {
            case "": declarations.append(.directed)
            case "symmetric": declarations.append(.symmetric)
            default:
                guard let target = index[row.third] else {
                    throw DataError(.unknownRelation, file: path, line: row.line, field: "inverse-of",
                                    "expected a relation id defined in this file or \"symmetric\", found \"\(row.third)\"")
                }
                declarations.append(.inverse(of: target))
            }
        }
        do {
            return (rows.map(\.name), try RelationFolding(declarations), index)
        } catch let problem as RelationFolding.Problem {
            switch problem {
            case .inverseOutOfRange(let i), .inverseOfItself(let i):
                throw DataError(.malformed, file: path, line: rows[i].line, field: "inverse-of",
                                "relation \"\(rows[i].key)\" cannot be its own inverse; declare it \"symmetric\"")
            case .inverseOfInverse(let i):
                throw DataError(.malformed, file: path, line: rows[i].line, field: "inverse-of",
                                "expected the id of a relation that is not itself an inverse, found \"\(rows[i].third)\"")
            }
        }
    }

    static func readTriples(_ path: String, entityIndex: [String: Int32], relationIndex: [String: Int],
                            folding: RelationFolding) throws -> [Triple] {
        let file = try TextLines(path: path, role: "triples file")
        var triples: [Triple] = []
        triples.reserveCapacity(file.lines.count)
        for line in file.lines where !line.text.isEmpty {
            let columns = try tsvColumns(line, file: path, expected: ["head id", "relation id", "tail id"])
            let keys = columns.map { $0.trimmingCharacters(in: .whitespaces) }
            guard let head = entityIndex[keys[0]] else {
                throw DataError(.unknownEntity, file: path, line: line.number, field: "head",
                                "expected an entity id of the entities file, found \"\(keys[0])\"")
            }
            guard let relation = relationIndex[keys[1]] else {
                throw DataError(.unknownRelation, file: path, line: line.number, field: "relation",
                                "expected a relation id of the relations file, found \"\(keys[1])\"")
            }
            guard let tail = entityIndex[keys[2]] else {
                throw DataError(.unknownEntity, file: path, line: line.number, field: "tail",
                                "expected an entity id of the entities file, found \"\(keys[2])\"")
            }
            if let triple = folding.fold(head: head, rawRelation: relation, tail: tail) { triples.append(triple) }
        }
        return sortedUnique(triples)
    }
}
