import ArgumentParser

@main
struct KelmDist: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kelm-dist",
        abstract: "Pretrain a knowledge-enhanced language model on CPUs with MPI.")
}
