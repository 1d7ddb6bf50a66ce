import Foundation
#if canImport(Glibc)
import Glibc
#endif
import KELMBatches
import KELMCheckpoint
import KELMConfig
import KELMData
import KELMHDF5

/// Errors of `kelm-dist export` that are not about the checkpoint itself.
public enum ExportError: Error, Equatable, CustomStringConvertible {
    /// No vocabulary could be found for `--format hf`.
    case noVocabulary(checkpoint: String, vocabSize: Int, tried: [String])
    /// The `--vocab` file (or another source) cannot be read.
    case unreadableVocabulary(source: String, reason: String)
    /// An option that the chosen format does not take.
    case option(String)
    /// The output is the checkpoint being exported (the same file, through any link).
    case outputIsInput(output: String, checkpoint: String)

    public var description: String {
        switch self {
        case let .noVocabulary(checkpoint, vocabSize, tried):
            return "export --format hf of \(checkpoint) needs a vocab.txt of \(vocabSize) tokens: pass --vocab FILE "
                + "(tried: \(tried.joined(separator: "; ")))"
        case let .unreadableVocabulary(source, reason):
            return "vocabulary \(source): \(reason)"
        case let .option(m):
            return m
        case let .outputIsInput(output, checkpoint):
            return "--out \(output) is the checkpoint being exported (\(checkpoint)): the weights-only file would replace it; give another file"
        }
    }
}

/// `kelm-dist export` (DESIGN §7): a checkpoint's weights as a weights-only HDF5 file
/// (`WeightsFile`), or its LM and MLM head as a Hugging Face `BertForMaskedLM` folder
/// (`HuggingFaceExport`). The checkpoint is checked as `StoredCheckpoint` does, and every
/// tensor's checksum as it is read.
///
/// The vocabulary of a Hugging Face export comes from, in this order: `vocabulary`
/// (`--vocab FILE`); the prepared dataset the stored `data.path` names (`/vocabulary/tokens`,
/// the ids the model was trained on); the `vocab.txt` of the Hugging Face folder the stored
/// `model.init_from` names (`minilm` included); the installed MiniLM's `vocab.txt` when
/// `vocab_size` is 30522 (BERT uncased). Whatever the source, it must hold exactly `vocab_size`
/// tokens. Without any, the export fails and says to pass `--vocab`.
public struct CheckpointExport {
    /// Float storage of a weights export (the command's `--dtype`).
    public typealias DType = StoredTensor.FloatStorage

    public enum Format: String, Sendable, CaseIterable {
        /// The weights-only HDF5 file.
        case weights
        /// The Hugging Face `BertForMaskedLM` folder.
        case hf
    }

    /// A checkpoint file, or a run directory (its latest).
    public var checkpoint: String
    /// The output file (weights) or folder (hf).
    public var output: String
    public var format: Format = .weights
    /// Float storage of the weights file (`float32` or `float16`).
    public var dtype: StoredTensor.FloatStorage = .float32
    public var withMemory = false
    /// `--vocab FILE` for `hf`.
    public var vocabulary: String?
    /// For `hf`: also write `kelm_reference_batch.h5` (our logits on a fixed batch) into the folder.
    public var referenceBatch = false

    public init(checkpoint: String, output: String) {
        self.checkpoint = checkpoint
        self.output = output
    }

    /// What was written, for the command's report.
    public struct Summary: Sendable {
        public var checkpoint: String
        public var output: String
        public var step: Int
        public var tensors: Int
        public var parameters: Int
        public var bytes: Int
        public var vocabularySource: String?
        public var memoryRows: Int?
    }

    public func run() throws -> Summary {
        if format == .hf {
            guard dtype == .float32 else { throw ExportError.option("--format hf writes float32; drop --dtype float16") }
            guard !withMemory else { throw ExportError.option("--with-memory belongs to the weights file; a Hugging Face folder has no entity memory") }
        } else {
            guard vocabulary == nil else { throw ExportError.option("--vocab is for --format hf") }
            guard !referenceBatch else { throw ExportError.option("--reference-batch is for --format hf") }
        }
        let stored = try StoredCheckpoint(path: checkpoint)
        if Self.sameFile(stored.path, output) {
            try? stored.close()  // already failing
            throw ExportError.outputIsInput(output: output, checkpoint: stored.path)
        }
        var summary = Summary(checkpoint: stored.path, output: output, step: stored.header.step, tensors: 0, parameters: 0,
                              bytes: 0, vocabularySource: nil, memoryRows: nil)
        switch format {
        case .weights:
            let s = try WeightsFile.write(from: stored.file, header: stored.header, to: output, dtype: dtype, withMemory: withMemory)
            summary.tensors = s.tensors
            summary.parameters = s.parameters
            summary.bytes = s.bytes
            summary.memoryRows = s.memoryRows
        case .hf:
            let bert = stored.config.model.bertConfig
            let (tokens, source) = try Self.vocabulary(for: stored, explicit: vocabulary)
            try HuggingFaceExport.write(directory: output, config: bert, vocabulary: tokens, source: stored.path,
                                        parameter: stored.parameter)
            if referenceBatch {
                let r = try HuggingFaceExport.referenceBatch(config: bert, parameter: stored.parameter)
                try HuggingFaceExport.writeReferenceBatch(r, vocabSize: bert.vocabSize,
                                                          to: (output as NSString).appendingPathComponent(HuggingFaceExport.referenceBatchFile))
            }
            let names = try HuggingFaceExport.tensorNames(bert)
            summary.tensors = names.count
            summary.parameters = names.reduce(0) { $0 + $1.shape.reduce(1, *) }
            let weights = (output as NSString).appendingPathComponent(HuggingFaceExport.weightsFile)
            summary.bytes = (try FileManager.default.attributesOfItem(atPath: weights)[.size] as? NSNumber)?.intValue ?? 0
            summary.vocabularySource = source
        }
        try stored.close()
        return summary
    }

    /// Whether two paths name the same file (device and inode, links followed); false when
    /// either does not exist.
    static func sameFile(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        guard stat(a, &sa) == 0, stat(b, &sb) == 0 else { return false }
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }

    /// The vocabulary for a Hugging Face export and where it came from (see the type's documentation).
    static func vocabulary(for stored: StoredCheckpoint, explicit: String?) throws -> (tokens: [String], source: String) {
        let size = stored.config.model.vocabSize
        func file(_ path: String) throws -> [String] {
            let text: String
            do {
                text = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw ExportError.unreadableVocabulary(source: path, reason: "cannot be read: \(error.localizedDescription)")
            }
            var lines = text.components(separatedBy: "\n")
            if lines.last == "" { lines.removeLast() }
            return lines.map { $0.hasSuffix("\r") ? String($0.dropLast()) : $0 }
        }
        if let explicit { return (try file(explicit), explicit) }
        var tried: [String] = []
        if let given = stored.config.data.path, given != "synthetic" {
            // a dataset file, or the directory `prepare` wrote it into (as `train` accepts)
            if let data = DatasetFile.filePath(given) {
                let dataset = try DatasetFile(path: data)
                let tokens = try dataset.vocabulary()
                try dataset.close()
                return (tokens, "\(data) /vocabulary/tokens")
            }
            tried.append("data.path \(given): not found from \(FileManager.default.currentDirectoryPath)")
        } else {
            tried.append("data.path: \(stored.config.data.path ?? "null")")
        }
        if let initFrom = stored.config.model.initFrom {
            do {
                let dir = try KELMConfig.pretrainedDirectory(initFrom)
                let vocab = dir.appendingPathComponent(HuggingFaceExport.vocabularyFile).path
                if FileManager.default.fileExists(atPath: vocab) { return (try file(vocab), vocab) }
                tried.append("model.init_from \(initFrom): no vocab.txt in \(dir.path)")
            } catch let e as PretrainedLocatorError {
                tried.append("model.init_from \(initFrom): \(e)")
            }
        } else {
            tried.append("model.init_from: null")
        }
        if size == BertConfigDefaults.bertUncasedVocabulary {
            do {
                let vocab = try PretrainedLocator.miniLMDirectory().appendingPathComponent(HuggingFaceExport.vocabularyFile).path
                return (try file(vocab), vocab)
            } catch let e as PretrainedLocatorError {
                tried.append("the MiniLM vocabulary (vocab_size 30522): \(e)")
            }
        } else {
            tried.append("the MiniLM vocabulary: only for vocab_size 30522, this model has \(size)")
        }
        throw ExportError.noVocabulary(checkpoint: stored.path, vocabSize: size, tried: tried)
    }
}

enum BertConfigDefaults {
    /// BERT uncased WordPiece (and MiniLM-L6-H384).
    static let bertUncasedVocabulary = 30522
}
