/// A KG triple with dense ids: entity ids 0..<|E|, relation ids 0..<R (forward direction).
public struct Triple: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var head: Int32
    public var relation: Int32
    public var tail: Int32

    public init(head: Int32, relation: Int32, tail: Int32) {
        self.head = head
        self.relation = relation
        self.tail = tail
    }

    /// Ordered by head, then relation, then tail.
    public static func < (a: Triple, b: Triple) -> Bool {
        (a.head, a.relation, a.tail) < (b.head, b.relation, b.tail)
    }

    /// `(head, relation, tail)`.
    public var description: String { "(\(head), \(relation), \(tail))" }
}

/// An entity of the knowledge base.
public struct Entity: Equatable, Sendable {
    /// The identifier in the raw input (`entities.tsv` id; the synset offset and pos for WordNet).
    public var key: String
    /// Display name (`dog.n.01` for WordNet).
    public var name: String
    /// Description text (tokenised into `[CLS] description [SEP]` for the entity-context memory).
    public var description: String
    /// The strings that name the entity in text: linking matches them, and the description span
    /// (s, o) is the first occurrence of one of them (TSV: name and aliases; WordNet: lemmas).
    public var surfaceForms: [String]
    /// Category id (index into `KnowledgeBase.categories`), or −1.
    public var category: Int32

    public init(key: String, name: String, description: String, surfaceForms: [String], category: Int32) {
        self.key = key
        self.name = name
        self.description = description
        self.surfaceForms = surfaceForms
        self.category = category
    }
}

/// Entities, folded relations and forward triples, as `prepare` reads them from any source.
public struct KnowledgeBase: Sendable {
    /// Entities; an entity's id is its index.
    public var entities: [Entity]
    /// Category names; an entity's `category` indexes this.
    public var categories: [String]
    /// Names of the R relations left after folding; a relation's id is its index.
    public var relations: [String]
    /// Forward triples (relation ids 0..<R), sorted, unique, without self-loops.
    public var triples: [Triple]
    /// The entity an ambiguous surface form links to, keyed by `EntityLinker.normalize(form)`.
    /// A form missing here links to the lowest entity id that carries it.
    public var linkPreference: [String: Int32]

    public init(entities: [Entity], categories: [String], relations: [String], triples: [Triple],
                linkPreference: [String: Int32] = [:]) {
        self.entities = entities
        self.categories = categories
        self.relations = relations
        self.triples = triples
        self.linkPreference = linkPreference
    }
}

/// A text segment of the corpus before tokenisation.
public struct CorpusSegment: Equatable, Sendable {
    /// The text.
    public var text: String
    /// Entity mentions in Unicode code points (end exclusive); `nil` when the input gave none,
    /// in which case `prepare` links the text itself.
    public var mentions: [Mention]?
    /// The entity this text describes (a WordNet gloss's synset), or −1.
    public var sourceEntity: Int32

    public init(text: String, mentions: [Mention]? = nil, sourceEntity: Int32 = -1) {
        self.text = text
        self.mentions = mentions
        self.sourceEntity = sourceEntity
    }
}

/// An entity mention in a text: code points `start..<end`.
public struct Mention: Equatable, Sendable, CustomStringConvertible {
    public var start: Int
    public var end: Int
    public var entity: Int32

    public init(start: Int, end: Int, entity: Int32) {
        self.start = start
        self.end = end
        self.entity = entity
    }

    /// `start..<end → entity`.
    public var description: String { "\(start)..<\(end)→\(entity)" }
}
