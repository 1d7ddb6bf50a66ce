import ArgumentParser

struct Debug: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect the machine and the program's pieces.",
        subcommands: [DebugBLAS.self, DebugTokenize.self, DebugDumpBatch.self])
}
