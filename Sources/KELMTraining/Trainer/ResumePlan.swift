import Foundation
import KELMCheckpoint

/// How a run resumes from a checkpoint (DESIGN §7, §10): the architecture comes from the
/// checkpoint; the global batch is kept, adjusting the accumulation (or else the micro-batch)
/// when the number of ranks changed.
public struct ResumePlan {
    public let checkpoint: String
    public let header: Checkpoint.Header
    public let config: KELMConfig
    /// What was adjusted, for the start-up log.
    public let notes: [String]

    /// `requested` is the run's own configuration (file and --set); `path` a checkpoint file
    /// or a run directory (its `latest`).
    public init(requested: KELMConfig, path: String, worldSize: Int) throws {
        checkpoint = try Checkpoint.resolve(path)
        let (file, header) = try Checkpoint.open(checkpoint)
        try file.close()
        self.header = header
        let saved: KELMConfig
        do {
            saved = try KELMConfig(json: header.configJSON)
        } catch {
            throw CheckpointError(file: checkpoint, item: "attribute config", "\(error)")
        }
        var config = requested
        config.model = saved.model
        config.model.initFrom = nil
        var notes: [String] = []
        let global = saved.train.microBatch * header.worldSize * saved.train.accumulation
        let B = config.train.microBatch, A = config.train.accumulation
        if B * worldSize * A != global {
            if global % (B * worldSize) == 0 {
                config.train.accumulation = global / (B * worldSize)
                notes.append("resuming on \(worldSize) rank(s) instead of \(header.worldSize): accumulation \(A) → \(config.train.accumulation) keeps the global batch of \(global)")
            } else if global % worldSize == 0 {
                config.train.microBatch = global / worldSize
                config.train.accumulation = 1
                notes.append("resuming on \(worldSize) rank(s) instead of \(header.worldSize): micro-batch \(B) → \(config.train.microBatch), accumulation 1, keeps the global batch of \(global)")
            } else {
                throw CheckpointError(file: checkpoint, item: "global batch",
                                      "\(global) segments cannot be split over \(worldSize) ranks; resume on a number of ranks that divides it")
            }
        }
        self.config = config
        self.notes = notes
    }
}
