import ArgumentParser
import Foundation
import KELMData
import KELMDistributed
import KELMEvaluation
import KELMMPI
import KELMTraining
import Logging

/// `kelm-dist eval CKPT`: masked LM and filtered link prediction on a held-out split
/// (docs/evaluation.md). Under mpirun each rank takes a share; rank 0 prints.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a checkpoint on a held-out split: masked LM and filtered link-prediction ranking.",
        discussion: "Metrics and choices: docs/evaluation.md. Under mpirun every rank evaluates a share and rank 0 prints.")

    @Argument(help: "A checkpoint file, or a run directory (its latest checkpoint).")
    var checkpoint: String

    @Option(help: "The prepared dataset (default: the data.path the checkpoint was trained on).")
    var data: String?

    @Option(help: "The held-out split: valid or test.")
    var split = "valid"

    @Flag(help: "Print one JSON object (mlm_loss, mlm_accuracy, mention_mlm_loss, mrr, hits@1, hits@3, hits@10, counts…).")
    var json = false

    @Option(help: "Segments per forward pass (default: the checkpoint's train.micro_batch).")
    var batch: Int?

    @Option(name: .customLong("max-segments"), help: "Evaluate only the first N held-out segments.")
    var maxSegments: Int?

    @Option(name: .customLong("max-triples"), help: "Rank only the first N held-out triples.")
    var maxTriples: Int?

    @Option(name: .customLong("max-entities"),
            help: "Rank among at most N candidate entities (the triples' own, then a seeded sample) instead of all; quicker, optimistic.")
    var maxEntities: Int?

    @Option(name: .customLong("token-losses"),
            help: "Also write every masked token's loss to this TSV file (segment, position, token, mention, loss), to compare checkpoints token by token.")
    var tokenLosses: String?

    @Flag(name: .customLong("no-mlm"), help: "Skip the masked-LM part.")
    var noMLM = false

    @Flag(name: .customLong("no-link-prediction"), help: "Skip the link-prediction part.")
    var noLinkPrediction = false

    func validate() throws {
        if tokenLosses != nil && noMLM { throw ValidationError("--token-losses needs the masked-LM part (drop --no-mlm)") }
        guard split == "valid" || split == "test" else { throw ValidationError("--split must be valid or test, not \(split)") }
        for (name, value) in [("--batch", batch), ("--max-segments", maxSegments), ("--max-triples", maxTriples), ("--max-entities", maxEntities)] {
            if let value, value < (name == "--batch" ? 1 : 0) { throw ValidationError("\(name) must be at least \(name == "--batch" ? 1 : 0)") }
        }
    }

    func run() throws {
        let world = try MPIRuntime.world()
        try TrainCommandSupport.stoppingEveryRankOnError(world) {
            try TrainCommandSupport.setThreadsPerRank(world)
            var logger = Logger(label: "kelm-dist.eval")
            logger.logLevel = world.rank == 0 ? .info : .error
            var job = CheckpointEvaluation(checkpoint: checkpoint)
            job.dataPath = data
            job.split = split == "test" ? .test : .valid
            job.options.batch = batch
            job.options.maxSegments = maxSegments
            job.options.maxTriples = maxTriples
            job.options.maxEntities = maxEntities
            job.options.maskedLM = !noMLM
            job.options.linkPrediction = !noLinkPrediction
            job.options.recordTokenLosses = tokenLosses != nil
            let root = world.rank == 0
            let outcome = try job.run(collective: MPICollective(world), log: { if root { logger.info("\($0)") } })
            if root {
                if let tokenLosses {
                    let text = MaskedTokenLoss.tsv(outcome.result.tokenLosses ?? [])
                    do { try text.write(toFile: tokenLosses, atomically: true, encoding: .utf8) } catch {
                        throw ValidationError("--token-losses: cannot write \(tokenLosses): \(error.localizedDescription)")
                    }
                }
                if json {
                    print(try outcome.result.jsonString())
                } else {
                    print("checkpoint: \(outcome.checkpoint)")
                    print("data: \(outcome.dataPath)")
                    print("ranks: \(world.size)")
                    for line in outcome.result.summaryLines { print(line) }
                }
            }
            try MPIRuntime.finalize()
        }
    }
}
