import ArgumentParser
import KELMData
import Logging

/// `kelm-dist prepare wordnet`: a dataset from the WordNet 3.0 database.
struct PrepareWordNet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wordnet",
        abstract: "Build a dataset from the WordNet 3.0 database files (Debian package wordnet-base).")

    @Option(help: "Directory of the WordNet database (data.noun, index.noun, …).")
    var source = "/usr/share/wordnet"

    @OptionGroup var common: PrepareCommonOptions

    func run() throws {
        let logger = Logger(label: "kelm-dist.prepare")
        let summary = try DatasetPreparation.prepareWordNet(source: source, vocabulary: common.vocab,
                                                            options: common.prepareOptions,
                                                            outputDirectory: common.out) { logger.info("\($0)") }
        print(summary)
    }
}
