import ArgumentParser
import KELMTraining

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Summarise a checkpoint and verify its checksums.",
        discussion: "Format and version, step, epoch, samples seen, world size, the stored architecture and policies, parameter counts by group, the entity memory and its refresh state, the routed share per layer, and the file size. See docs/checkpoints.md.")

    @Argument(help: "A checkpoint file, or a run directory (its latest checkpoint).")
    var checkpoint: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        let summary = try CheckpointSummary(path: checkpoint)
        print(json ? try summary.json() : summary.text)
    }
}
