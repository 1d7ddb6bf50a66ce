import Foundation
import KELMHDF5

/// Names of the dataset file (layout documented in docs/data.md).
public enum DatasetLayout {
    /// The file `prepare` writes in its output directory.
    public static let fileName = "dataset.h5"
    /// Root attribute `format`.
    public static let format = "kelm-dist-dataset"
    /// Root attribute `format_version`: 2 since segments are packed (DESIGN §6); 1 held one
    /// text per segment, cut at T − 2 pieces.
    public static let formatVersion = 2

    static func segments(_ split: DataSplit, _ name: String) -> String { "/segments/\(split.rawValue)/\(name)" }
    static func triples(_ split: DataSplit) -> String { "/kg/triples/\(split.rawValue)" }
}

/// Writes a `PreparedDataset` as one HDF5 file, atomically: to a temporary name in the output
/// directory, then renamed to `dataset.h5`; on failure the temporary file (and the directory,
/// if this call created it and it is empty) is removed, so no partial output remains.
public enum DatasetWriter {
    /// Writes `dataset` into `directory` (created if needed); returns the file's path.
    @discardableResult
    public static func write(_ dataset: PreparedDataset, to directory: String) throws -> String {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        let existed = manager.fileExists(atPath: directory, isDirectory: &isDirectory)
        if existed && !isDirectory.boolValue {
            throw DataError(.outputFailed, file: directory, field: "--out", "expected a directory, found a file")
        }
        if !existed {
            do {
                try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw DataError(.outputFailed, file: directory, field: "--out", "cannot create the directory: \(error.localizedDescription)")
            }
        }
        let final = (directory as NSString).appendingPathComponent(DatasetLayout.fileName)
        let temporary = (directory as NSString).appendingPathComponent(
            ".\(DatasetLayout.fileName).partial-\(ProcessInfo.processInfo.processIdentifier)")
        do {
            try writeFile(dataset, path: temporary)
            if manager.fileExists(atPath: final) { try manager.removeItem(atPath: final) }
            try manager.moveItem(atPath: temporary, toPath: final)
        } catch {
            try? manager.removeItem(atPath: temporary)  // cleanup; the original error is the one to report
            if !existed, let left = try? manager.contentsOfDirectory(atPath: directory), left.isEmpty {
                try? manager.removeItem(atPath: directory)
            }
            if let dataError = error as? DataError { throw dataError }
            throw DataError(.outputFailed, file: final, "cannot write the dataset: \(error)")
        }
        return final
    }

    static func writeFile(_ dataset: PreparedDataset, path: String) throws {
        let file = try HDF5File.create(path)
        do {
            try writeContents(dataset, file)
        } catch {
            try? file.close()  // already failing
            throw error
        }
        try file.close()
    }

    private static func writeContents(_ d: PreparedDataset, _ file: HDF5File) throws {
        let kb = d.knowledgeBase
        try file.setAttribute("format", DatasetLayout.format)
        try file.setAttribute("format_version", DatasetLayout.formatVersion)
        try file.setAttribute("source", d.source)
        try file.setAttribute("max_tokens", d.maxTokens)
        try file.setAttribute("packing", d.packing.rawValue)
        try file.setAttribute("description_tokens", d.descriptionTokens)
        try file.setAttribute("entity_count", kb.entities.count)
        try file.setAttribute("relation_count", kb.relations.count)
        try file.setAttribute("split_seed", Int64(bitPattern: d.splitOptions.seed))
        try file.setAttribute("split_fractions", [d.splitOptions.validSegments, d.splitOptions.testSegments,
                                                  d.splitOptions.validTriples, d.splitOptions.testTriples])

        try file.writeDataset("/vocabulary/tokens", d.vocabulary)

        try file.writeDataset("/entities/key", kb.entities.map(\.key))
        try file.writeDataset("/entities/name", kb.entities.map(\.name))
        try file.writeDataset("/entities/category", kb.entities.map(\.category))
        var formPointer: [Int64] = [0]
        var forms: [String] = []
        for entity in kb.entities {
            forms += entity.surfaceForms
            formPointer.append(Int64(forms.count))
        }
        try file.writeDataset("/entities/surface_form_ptr", formPointer)
        try file.writeDataset("/entities/surface_forms", forms)
        try file.writeDataset("/categories/name", kb.categories)
        try file.writeDataset("/relations/name", kb.relations)

        try file.writeDataset("/descriptions/token_ptr", d.descriptionPointer)
        try file.writeDataset("/descriptions/tokens", d.descriptionTokenIDs)
        try file.writeDataset("/descriptions/span", d.descriptionSpans, shape: [kb.entities.count, 2])
        try file.writeDataset("/descriptions/anchor_ptr", d.descriptionAnchorPointer)
        try file.writeDataset("/descriptions/anchor_tokens", d.descriptionAnchorTokenIDs)

        for split in DataSplit.allCases {
            let triples = split == .train ? d.triples.train : split == .valid ? d.triples.valid : d.triples.test
            try file.writeDataset(DatasetLayout.triples(split), triples.flatMap { [$0.head, $0.relation, $0.tail] },
                                  shape: [triples.count, 3])
        }
        try file.writeDataset("/kg/adjacency/offsets", d.trainingGraph.offsets)
        try file.writeDataset("/kg/adjacency/neighbors", d.trainingGraph.neighbors)
        try file.writeDataset("/kg/adjacency/relations", d.trainingGraph.relations)

        for split in DataSplit.allCases {
            let table = d.segments[split] ?? SegmentTable()
            try file.writeDataset(DatasetLayout.segments(split, "token_ptr"), table.tokenPointer)
            try file.writeDataset(DatasetLayout.segments(split, "tokens"), table.tokens)
            try file.writeDataset(DatasetLayout.segments(split, "word_start"), table.wordStarts)
            try file.writeDataset(DatasetLayout.segments(split, "mention_ptr"), table.mentionPointer)
            try file.writeDataset(DatasetLayout.segments(split, "mentions"), table.mentions, shape: [table.mentions.count / 3, 3])
            try file.writeDataset(DatasetLayout.segments(split, "source_ptr"), table.sourcePointer)
            try file.writeDataset(DatasetLayout.segments(split, "source_entities"), table.sourceEntities)
            try file.writeDataset(DatasetLayout.segments(split, "text_ptr"), table.textPointer)
            try file.writeDataset(DatasetLayout.segments(split, "texts"), table.texts, shape: [table.texts.count / 3, 3])
        }
    }
}
