/// Links entities in text where the input gave no mentions (DESIGN §6): the longest match of
/// a surface form (name or alias) on word boundaries, case-insensitive, scanning left to right
/// without overlaps. A surface form made of stop words only is never linked. A form that several
/// entities carry links to the entity the knowledge base prefers for it, else to the lowest id.
///
/// Words are compared lower-cased; punctuation between words does not matter (`after-shave`
/// matches `after shave`), and a form matches only whole words (`cat` does not match inside `catalog`).
public struct EntityLinker: Sendable {
    /// Word → word id, for every word of every surface form.
    private var wordIDs: [String: Int32] = [:]
    /// Trie over word ids: (node << 32 | word) → child node. Node 0 is the root.
    private var children: [UInt64: Int32] = [:]
    /// The entity a node's word sequence links to, or −1.
    private var linkedEntity: [Int32] = [-1]
    /// Each entity's surface forms as word-id sequences (for description spans).
    private var entityForms: [[[Int32]]] = []

    /// Builds the linker of `entities`' surface forms; `preference` (keyed by `normalize(form)`)
    /// picks the entity of an ambiguous form, when it names one that carries the form.
    public init(entities: [Entity], preference: [String: Int32] = [:], stopWords: Set<String> = StopWords.english) {
        var carriers = Set<UInt64>()
        entityForms.reserveCapacity(entities.count)
        for (index, entity) in entities.enumerated() {
            let id = Int32(index)
            var forms: [[Int32]] = []
            for form in entity.surfaceForms {
                let words = Words.lowercasedWords(form)
                guard !words.isEmpty else { continue }
                let ids = words.map { word -> Int32 in
                    if let known = wordIDs[word] { return known }
                    let next = Int32(wordIDs.count)
                    wordIDs[word] = next
                    return next
                }
                if !forms.contains(ids) { forms.append(ids) }
                if words.allSatisfy({ stopWords.contains($0) }) { continue }
                var node: Int32 = 0
                for word in ids {
                    let key = UInt64(UInt32(bitPattern: node)) << 32 | UInt64(UInt32(bitPattern: word))
                    if let child = children[key] {
                        node = child
                    } else {
                        let child = Int32(linkedEntity.count)
                        linkedEntity.append(-1)
                        children[key] = child
                        node = child
                    }
                }
                let current = linkedEntity[Int(node)]
                if current < 0 || id < current { linkedEntity[Int(node)] = id }
                carriers.insert(UInt64(UInt32(bitPattern: node)) << 32 | UInt64(UInt32(bitPattern: id)))
            }
            entityForms.append(forms)
        }
        for (form, entity) in preference {
            guard let node = node(of: Words.lowercasedWords(form)),
                  carriers.contains(UInt64(UInt32(bitPattern: node)) << 32 | UInt64(UInt32(bitPattern: entity)))
            else { continue }
            linkedEntity[Int(node)] = entity
        }
    }

    /// The normal form of a surface form: its lower-case words joined by single spaces
    /// (`"Canis_familiaris"` → `"canis familiaris"`, `"After-Shave"` → `"after shave"`).
    public static func normalize(_ form: String) -> String {
        Words.lowercasedWords(form).joined(separator: " ")
    }

    /// The entity that the surface form `form` links to, or nil if no entity carries it
    /// (or it is made of stop words only).
    public func entity(for form: String) -> Int32? {
        guard let node = node(of: Words.lowercasedWords(form)) else { return nil }
        let entity = linkedEntity[Int(node)]
        return entity >= 0 ? entity : nil
    }

    private func node(of words: [String]) -> Int32? {
        var node: Int32 = 0
        for word in words {
            guard let id = wordIDs[word],
                  let child = children[UInt64(UInt32(bitPattern: node)) << 32 | UInt64(UInt32(bitPattern: id))]
            else { return nil }
            node = child
        }
        return words.isEmpty ? nil : node
    }

    /// The mentions found in `text`, in text order (code points, end exclusive).
    public func link(_ text: String) -> [Mention] {
        let scalars = Array(text.unicodeScalars)
        let spans = Words.spans(scalars)
        return link(words: wordIDs(scalars, spans), spans: spans)
    }

    /// The word ids of the words `spans` of `scalars` (−1 for a word no surface form has).
    func wordIDs(_ scalars: [Unicode.Scalar], _ spans: [Range<Int>]) -> [Int32] {
        spans.map { wordIDs[Words.lowercased(scalars, $0)] ?? -1 }
    }

    /// Longest-match linking over word ids.
    func link(words: [Int32], spans: [Range<Int>]) -> [Mention] {
        var mentions: [Mention] = []
        var start = 0
        while start < words.count {
            var node: Int32 = 0
            var matchEnd = -1
            var matchEntity: Int32 = -1
            var index = start
            while index < words.count, words[index] >= 0,
                  let child = children[UInt64(UInt32(bitPattern: node)) << 32 | UInt64(UInt32(bitPattern: words[index]))] {
                node = child
                if linkedEntity[Int(node)] >= 0 {
                    matchEnd = index
                    matchEntity = linkedEntity[Int(node)]
                }
                index += 1
            }
            if matchEnd >= 0 {
                mentions.append(Mention(start: spans[start].lowerBound, end: spans[matchEnd].upperBound, entity: matchEntity))
                start = matchEnd + 1
            } else {
                start += 1
            }
        }
        return mentions
    }

    /// The code-point span of the first occurrence of one of `entity`'s surface forms in
    /// `text` (the earliest start; at equal starts the longest form), or nil. Stop words do
    /// not matter here.
    public func firstOccurrence(of entity: Int32, in text: String) -> Range<Int>? {
        let scalars = Array(text.unicodeScalars)
        let spans = Words.spans(scalars)
        return firstOccurrence(of: entity, words: wordIDs(scalars, spans), spans: spans)
    }

    func firstOccurrence(of entity: Int32, words: [Int32], spans: [Range<Int>]) -> Range<Int>? {
        let forms = entityForms[Int(entity)]
        guard !forms.isEmpty else { return nil }
        for start in words.indices where words[start] >= 0 {
            var longest = 0
            for form in forms where form.count > longest && start + form.count <= words.count {
                var matches = true
                for (k, word) in form.enumerated() where words[start + k] != word {
                    matches = false
                    break
                }
                if matches { longest = form.count }
            }
            if longest > 0 { return spans[start].lowerBound..<spans[start + longest - 1].upperBound }
        }
        return nil
    }
}
