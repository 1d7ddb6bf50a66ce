import ArgumentParser
import KELMData
import Logging

/// `kelm-dist prepare tsv`: a dataset from TSV entities, relations and triples and a text corpus.
struct PrepareTSV: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tsv",
        abstract: "Build a dataset from TSV knowledge-graph files and a corpus (formats: docs/data.md).")

    @Option(help: "entities.tsv: id, name, description, aliases (|-separated), optional category.")
    var entities: String

    @Option(help: "relations.tsv: id, name, optional inverse-of relation id or 'symmetric'.")
    var relations: String

    @Option(help: "triples.tsv: head id, relation id, tail id.")
    var triples: String

    @Option(help: "Corpus: one text per line, or JSONL (name ending in .jsonl) with mentions in code points.")
    var corpus: String

    @OptionGroup var common: PrepareCommonOptions

    func run() throws {
        let logger = Logger(label: "kelm-dist.prepare")
        let files = TSVInputFiles(entities: entities, relations: relations, triples: triples, corpus: corpus)
        let summary = try DatasetPreparation.prepareTSV(files, vocabulary: common.vocab, options: common.prepareOptions,
                                                        outputDirectory: common.out) { logger.info("\($0)") }
        print(summary)
    }
}
