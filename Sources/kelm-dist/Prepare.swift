import ArgumentParser
import KELMData

extension PackingMode: ExpressibleByArgument {}

/// `kelm-dist prepare`: build a dataset file from raw data.
struct Prepare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build a dataset file (tokenised segments, KG, splits) from raw data.",
        subcommands: [PrepareTSV.self, PrepareWordNet.self])
}

/// The options shared by the `prepare` subcommands.
struct PrepareCommonOptions: ParsableArguments {
    @Option(help: "The vocab.txt of the WordPiece tokenizer.")
    var vocab: String

    @Option(help: "Output directory; the dataset is written to DIR/dataset.h5.")
    var out: String

    @Option(name: .customLong("max-tokens"), help: "T: tokens per segment, [CLS] and every [SEP] included.")
    var maxTokens = 128

    @Option(help: ArgumentHelp("How texts fill segments: 'texts' packs them in corpus order into [CLS] text [SEP] text [SEP] … of at most T tokens; 'none' puts one text in each. Either way a text longer than T − 2 pieces is cut into windows at word boundaries, nothing is dropped.",
                               valueName: "texts|none"))
    var pack = PackingMode.texts

    @Option(name: .customLong("description-tokens"), help: "Tokens per entity description, [CLS] and [SEP] included.")
    var descriptionTokens = 64

    @Option(name: .customLong("valid-segments"), help: "Fraction of the segments held out for validation.")
    var validSegments = 0.01

    @Option(name: .customLong("test-segments"), help: "Fraction of the segments held out for testing.")
    var testSegments = 0.01

    @Option(name: .customLong("valid-triples"), help: "Fraction of the triples held out for validation (whole entity pairs).")
    var validTriples = 0.01

    @Option(name: .customLong("test-triples"), help: "Fraction of the triples held out for testing (whole entity pairs).")
    var testTriples = 0.01

    @Option(name: .customLong("split-seed"), help: "Seed of the held-out splits.")
    var splitSeed: UInt64 = 0

    @Option(name: .customLong("max-nodes"), help: "J used for the subgraph statistics of the summary.")
    var maxNodes = 64

    /// The library options these flags describe.
    var prepareOptions: PrepareOptions {
        var options = PrepareOptions()
        options.maxTokens = maxTokens
        options.packing = pack
        options.descriptionTokens = descriptionTokens
        options.splits.validSegments = validSegments
        options.splits.testSegments = testSegments
        options.splits.validTriples = validTriples
        options.splits.testTriples = testTriples
        options.splits.seed = splitSeed
        options.summaryMaxNodes = maxNodes
        return options
    }
}
