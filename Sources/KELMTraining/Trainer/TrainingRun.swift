import Foundation
import KELMBatches
import KELMConfig
import KELMDistributed
import KELMEvaluation
import KELMFiles
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
    /// `--resume` named this run directory before it held a checkpoint (see `ResumePlan.plan`):
    /// what it holds (a configuration, records of unsaved steps) is replaced by a run from step 0.
    public var restartsBeforeFirstCheckpoint = false
    /// What the ranks of a node can share: the entity memory, and the gradients when the whole
    /// job is on one node (see `Trainer.init`).
    public var nodeSharing: NodeSharing?

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
        /// The checkpoint resumed was already at `train.steps`: nothing trained, nothing written.
        public var nothingToTrain = false
    }

    var isRoot: Bool { collective.rank == 0 }

    /// A stop signal agreed on before the first step: every rank ends start-up at the same
    /// point, with nothing to checkpoint.
    public struct StartUpStop: Error, CustomStringConvertible {
        public var signal: Int32
        public var phase: String
        public var description: String {
            "\(StopSignals.name(signal)) received while \(phase): stopped before the first step; nothing to checkpoint yet (no step was trained), nothing written"
        }
    }

    /// Rank 0 could not append to `metrics.jsonl`: the run stopped after saving a checkpoint when
    /// the disk allowed.
    public struct MetricsFailure: Error, CustomStringConvertible {
        /// What failed on rank 0 (nil on the other ranks).
        public var error: Error?
        public var checkpoint: String?
        public var checkpointError: Error?
        public var description: String {
            guard let error else { return "rank 0 could not append to metrics.jsonl; the run stopped" }
            let what = checkpoint.map { "; a checkpoint was saved first: \($0) (--resume continues from it)" }
                ?? checkpointError.map { "; the checkpoint could not be saved either: \($0)" } ?? ""
            return "\(error)\(what)"
        }
    }

    /// Every rank, at the same point of start-up: agree on a stop signal (any rank's), and stop.
    func startUpCheck(_ phase: String) throws {
        if StopSignals.debugStartUpPause > 0 { Thread.sleep(forTimeInterval: StopSignals.debugStartUpPause) }
        var signal: [Int64] = [Int64(StopSignals.received)]
        try signal.withUnsafeMutableBufferPointer { try collective.allReduceMax($0) }
        if signal[0] != 0 { throw StartUpStop(signal: Int32(signal[0]), phase: phase) }
    }

    public func run() throws -> Summary {
        let log = logger, root = isRoot
        StopSignals.install()
        // the run directory is this job's before anything is written into it (rank 0 writes)
        let lock = root ? try RunDirectoryLock(directory: runDirectory) : nil
        if resume == nil && !restartsBeforeFirstCheckpoint { try lock?.requireNoRun() }
        if restartsBeforeFirstCheckpoint && root {
            logger.notice("--resume \(runDirectory): no checkpoint saved yet (the job stopped before its first), so the run starts at step 0 there")
        }
        do {
            let summary = try run(lock: lock, log: log, root: root)
            if summary.nothingToTrain { lock?.releaseLeavingNoTrace() } else { lock?.release() }
            return summary
        } catch let stop as StartUpStop {
            if root { logger.notice("\(stop)") }
            lock?.releaseLeavingNoTrace()
            throw stop
        }
    }

    func run(lock: RunDirectoryLock?, log: Logger, root: Bool) throws -> Summary {
        try startUpCheck("starting")
        let trainer = try Trainer(config: config, data: data, collective: collective,
                                  initFrom: resume == nil ? initFrom : nil, fillMemory: resume == nil,
                                  log: { if root { log.info("\($0)") } }, nodeSharing: nodeSharing,
                                  startUpCheck: { try self.startUpCheck($0) })
        // the exchange's MPI requests are released when the run ends, however it ends (a ring
        // with a bucket in flight is left as it is: the job is being aborted)
        defer { do { try trainer.exchange.close() } catch { if root { log.error("\(error)") } } }
        if let resume { try trainer.restore(from: resume.checkpoint) }
        if trainer.step >= config.train.steps {
            // a finished run resumed (a requeued job): nothing to train, nothing rewritten
            if root { logger.notice("the checkpoint \(resume?.checkpoint ?? "") is at step \(trainer.step), train.steps is \(config.train.steps): nothing to train (--set train.steps=N with N > \(trainer.step) continues the run); nothing written") }
            return Summary(steps: trainer.step, last: nil, checkpoint: resume?.checkpoint, nothingToTrain: true)
        }
        try startUpCheck("preparing the first step")
        let watchdog = CollectiveWatchdog(timeoutSeconds: config.train.collectiveTimeoutSeconds, rank: collective.rank)
        watchdog.start()
        trainer.watchdog = watchdog
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
            try AtomicFile.write((runDirectory as NSString).appendingPathComponent("config.yaml"), data: Data(try trainer.config.yaml().utf8))
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
        var metricsFailure: Error? = nil
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
                    do { try metrics?.append(m) } catch { metricsFailure = metricsFailure ?? error }
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
                    do { try metrics?.append(EvaluationLogRecord(step: done, eval: result)) } catch { metricsFailure = metricsFailure ?? error }
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
            // rank 0 could not append to metrics.jsonl (a full disk): every rank saves a checkpoint
            // first, if the disk allows, then stops
            var signal: [Int64] = [Int64(StopSignals.received), metricsFailure == nil ? 0 : 1]
            try watchdog.guarding("stop-signal agreement", step: done) {
                try signal.withUnsafeMutableBufferPointer { try collective.allReduceMax($0) }
            }
            if signal[1] != 0 {
                var saved: String? = nil
                var saveError: Error? = nil
                do { saved = try save(trainer, best: best) } catch { saveError = error }
                throw MetricsFailure(error: metricsFailure, checkpoint: saved, checkpointError: saveError)
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
        // whole seconds by interpolation (`%d` takes 32 bits), bounded (an ETA of more than a
        // million years is shown as that)
        let seconds = eta.isFinite ? Int(min(max(eta, 0), 3.2e13)) : 0
        func twoDigits(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let etaText = seconds >= 3600 ? "\(seconds / 3600)h\(twoDigits(seconds % 3600 / 60))m" : "\(seconds / 60)m\(twoDigits(seconds % 60))s"
        return "step \(m.step + 1)/\(total)  " + String(format: "loss %.4f (mlm %.4f, lp %.4f)  acc %.3f  lr %.2e  |g| %.3f  %.0f real tokens/s (%.0f%% padding)  ETA %@%@",
                      m.loss, m.mlm_loss, m.lp_loss, m.mlm_accuracy, m.lr, m.grad_norm, m.real_tokens_per_s,
                      100 * m.padding_fraction, etaText, m.skipped ? "  (skipped: non-finite)" : "")
    }
}
