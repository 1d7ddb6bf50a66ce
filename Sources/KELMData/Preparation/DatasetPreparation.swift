import Foundation

/// What `prepare` built, for its printed summary.
public struct PrepareSummary: Equatable, Sendable, CustomStringConvertible {
    /// The dataset file written.
    public var outputFile: String
    /// Where the data came from (`tsv` or `wordnet`).
    public var source: String
    /// |E|.
    public var entities: Int
    /// R (after folding).
    public var relations: Int
    /// Categories.
    public var categories: Int
    /// Triples per split.
    public var triples: [DataSplit: Int]
    /// Segments per split.
    public var segments: [DataSplit: Int]
    /// How the texts were put into segments, and what that did.
    public var packing: PackingMode
    public var packingStatistics: PackingStatistics
    /// T.
    public var maxTokens: Int
    /// Entities whose description names none of their names (anchored as `name :`, DESIGN §4).
    public var anchoredDescriptions: Int
    /// Mean tokens per segment (`[CLS]` and every `[SEP]` included: the non-padding positions
    /// of a batch), over all segments.
    public var meanSegmentTokens: Double
    /// Mentions per segment (mean over all segments, after windowing).
    public var mentionsPerSegment: Double
    /// Share of the segments with at least one mention.
    public var segmentsWithMentions: Double
    /// J of the subgraph statistics.
    public var maxNodes: Int
    /// Mean subgraph size in nodes, interaction node included, over all segments.
    public var meanSubgraphNodes: Double
    /// Largest subgraph size in nodes, interaction node included.
    public var largestSubgraphNodes: Int
    /// Mean number of forward KG edges in a subgraph (the link-prediction candidates).
    public var meanSubgraphEdges: Double
    /// Share of the subgraphs with at least one KG edge.
    public var subgraphsWithEdges: Double
    /// Mean link-prediction positives per segment (DESIGN §3: min(100, max(1, ⌊0.15 E⌋)) when E ≥ 1),
    /// and the share of the segments that have one.
    public var meanPositives: Double
    public var segmentsWithPositives: Double
    /// Wall-clock seconds.
    public var seconds: Double

    /// `key: value` lines.
    public var description: String {
        func splits(_ counts: [DataSplit: Int]) -> String {
            DataSplit.allCases.map { "\($0.rawValue) \(counts[$0] ?? 0)" }.joined(separator: ", ")
        }
        return """
            dataset: \(outputFile)
            source: \(source)
            entities: \(entities)
            relations: \(relations)
            categories: \(categories)
            triples: \(splits(triples))
            texts: \(packingStatistics.texts) (\(packingStatistics.pieces) word pieces\(packingStatistics.emptyTexts > 0 ? ", \(packingStatistics.emptyTexts) without any" : ""); \(packingStatistics.windowedTexts) longer than T − 2 cut into \(packingStatistics.windows) windows, \(packingStatistics.droppedMentions) mentions dropped at window boundaries)
            segments: \(splits(segments)) (--pack \(packing.rawValue))
            descriptions: \(anchoredDescriptions) of \(entities) name none of their entity's names (memory.anchor: name encodes them as [CLS] name : description [SEP])
            tokens per segment: mean \(String(format: "%.1f", meanSegmentTokens)) of T \(maxTokens) (\(String(format: "%.1f", 100 * meanSegmentTokens / Double(max(maxTokens, 1))))% real, the rest padding)
            linked mentions per segment: \(String(format: "%.2f", mentionsPerSegment)) (\(String(format: "%.1f", 100 * segmentsWithMentions))% of segments have one)
            subgraph nodes (J \(maxNodes), interaction node included): mean \(String(format: "%.2f", meanSubgraphNodes)), largest \(largestSubgraphNodes)
            subgraph KG edges: mean \(String(format: "%.2f", meanSubgraphEdges)) (\(String(format: "%.1f", 100 * subgraphsWithEdges))% of subgraphs have one)
            link-prediction positives per segment: mean \(String(format: "%.2f", meanPositives)) (\(String(format: "%.1f", 100 * segmentsWithPositives))% of segments have one)
            seconds: \(String(format: "%.2f", seconds))
            """
    }
}

/// The `prepare` commands as library calls: read the inputs, check them, build, write
/// atomically, summarise. Every input problem is a `DataError` thrown before anything is written.
public enum DatasetPreparation {
    /// `prepare tsv`.
    public static func prepareTSV(_ files: TSVInputFiles, vocabulary: String, options: PrepareOptions,
                                  outputDirectory: String, progress: (String) -> Void = { _ in }) throws -> PrepareSummary {
        let start = Date()
        try options.validate()
        let tokenizer = try loadTokenizer(vocabularyFile: vocabulary)
        progress("reading \(files.entities), \(files.relations), \(files.triples), \(files.corpus)")
        let (knowledgeBase, corpus) = try TSVImport.load(files)
        return try finish(knowledgeBase: knowledgeBase, corpus: corpus, tokenizer: tokenizer, options: options,
                          source: "tsv", corpusFile: files.corpus, outputDirectory: outputDirectory, start: start,
                          progress: progress)
    }

    /// `prepare wordnet`.
    public static func prepareWordNet(source: String, vocabulary: String, options: PrepareOptions,
                                      outputDirectory: String, progress: (String) -> Void = { _ in }) throws -> PrepareSummary {
        let start = Date()
        try options.validate()
        let tokenizer = try loadTokenizer(vocabularyFile: vocabulary)
        progress("reading the WordNet database in \(source)")
        let (knowledgeBase, corpus) = try WordNetImport.load(source: source)
        return try finish(knowledgeBase: knowledgeBase, corpus: corpus, tokenizer: tokenizer, options: options,
                          source: "wordnet", corpusFile: source, outputDirectory: outputDirectory, start: start,
                          progress: progress)
    }

    static func finish(knowledgeBase: KnowledgeBase, corpus: [CorpusSegment], tokenizer: WordPieceTokenizer,
                       options: PrepareOptions, source: String, corpusFile: String, outputDirectory: String,
                       start: Date, progress: (String) -> Void) throws -> PrepareSummary {
        progress("\(knowledgeBase.entities.count) entities, \(knowledgeBase.relations.count) relations, \(knowledgeBase.triples.count) triples, \(corpus.count) segments; tokenising and linking")
        let dataset = try DatasetBuilder.build(knowledgeBase: knowledgeBase, corpus: corpus, tokenizer: tokenizer,
                                               options: options, source: source, corpusFile: corpusFile)
        progress("writing \(outputDirectory)/\(DatasetLayout.fileName)")
        let path = try DatasetWriter.write(dataset, to: outputDirectory)
        var summary = summarize(dataset, maxNodes: options.summaryMaxNodes)
        summary.outputFile = path
        summary.seconds = Date().timeIntervalSince(start)
        return summary
    }

    /// The summary of a prepared dataset (subgraphs retrieved with J = `maxNodes` and the default
    /// `data.seed` 0).
    public static func summarize(_ dataset: PreparedDataset, maxNodes: Int) -> PrepareSummary {
        var retriever = SubgraphRetriever(graph: dataset.trainingGraph, maxNodes: maxNodes, seed: 0)
        var subgraph = Subgraph()
        var segmentCount = 0, mentionCount = 0, withMentions = 0, nodeTotal = 0, largest = 0, edgeTotal = 0, tokenTotal = 0
        var withEdges = 0, positiveTotal = 0
        for split in DataSplit.allCases {
            guard let table = dataset.segments[split] else { continue }
            for i in 0..<table.count {
                let mentions = (3 * Int(table.mentionPointer[i]))..<(3 * Int(table.mentionPointer[i + 1]))
                let entities = stride(from: mentions.lowerBound + 2, to: mentions.upperBound, by: 3).lazy.map { table.mentions[$0] }
                let sources = Array(table.sourceEntities[Int(table.sourcePointer[i])..<Int(table.sourcePointer[i + 1])])
                retriever.retrieve(mentionedEntities: entities, sourceEntities: sources, segment: i, into: &subgraph)
                segmentCount += 1
                tokenTotal += Int(table.tokenPointer[i + 1] - table.tokenPointer[i])
                mentionCount += mentions.count / 3
                if !mentions.isEmpty { withMentions += 1 }
                nodeTotal += 1 + subgraph.nodes.count
                edgeTotal += subgraph.edges.count
                if !subgraph.edges.isEmpty { withEdges += 1 }
                positiveTotal += LinkPredictionSampling.positiveCount(candidates: subgraph.edges.count)
                largest = max(largest, 1 + subgraph.nodes.count)
            }
        }
        let denominator = Double(max(segmentCount, 1))
        return PrepareSummary(
            outputFile: "", source: dataset.source, entities: dataset.knowledgeBase.entities.count,
            relations: dataset.knowledgeBase.relations.count, categories: dataset.knowledgeBase.categories.count,
            triples: [.train: dataset.triples.train.count, .valid: dataset.triples.valid.count, .test: dataset.triples.test.count],
            segments: Dictionary(uniqueKeysWithValues: DataSplit.allCases.map { ($0, dataset.segments[$0]?.count ?? 0) }),
            packing: dataset.packing, packingStatistics: dataset.packingStatistics, maxTokens: dataset.maxTokens,
            anchoredDescriptions: zip(dataset.descriptionAnchorPointer, dataset.descriptionAnchorPointer.dropFirst()).filter { $0 < $1 }.count,
            meanSegmentTokens: Double(tokenTotal) / denominator,
            mentionsPerSegment: Double(mentionCount) / denominator, segmentsWithMentions: Double(withMentions) / denominator,
            maxNodes: maxNodes, meanSubgraphNodes: Double(nodeTotal) / denominator, largestSubgraphNodes: largest,
            meanSubgraphEdges: Double(edgeTotal) / denominator, subgraphsWithEdges: Double(withEdges) / denominator,
            meanPositives: Double(positiveTotal) / denominator, segmentsWithPositives: Double(withEdges) / denominator, seconds: 0)
    }
}
