import Foundation
import KELMFiles
import KELMHDF5

/// Names of the dataset file (layout documented in docs/data.md).
public enum DatasetLayout {
    /// The file `prepare` writes in its output directory.
    public static let fileName = "dataset.h5"
    /// Root attribute `format`.
    public static let format = "kelm-dist-dataset"
    /// Root attribute `format_version`: 3 since every dataset is checksummed and strings are
    /// stored as bytes (`ChecksummedData`); 2 packed segments without checksums; 1 held one text
    /// per segment, cut at T − 2 pieces.
    public static let formatVersion = 3

    static func segments(_ split: DataSplit, _ name: String) -> String { "/segments/\(split.rawValue)/\(name)" }
    static func triples(_ split: DataSplit) -> String { "/kg/triples/\(split.rawValue)" }
}

/// Writes a `PreparedDataset` as one HDF5 file, atomically and without HDF5 touching the disk:
/// the file is built in memory (checksummed formats, a CRC-32 on every dataset,
/// `ChecksummedData`), then its bytes are written to a temporary name in the output directory
/// with checked writes, fsynced and renamed to `dataset.h5`. A full or read-only disk is then
/// an error naming the file and the cause, and no partial file remains (the temporary file is
/// removed, and the directory too if this call created it and it is empty).
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
        let image = try fileImage(dataset)
        if !existed {
            do {
                try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw DataError(.outputFailed, file: directory, field: "--out", "cannot create the directory: \(Self.reason(error))")
            }
        }
        let final = (directory as NSString).appendingPathComponent(DatasetLayout.fileName)
        do {
            try AtomicFile.write(final, data: Data(image))
        } catch {
            if !existed, let left = try? manager.contentsOfDirectory(atPath: directory), left.isEmpty {
                try? manager.removeItem(atPath: directory)  // cleanup; the write error is the one to report
            }
            throw DataError(.outputFailed, file: final, "cannot write the dataset: \(error)")
        }
        return final
    }

    /// The system's reason of a Foundation file error (its POSIX error, when it has one).
    static func reason(_ error: Error) -> String {
        if let posix = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError, posix.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(posix.code)))
        }
        return error.localizedDescription
    }

    /// The bytes of the dataset file of `dataset`.
    static func fileImage(_ dataset: PreparedDataset) throws -> [UInt8] {
        let file = try HDF5File.createInMemory(name: "dataset.h5")
        do {
            try writeContents(dataset, file)
            let image = try file.image()
            try file.close()
            return image
        } catch {
            try? file.close()  // already failing
            throw error
        }
    }

    private static func writeContents(_ d: PreparedDataset, _ file: HDF5File) throws {
        let kb = d.knowledgeBase
        typealias C = ChecksummedData
        try file.setFixedLengthAttribute("format", DatasetLayout.format)
        try file.setAttribute("format_version", DatasetLayout.formatVersion)
        try file.setFixedLengthAttribute("source", d.source)
        try file.setAttribute("max_tokens", d.maxTokens)
        try file.setFixedLengthAttribute("packing", d.packing.rawValue)
        try file.setAttribute("description_tokens", d.descriptionTokens)
        try file.setAttribute("entity_count", kb.entities.count)
        try file.setAttribute("relation_count", kb.relations.count)
        try file.setAttribute("split_seed", Int64(bitPattern: d.splitOptions.seed))
        try file.setAttribute("split_fractions", [d.splitOptions.validSegments, d.splitOptions.testSegments,
                                                  d.splitOptions.validTriples, d.splitOptions.testTriples])
        try file.setFixedLengthAttribute("vocabulary_digest", VocabularyDigest.of(d.vocabulary))
        try file.setFixedLengthAttribute("checksums", C.attribute)

        try C.write(file, "/vocabulary/tokens", strings: d.vocabulary)

        try C.write(file, "/entities/key", strings: kb.entities.map(\.key))
        try C.write(file, "/entities/name", strings: kb.entities.map(\.name))
        try C.write(file, "/entities/category", kb.entities.map(\.category))
        var formPointer: [Int64] = [0]
        var forms: [String] = []
        for entity in kb.entities {
            forms += entity.surfaceForms
            formPointer.append(Int64(forms.count))
        }
        try C.write(file, "/entities/surface_form_ptr", formPointer)
        try C.write(file, "/entities/surface_forms", strings: forms)
        try C.write(file, "/categories/name", strings: kb.categories)
        try C.write(file, "/relations/name", strings: kb.relations)

        try C.write(file, "/descriptions/token_ptr", d.descriptionPointer)
        try C.write(file, "/descriptions/tokens", d.descriptionTokenIDs)
        try C.write(file, "/descriptions/span", d.descriptionSpans, shape: [kb.entities.count, 2])
        try C.write(file, "/descriptions/anchor_ptr", d.descriptionAnchorPointer)
        try C.write(file, "/descriptions/anchor_tokens", d.descriptionAnchorTokenIDs)

        for split in DataSplit.allCases {
            let triples = split == .train ? d.triples.train : split == .valid ? d.triples.valid : d.triples.test
            try C.write(file, DatasetLayout.triples(split), triples.flatMap { [$0.head, $0.relation, $0.tail] },
                        shape: [triples.count, 3])
        }
        try C.write(file, "/kg/adjacency/offsets", d.trainingGraph.offsets)
        try C.write(file, "/kg/adjacency/neighbors", d.trainingGraph.neighbors)
        try C.write(file, "/kg/adjacency/relations", d.trainingGraph.relations)

        for split in DataSplit.allCases {
            let table = d.segments[split] ?? SegmentTable()
            try C.write(file, DatasetLayout.segments(split, "token_ptr"), table.tokenPointer)
            try C.write(file, DatasetLayout.segments(split, "tokens"), table.tokens, chunked: true)
            try C.write(file, DatasetLayout.segments(split, "word_start"), table.wordStarts, chunked: true)
            try C.write(file, DatasetLayout.segments(split, "mention_ptr"), table.mentionPointer)
            try C.write(file, DatasetLayout.segments(split, "mentions"), table.mentions, shape: [table.mentions.count / 3, 3],
                        chunked: true)
            try C.write(file, DatasetLayout.segments(split, "source_ptr"), table.sourcePointer)
            try C.write(file, DatasetLayout.segments(split, "source_entities"), table.sourceEntities)
            try C.write(file, DatasetLayout.segments(split, "text_ptr"), table.textPointer)
            try C.write(file, DatasetLayout.segments(split, "texts"), table.texts, shape: [table.texts.count / 3, 3])
        }
    }
}
