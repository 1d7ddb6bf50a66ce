import ArgumentParser
import Foundation
import KELMBatches
import KELMConfig
import KELMDistributed
import KELMMPI
import KELMNumerics
import KELMTraining
import Logging

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pretrain the fusion model (data-parallel under mpirun; one process without).")

    @Option(help: "YAML configuration file (DESIGN §10); keys not given take their defaults.")
    var config: String?

    @Option(name: .customLong("set"), help: "Override a configuration key: section.key=value (repeatable).")
    var overrides: [String] = []

    @Option(name: .customLong("init-from"), help: "Hugging Face BERT folder (config.json + model.safetensors) for the LM.")
    var initFrom: String?

    @Option(help: "Continue from a checkpoint file, or a run directory (its latest checkpoint); --resume DIR --out DIR before DIR's first checkpoint starts it at step 0.")
    var resume: String?

    @Option(help: "Run directory (config.yaml, metrics.jsonl, checkpoints/).")
    var out: String = "runs/train"

    func validate() throws {
        if initFrom != nil && resume != nil {
            throw ValidationError("--init-from and --resume together: a resumed run's weights come from its checkpoint; drop --init-from")
        }
    }

    func run() throws {
        // a stop signal from the first instruction on: during start-up every rank ends cleanly
        StopSignals.install()
        let world = try MPIRuntime.world()
        // The collective holds what the node's ranks share (outside the work below): see
        // `MPICollective.sharedMemories`.
        let collective = MPICollective(world)
        try TrainCommandSupport.stoppingEveryRankOnError(world) {
            var loaded = try ConfigLoader.load(file: config, overrides: overrides)
            let plan = try resume.flatMap { try ResumePlan.plan(requested: loaded, path: $0, runDirectory: out, worldSize: world.size) }
            if let plan { loaded = plan.config }
            try TrainCommandSupport.setThreadsPerRank(world)
            var logger = Logger(label: "kelm-dist.train")
            logger.logLevel = world.rank == 0 ? .info : .error
            var run = TrainingRun(config: loaded, data: try loaded.trainingData(), collective: collective,
                                  initFrom: initFrom, runDirectory: out, logger: logger)
            run.resume = plan
            run.restartsBeforeFirstCheckpoint = resume != nil && plan == nil
            run.nodeSharing = collective
            var summary: TrainingRun.Summary? = nil
            var agreedFailure: TrainingRun.MetricsFailure? = nil
            do {
                summary = try run.run()
            } catch is TrainingRun.StartUpStop {
                // every rank agreed on it at the same point: end cleanly, exit 0 (the run logged why)
            } catch let failure as TrainingRun.MetricsFailure {
                // every rank stopped at the same step boundary (after a checkpoint): end MPI
                // cleanly, then rank 0 alone reports it (an abort could cut rank 0's message)
                agreedFailure = failure
            }
            // rank 0 reports the agreed failure before the ranks synchronise for the last time:
            // once any rank exits non-zero, mpirun tears the job down, and a message printed
            // after that could be cut or lost among mpirun's own
            if let agreedFailure, world.rank == 0 { TrainCommandSupport.reportError(agreedFailure) }
            try collective.close()  // every rank gets here: collective
            if world.rank == 0, let path = summary?.checkpoint { print(path) }
            try MPIRuntime.finalize()
            if agreedFailure != nil { throw ExitCode(1) }
        }
    }
}
