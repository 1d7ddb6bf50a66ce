import Foundation
import KELMFiles
import KELMHDF5
import KELMNumerics

/// The weights-only file of `kelm-dist export` (DESIGN §7): the parameters without optimizer or
/// routing state, in float32 or float16, optionally with the entity memory.
///
/// ```
/// /  attrs: format="kelm-dist-weights", format_version=1, step, config (JSON), kelm_version,
///           checksums="crc32", source (the checkpoint's file name)
/// /params/<name with '.' → '/'>        float32 or float16, PyTorch shapes, attr crc32
/// /memory/entity_context  [|E|, d]     (with --with-memory) same dtype, attrs as in checkpoints
/// ```
public enum WeightsFile {
    public static let format = "kelm-dist-weights"
    public static let formatVersion = 1

    /// What was written.
    public struct Summary: Equatable, Sendable {
        public var tensors: Int
        public var parameters: Int
        public var memoryRows: Int?
        public var bytes: Int
    }

    /// Writes the weights file `output` (atomically) from the open checkpoint `f`: every tensor
    /// under `/params`, checksums verified on the way, stored as `dtype`; the memory too when
    /// `withMemory` (an error if the checkpoint has none).
    @discardableResult
    public static func write(from f: HDF5File, header: Checkpoint.Header, to output: String,
                             dtype: StoredTensor.FloatStorage, withMemory: Bool) throws -> Summary {
        let source = f.filePath
        let entries = try Checkpoint.storedParameters(in: f)
        let hasMemory = try Checkpoint.guarding(source) { try f.exists("/memory/entity_context") }
        if withMemory && !hasMemory {
            throw CheckpointError(file: source, item: "/memory/entity_context", "missing, so --with-memory cannot export it")
        }
        var summary = Summary(tensors: 0, parameters: 0, memoryRows: nil, bytes: 0)
        let directory = (output as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        try AtomicFile.write(output) { tmp in
            let out = try HDF5File.create(tmp)
            try out.useChecksummedFormat()
            try out.setAttribute("format", format)
            try out.setAttribute("format_version", Int64(formatVersion))
            try out.setAttribute("step", Int64(header.step))
            try out.setAttribute("config", header.configJSON)
            try out.setAttribute("kelm_version", Checkpoint.version)
            try out.setAttribute(Checkpoint.checksumsAttribute, Checkpoint.checksumsValue)
            try out.setAttribute("source", (source as NSString).lastPathComponent)
            for e in entries {
                let path = Checkpoint.datasetPath("params", e.name)
                let t = try Checkpoint.readTensor(path, from: f)
                try t.values.withUnsafeBufferPointer { try StoredTensor.write(out, path, $0, shape: t.shape, as: dtype) }
                summary.tensors += 1
                summary.parameters += t.values.count
            }
            if withMemory, let m = header.memoryState {
                let p = "/memory/entity_context"
                let t = try Checkpoint.readTensor(p, from: f)
                try t.values.withUnsafeBufferPointer { try StoredTensor.write(out, p, $0, shape: t.shape, as: dtype) }
                try out.withDataset(p) { ds in
                    try ds.setAttribute("refresh_count", Int64(m.refreshCount))
                    try ds.setAttribute("next_refresh_step", Int64(m.nextRefreshStep))
                    try ds.setAttribute("next_block", Int64(m.nextBlock))
                    try ds.setAttribute("momentum", m.momentum)
                }
                summary.memoryRows = t.shape.first
            }
            try out.close()
        }
        summary.bytes = (try FileManager.default.attributesOfItem(atPath: output)[.size] as? NSNumber)?.intValue ?? 0
        return summary
    }
}
