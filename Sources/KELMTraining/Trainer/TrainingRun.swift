import Foundation
import KELMCheckpoint
import KELMNumerics
import KELMMemory
import Logging

/// A whole training run as `kelm-dist train` runs it: the trainer, plus what rank 0 writes
/// into the run directory (`config.yaml`, `metrics.jsonl`, checkpoints) and prints (progress
/// lines with losses, tokens/s and ETA).
public struct TrainingRun {
    public var config: KELMConfig
    public var data: TrainingData
    public var collective: Collective
    public var initFrom: String?
    public var runDirectory: String
    public var logger: Logger
    /// Continue from this checkpoint (see `ResumePlan` for the configuration to use).
    public var resume: ResumePlan?
    /// Node-shared storage for the entity memory (see `Trainer.init`).
    public var sharedMemory: ((Int) throws -> (UnsafeMutableRawPointer, MemorySharing)?)?

    public init(config: KELMConfig, data: TrainingData, collective: Collective, initFrom: String?, runDirectory: String,
                logger: Logger) {
        self.config = config
        self.data = data
        self.collective = collective
        self.initFrom = initFrom
        self.runDirectory = runDirectory
        self.logger = logger
    }

    public struct Summary: Sendable {
        public var steps: Int
        public var last: StepMetrics?
        public var checkpoint: String?
        public var stoppedBySignal = false
    }

    var isRoot: Bool { collective.rank == 0 }

    public func run() throws -> Summary {
        let log = logger, root = isRoot
        let trainer = try Trainer(config: config, data: data, collective: collective,
                                  initFrom: resume == nil ? initFrom : nil, fillMemory: resume == nil,
                                  log: { if root { log.info("\($0)") } }, sharedMemory: sharedMemory)
        if let resume { try trainer.restore(from: resume.checkpoint) }
        let watchdog = CollectiveWatchdog(timeoutSeconds: config.train.collectiveTimeoutSeconds, rank: collective.rank)
        watchdog.start()
        trainer.watchdog = watchdog
        StopSignals.install()
        // periodic evaluation on the held-out split (a prepared dataset only: synthetic data has none)
        var evaluator: Evaluator? = nil
        // the best evaluation so far: after a resume, the one the checkpoint recorded
        var best = resume.flatMap { Self.bestSoFar($0.header.bestEvaluation, split: config.eval.split.rawValue) }
        if config.eval.every > 0 {
            if data is DatasetTrainingData {
                let e = try Evaluator(model: trainer.model,
                                      data: try EvaluationData(training: data, split: config.eval.split == .valid ? .valid : .test),
                                      options: EvaluationOptions(config: config, limits: config.eval))
                e.watchdog = watchdog
                e.log = { if root { log.info("\($0)") } }
                evaluator = e
            } else if isRoot {
                logger.notice("eval.every is set, but the training data has no held-out split (data.path: synthetic): no evaluation")
            }
        }
        var metrics: MetricsLog? = nil
        if isRoot {
            try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
            try AtomicFile.write((runDirectory as NSString).appendingPathComponent("config.yaml")) { tmp in
                try trainer.config.yaml().write(toFile: tmp, atomically: false, encoding: .utf8)
            }
            metrics = try MetricsLog(path: (runDirectory as NSString).appendingPathComponent("metrics.jsonl"),
                                     resumingAt: resume?.header.step)
            logger.info("kelm-dist train: \(collective.size) rank(s), \(trainer.model.store.table.count) parameters, \(data.segmentCount) training segments, \(data.entityCount) entities, \(data.numRelations) relations")
            logger.info("global batch \(trainer.order.globalBatch) segments (micro-batch \(config.train.microBatch) × \(collective.size) rank(s) × accumulation \(config.train.accumulation)), \(trainer.reducer.buckets.count) gradient buckets of at most \(config.train.bucketMB) MiB")
            for note in trainer.notes + (resume?.notes ?? []) { logger.notice("\(note)") }
            for warning in trainer.warnings { logger.warning("\(warning)") }
            if let resume {
                logger.info("resuming from \(resume.checkpoint) at step \(resume.header.step)")
                if let b = resume.header.bestEvaluation {
                    if best != nil {
                        logger.info("best so far: validation mlm_loss \(b.mlmLoss) at step \(b.step) (a later evaluation must beat it to become best)")
                    } else {
                        logger.notice("the checkpoint's best evaluation is on the \(b.split) split, this run evaluates \(config.eval.split.rawValue): the first evaluation becomes best")
                    }
                }
            }
        }
        let total = config.train.steps
        var last: StepMetrics? = nil
        var checkpoint: String? = nil
        let start = Profiler.now()
        let first = trainer.step
        var savedAt = -1
        while trainer.step < total {
            if isRoot && trainer.adaptSteps > 0 && trainer.step == trainer.adaptSteps {
                logger.notice("step \(trainer.step): the MLM-adaptation stage is over; train.param_policy \(config.train.paramPolicy.rawValue) takes over")
            }
            let m = try trainer.trainStep()
            last = m
            let done = m.step + 1
            if isRoot {
                // every log.every steps, and at every step that refreshed the memory or ran the
                // attribution (their times are in the record)
                if done % config.log.every == 0 || done == total || m.memory_refresh_ms != nil || m.attribution_ms != nil {
                    try metrics?.append(m)
                    let elapsed = Double(Profiler.now() - start) * 1e-9
                    let eta = elapsed / Double(done - first) * Double(total - done)
                    logger.info("\(Self.progressLine(m, total: total, eta: eta))")
                }
            }
            var evaluated: EvaluationResult? = nil
            if let evaluator, done % config.eval.every == 0 || done == total {
                let result = try evaluator.evaluate(memory: trainer.memory.rows, collective: collective, step: done)
                evaluated = result
                if isRoot {
                    try metrics?.append(EvaluationLogRecord(step: done, eval: result))
                    logger.info("evaluation at step \(done): \(result.summaryLines.dropFirst().joined(separator: ", "))")
                }
            }
            var improved = false
            if let evaluated, evaluated.isBetter(than: best) {
                best = evaluated
                improved = true
            }
            if (config.checkpoint.every > 0 && done % config.checkpoint.every == 0 && done < total) || evaluated != nil {
                checkpoint = try save(trainer, best: best)
                savedAt = done
                if improved, isRoot, let checkpoint { try Checkpoint.markBest(checkpoint) }
            }
            // a stop signal on any rank: every rank saves at this step boundary and exits cleanly
            var signal: [Int64] = [Int64(StopSignals.received)]
            try watchdog.guarding("stop-signal agreement", step: done) {
                try signal.withUnsafeMutableBufferPointer { try collective.allReduceMax($0) }
            }
            if signal[0] != 0 && done < total {
                if isRoot { logger.notice("\(StopSignals.name(Int32(signal[0]))) received: saving a checkpoint at step \(done) and stopping") }
                try metrics?.close()
                checkpoint = try save(trainer, best: best)
                if isRoot, let checkpoint { logger.info("checkpoint: \(checkpoint)") }
                return Summary(steps: trainer.step, last: last, checkpoint: checkpoint, stoppedBySignal: true)
            }
        }
        try metrics?.close()
        if savedAt != trainer.step { checkpoint = try save(trainer, best: best) }
        if isRoot, let checkpoint { logger.info("checkpoint: \(checkpoint)") }
        return Summary(steps: trainer.step, last: last, checkpoint: checkpoint)
    }

    /// The best evaluation a resumed run starts from: the checkpoint's record when it is of the
    /// split this run evaluates (only `mlm_loss` and `step` are known; `isBetter` needs no more).
    static func bestSoFar(_ stored: Checkpoint.BestEvaluation?, split: String) -> EvaluationResult? {
        guard let stored, stored.split == split else { return nil }
        var r = EvaluationResult(split: split)
        r.step = stored.step
        r.mlmLoss = stored.mlmLoss
        return r
    }

    /// Rank 0 writes the checkpoint (with the best evaluation so far, so that a resume knows it);
    /// every rank waits until it is complete.
    func save(_ t: Trainer, best: EvaluationResult?) throws -> String? {
        var path: String? = nil
        if isRoot {
            var contents = try t.checkpointContents()
            if let best, let loss = best.mlmLoss, let step = best.step {
                contents.bestEvaluation = Checkpoint.BestEvaluation(mlmLoss: loss, step: step, split: best.split)
            }
            path = try Checkpoint.save(contents, runDirectory: runDirectory, keep: config.checkpoint.keep)
        }
        try t.guarded("checkpoint barrier") { try collective.barrier() }
        return path
    }

    static func progressLine(_ m: StepMetrics, total: Int, eta: Double) -> String {
        let etaText: String
        if eta >= 3600 { etaText = String(format: "%dh%02dm", Int(eta) / 3600, Int(eta) % 3600 / 60) }
        else { etaText = String(format: "%dm%02ds", Int(eta) / 60, Int(eta) % 60) }
        return String(format: "step %d/%d  loss %.4f (mlm %.4f, lp %.4f)  acc %.3f  lr %.2e  |g| %.3f  %.0f real tokens/s (%.0f%% padding)  ETA %@%@",
                      m.step + 1, total, m.loss, m.mlm_loss, m.lp_loss, m.mlm_accuracy, m.lr, m.grad_norm, m.real_tokens_per_s,
                      100 * m.padding_fraction, etaText, m.skipped ? "  (skipped: non-finite)" : "")
    }
}
