import ArgumentParser

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training-step throughput (release build).",
        subcommands: [BenchLM.self, BenchModel.self, BenchTrain.self, BenchAllReduce.self, BenchLoader.self, BenchMemory.self,
                      BenchCheckpoint.self, BenchScale.self])
}
