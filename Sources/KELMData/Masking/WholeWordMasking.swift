import KELMNumerics

/// Whole-word masking (DESIGN §3).
///
/// - A word is a token whose word-start flag is set plus the continuation (`##`) tokens that
///   follow it. Special tokens (`[PAD] [UNK] [CLS] [SEP] [MASK]`) are never masked nor counted.
/// - Budget: n_mask = max(1, ⌊0.15 × n + 0.5⌋), n = the number of non-special tokens.
/// - Words are visited in a random order (a Fisher–Yates permutation); a word that would take
///   the masked count over the budget is skipped, later (shorter) words may still fit.
/// - Each masked token (visited in position order) becomes `[MASK]` with probability 0.8, a
///   token drawn uniformly from the vocabulary without the special tokens with probability 0.1,
///   and stays unchanged with probability 0.1; its label is the original token.
///
/// The draws come from one `RandomStream` per segment, in this order: the permutation
/// (one `nextInt` per word but the first, from the last word down), then per masked token one
/// `nextFloat` and, for a random replacement, one `nextInt`.
public struct WholeWordMasking: Sendable {
    /// Label of a position that is not masked (PyTorch's ignore index).
    public static let ignoredLabel: Int32 = -100

    /// The `[MASK]` token id.
    public let maskToken: Int32
    /// Vocabulary size V.
    public let vocabularySize: Int
    /// The special token ids, ascending.
    public let specialTokens: [Int32]

    public init(maskToken: Int32, vocabularySize: Int, specialTokens: [Int32]) {
        self.maskToken = maskToken
        self.vocabularySize = vocabularySize
        self.specialTokens = Array(Set(specialTokens)).sorted()
    }

    /// The budget for `maskable` non-special tokens: max(1, ⌊0.15 × maskable + 0.5⌋).
    public static func budget(maskable: Int) -> Int {
        max(1, (15 * maskable + 50) / 100)
    }

    @inline(__always)
    func isSpecial(_ token: Int32) -> Bool {
        for special in specialTokens where special == token { return true }
        return false
    }

    /// The `k`-th non-special token id (0 ≤ k < V − number of special tokens).
    @inline(__always)
    func nonSpecialToken(_ k: Int) -> Int32 {
        var id = Int32(k)
        for special in specialTokens where special <= id { id += 1 }
        return id
    }

    /// Masks one segment in place. `tokens` and `wordStarts` cover its real tokens; `labels`
    /// (same length) receives the original id at masked positions and −100 elsewhere.
    /// `words` is scratch storage. Returns the number of masked tokens.
    public func mask(tokens: UnsafeMutableBufferPointer<Int32>, wordStarts: UnsafeBufferPointer<Int32>,
                     labels: UnsafeMutableBufferPointer<Int32>, random: inout RandomStream,
                     words: inout [(start: Int32, length: Int32)]) -> Int {
        words.removeAll(keepingCapacity: true)
        var maskable = 0
        var previousMaskable = false
        for position in 0..<tokens.count {
            labels[position] = Self.ignoredLabel
            guard !isSpecial(tokens[position]) else {
                previousMaskable = false
                continue
            }
            maskable += 1
            if wordStarts[position] != 0 || !previousMaskable || words.isEmpty {
                words.append((Int32(position), 1))
            } else {
                words[words.count - 1].length += 1
            }
            previousMaskable = true
        }
        guard !words.isEmpty else { return 0 }
        let budget = Self.budget(maskable: maskable)
        // Random order of the words.
        if words.count > 1 {
            for i in stride(from: words.count - 1, to: 0, by: -1) {
                words.swapAt(i, random.nextInt(below: i + 1))
            }
        }
        var masked = 0
        for word in words where masked + Int(word.length) <= budget {
            for position in Int(word.start)..<Int(word.start + word.length) { labels[position] = tokens[position] }
            masked += Int(word.length)
            if masked == budget { break }
        }
        // Replacement, in position order.
        let choices = vocabularySize - specialTokens.count
        for position in 0..<tokens.count where labels[position] != Self.ignoredLabel {
            let u = random.nextFloat()
            if u < 0.8 {
                tokens[position] = maskToken
            } else if u < 0.9 {
                tokens[position] = nonSpecialToken(random.nextInt(below: choices))
            }
        }
        return masked
    }
}
