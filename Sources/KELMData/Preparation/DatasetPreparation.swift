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
    /// Mentions per segment (mean over all segments, after truncation).
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
            segments: \(splits(segments))
            linked mentions per segment: \(String(format: "%.2f", mentionsPerSegment)) (\(String(format: "%.1f", 100 * segmentsWithMentions))% of segments have one)
            subgraph nodes (J \(maxNodes), interaction node included): mean \(String(format: "%.2f", meanSubgraphNodes)), largest \(largestSubgraphNodes)
            subgraph KG edges: mean \(String(format: "%.2f", meanSubgraphEdges))
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

    /// The summary of a prepared dataset (subgraphs retrieved with J = `maxNodes`).
    public static func summarize(_ dataset: PreparedDataset, maxNodes: Int) -> PrepareSummary {
        var retriever = SubgraphRetriever(graph: dataset.trainingGraph, maxNodes: maxNodes)
        var subgraph = Subgraph()
        var segmentCount = 0, mentionCount = 0, withMentions = 0, nodeTotal = 0, largest = 0, edgeTotal = 0
        for split in DataSplit.allCases {
            guard let table = dataset.segments[split] else { continue }
            for i in 0..<table.count {
                let mentions = (3 * Int(table.mentionPointer[i]))..<(3 * Int(table.mentionPointer[i + 1]))
                let entities = stride(from: mentions.lowerBound + 2, to: mentions.upperBound, by: 3).lazy.map { table.mentions[$0] }
                retriever.retrieve(mentionedEntities: entities, sourceEntity: table.sourceEntity[i], into: &subgraph)
                segmentCount += 1
                mentionCount += mentions.count / 3
                if !mentions.isEmpty { withMentions += 1 }
                nodeTotal += 1 + subgraph.nodes.count
                edgeTotal += subgraph.edges.count
                largest = max(largest, 1 + subgraph.nodes.count)
            }
        }
        let denominator = Double(max(segmentCount, 1))
        return PrepareSummary(
            outputFile: "", source: dataset.source, entities: dataset.knowledgeBase.entities.count,
            relations: dataset.knowledgeBase.relations.count, categories: dataset.knowledgeBase.categories.count,
            triples: [.train: dataset.triples.train.count, .valid: dataset.triples.valid.count, .test: dataset.triples.test.count],
            segments: Dictionary(uniqueKeysWithValues: DataSplit.allCases.map { ($0, dataset.segments[$0]?.count ?? 0) }),
            mentionsPerSegment: Double(mentionCount) / denominator, segmentsWithMentions: Double(withMentions) / denominator,
            maxNodes: maxNodes, meanSubgraphNodes: Double(nodeTotal) / denominator, largestSubgraphNodes: largest,
            meanSubgraphEdges: Double(edgeTotal) / denominator, seconds: 0)
    }
}
