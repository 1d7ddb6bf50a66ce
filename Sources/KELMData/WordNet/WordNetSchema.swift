/// The fixed parts of the WordNet 3.0 database: parts of speech, pointer symbols and the
/// lexicographer file names (wndb(5), wninput(5), lexnames(5)).
enum WordNetSchema {
    /// The four database parts of speech, in entity-order priority.
    enum FilePOS: Int, CaseIterable {
        case noun = 0, verb, adjective, adverb

        /// The file suffix: `data.noun`, `index.noun`, …
        var fileSuffix: String {
            switch self {
            case .noun: return "noun"
            case .verb: return "verb"
            case .adjective: return "adj"
            case .adverb: return "adv"
            }
        }

        /// The file holding synsets of the pointer/ss_type letter `letter` (`s` → adjectives).
        init?(letter: Substring) {
            switch letter {
            case "n": self = .noun
            case "v": self = .verb
            case "a", "s": self = .adjective
            case "r": self = .adverb
            default: return nil
            }
        }

        /// The ss_type digit of a sense key (1 n, 2 v, 3 a, 4 r, 5 s).
        init?(senseKeyType: Character) {
            switch senseKeyType {
            case "1": self = .noun
            case "2": self = .verb
            case "3", "5": self = .adjective
            case "4": self = .adverb
            default: return nil
            }
        }
    }

    /// One relation of the raw (unfolded) pointer schema.
    struct PointerRelation {
        let symbol: String
        let name: String
        let declaration: RelationDeclaration
    }

    /// Pointer symbols → raw relations. Reciprocal pairs are declared inverses (the second of
    /// each pair folds into the first); pointers that WordNet stores with the same symbol in both
    /// directions are symmetric. The order fixes the folded relation ids.
    static let pointerRelations: [PointerRelation] = [
        PointerRelation(symbol: "@", name: "hypernym", declaration: .directed),                 // 0
        PointerRelation(symbol: "~", name: "hyponym", declaration: .inverse(of: 0)),            // 1
        PointerRelation(symbol: "@i", name: "instance_hypernym", declaration: .directed),       // 2
        PointerRelation(symbol: "~i", name: "instance_hyponym", declaration: .inverse(of: 2)),  // 3
        PointerRelation(symbol: "#m", name: "member_holonym", declaration: .directed),          // 4
        PointerRelation(symbol: "%m", name: "member_meronym", declaration: .inverse(of: 4)),    // 5
        PointerRelation(symbol: "#s", name: "substance_holonym", declaration: .directed),       // 6
        PointerRelation(symbol: "%s", name: "substance_meronym", declaration: .inverse(of: 6)), // 7
        PointerRelation(symbol: "#p", name: "part_holonym", declaration: .directed),            // 8
        PointerRelation(symbol: "%p", name: "part_meronym", declaration: .inverse(of: 8)),      // 9
        PointerRelation(symbol: ";c", name: "domain_topic", declaration: .directed),            // 10
        PointerRelation(symbol: "-c", name: "member_of_domain_topic", declaration: .inverse(of: 10)),
        PointerRelation(symbol: ";r", name: "domain_region", declaration: .directed),           // 12
        PointerRelation(symbol: "-r", name: "member_of_domain_region", declaration: .inverse(of: 12)),
        PointerRelation(symbol: ";u", name: "domain_usage", declaration: .directed),            // 14
        PointerRelation(symbol: "-u", name: "member_of_domain_usage", declaration: .inverse(of: 14)),
        PointerRelation(symbol: "!", name: "antonym", declaration: .symmetric),
        PointerRelation(symbol: "+", name: "derivationally_related", declaration: .symmetric),
        PointerRelation(symbol: "=", name: "attribute", declaration: .symmetric),
        PointerRelation(symbol: "&", name: "similar_to", declaration: .symmetric),
        PointerRelation(symbol: "^", name: "also_see", declaration: .symmetric),
        PointerRelation(symbol: "$", name: "verb_group", declaration: .symmetric),
        PointerRelation(symbol: "*", name: "entailment", declaration: .directed),
        PointerRelation(symbol: ">", name: "cause", declaration: .directed),
        PointerRelation(symbol: "<", name: "participle_of", declaration: .directed),
        PointerRelation(symbol: "\\", name: "pertainym", declaration: .directed),
    ]

    /// The lexicographer file names by number (lexnames(5)), used when the source directory
    /// has no `lexnames` file (Debian's wordnet-base ships only the manual page).
    static let lexicographerFiles: [String] = [
        "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact",
        "noun.attribute", "noun.body", "noun.cognition", "noun.communication", "noun.event", "noun.feeling",
        "noun.food", "noun.group", "noun.location", "noun.motive", "noun.object", "noun.person",
        "noun.phenomenon", "noun.plant", "noun.possession", "noun.process", "noun.quantity", "noun.relation",
        "noun.shape", "noun.state", "noun.substance", "noun.time", "verb.body", "verb.change",
        "verb.cognition", "verb.communication", "verb.competition", "verb.consumption", "verb.contact",
        "verb.creation", "verb.emotion", "verb.motion", "verb.perception", "verb.possession", "verb.social",
        "verb.stative", "verb.weather", "adj.ppl",
    ]
}
