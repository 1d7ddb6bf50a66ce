@testable import KELMData
import XCTest

/// Checks a prepared dataset against its corpus, independently of how `prepare` packed it
/// (DESIGN §6): every word piece of every text lands exactly once, in order, in exactly one
/// segment across train/valid/test; a segment is `[CLS] text [SEP] text [SEP] …` of at most T
/// tokens; a text longer than T − 2 pieces is cut into windows at word starts, each window its
/// own segment; mentions are the texts' own, shifted by what precedes them, minus those crossing
/// a window boundary; sources are the texts' distinct sources in order; under `--pack texts` the
/// next text never fits in the room a segment left.
struct PackingInvariants {
    let file: DatasetFile
    let corpus: [CorpusSegment]
    let tokenizer: WordPieceTokenizer
    let linker: EntityLinker

    /// Every invariant; returns the number of segments checked.
    @discardableResult
    func check(file path: StaticString = #filePath, line: UInt = #line) throws -> Int {
        let T = file.maxTokens, width = T - 2
        let cls = tokenizer.clsID, sep = tokenizer.sepID
        let texts = corpus.map { DatasetBuilder.encodeText($0, tokenizer: tokenizer, linker: linker) }
        var covered = [[Range<Int>]](repeating: [], count: corpus.count)
        // (first corpus index and piece, tokens, is a window of a long text, last text's index) of every segment
        var segments: [(first: Int, firstPiece: Int, length: Int, window: Bool, last: Int)] = []
        for split in DataSplit.allCases {
            let packed = try file.packedTexts(split)
            var previousFirst = (-1, -1)
            for s in 0..<file.segmentCount(split) {
                let record = try file.segment(s, split: split)
                let parts = packed[s]
                XCTAssertFalse(parts.isEmpty, "\(split) segment \(s) holds no text", file: path, line: line)
                guard let first = parts.first else { continue }
                XCTAssertTrue(previousFirst < (first.corpusIndex, first.pieces.lowerBound), "\(split) segments keep corpus order",
                              file: path, line: line)
                previousFirst = (first.corpusIndex, first.pieces.lowerBound)
                XCTAssertLessThanOrEqual(record.tokens.count, T, file: path, line: line)
                var tokens: [Int32] = [cls], starts: [Int32] = [1], mentions: [Int32] = [], sources: [Int32] = []
                var window = false
                for (k, part) in parts.enumerated() {
                    let text = texts[part.corpusIndex]
                    XCTAssertTrue(k == 0 || part.corpusIndex > parts[k - 1].corpusIndex, "texts in corpus order", file: path, line: line)
                    let whole = part.pieces == 0..<text.ids.count
                    if !whole {
                        window = true
                        XCTAssertEqual(parts.count, 1, "a window is its own segment", file: path, line: line)
                        XCTAssertGreaterThan(text.ids.count, width, "only texts longer than T − 2 are cut", file: path, line: line)
                        if part.pieces.upperBound < text.ids.count, text.wordStarts[part.pieces.upperBound] != 0 {
                            // cut at the last word start that leaves the window within T − 2 pieces
                            let limit = part.pieces.lowerBound + width
                            for later in (part.pieces.upperBound + 1)..<min(limit + 1, text.ids.count) {
                                XCTAssertEqual(text.wordStarts[later], 0, "the window could have reached the word start at \(later)",
                                               file: path, line: line)
                            }
                        }
                        if part.pieces.lowerBound > 0, part.pieces.lowerBound < text.ids.count,
                           text.wordStarts[part.pieces.lowerBound] == 0 {
                            // cut inside a word: only when that word alone is longer than a window
                            var wordStart = part.pieces.lowerBound
                            while wordStart > 0 && text.wordStarts[wordStart] == 0 { wordStart -= 1 }
                            var wordEnd = part.pieces.lowerBound
                            while wordEnd < text.ids.count && text.wordStarts[wordEnd] == 0 { wordEnd += 1 }
                            XCTAssertGreaterThan(wordEnd - wordStart, width, "a window starts inside a word that fits", file: path, line: line)
                        }
                    }
                    covered[part.corpusIndex].append(part.pieces)
                    let offset = Int32(tokens.count - part.pieces.lowerBound)
                    for m in text.mentions where Int(m.start) >= part.pieces.lowerBound && Int(m.end) <= part.pieces.upperBound {
                        mentions += [m.start + offset, m.end + offset, m.entity]
                    }
                    tokens += text.ids[part.pieces]
                    starts += text.wordStarts[part.pieces]
                    tokens.append(sep)
                    starts.append(1)
                    if text.source >= 0 && !sources.contains(text.source) { sources.append(text.source) }
                }
                XCTAssertEqual(record.tokens, tokens, "\(split) segment \(s)", file: path, line: line)
                XCTAssertEqual(record.wordStarts, starts, "\(split) segment \(s)", file: path, line: line)
                XCTAssertEqual(record.mentions, mentions, "\(split) segment \(s)", file: path, line: line)
                XCTAssertEqual(record.sourceEntities, sources, "\(split) segment \(s)", file: path, line: line)
                var m = 0
                while m + 2 < record.mentions.count {
                    for t in Int(record.mentions[m])..<Int(record.mentions[m + 1]) {
                        XCTAssertNotEqual(record.tokens[t], sep, "[SEP] is never inside a mention", file: path, line: line)
                    }
                    m += 3
                }
                segments.append((first.corpusIndex, first.pieces.lowerBound, record.tokens.count, window, parts.last!.corpusIndex))
            }
        }
        // every piece exactly once, in order
        for (index, text) in texts.enumerated() {
            let ranges = covered[index].sorted { $0.lowerBound < $1.lowerBound }
            if text.ids.isEmpty {
                XCTAssertTrue(ranges.isEmpty, "text \(index) has no piece", file: path, line: line)
                continue
            }
            XCTAssertEqual(ranges.first?.lowerBound, 0, "text \(index) starts in a segment", file: path, line: line)
            XCTAssertEqual(ranges.last?.upperBound, text.ids.count, "text \(index) ends in a segment", file: path, line: line)
            for (a, b) in zip(ranges, ranges.dropFirst()) {
                XCTAssertEqual(a.upperBound, b.lowerBound, "text \(index): windows tile it, nothing lost or repeated", file: path, line: line)
            }
            for r in ranges { XCTAssertLessThanOrEqual(r.count, width, file: path, line: line) }
        }
        // greedy: the next whole text did not fit in the room the segment before it left
        if file.packing == .texts {
            segments.sort { ($0.first, $0.firstPiece) < ($1.first, $1.firstPiece) }
            for (a, b) in zip(segments, segments.dropFirst()) where !a.window && !b.window {
                let next = texts[b.first].ids.count
                XCTAssertGreaterThan(a.length + next + 1, T, "text \(b.first) would have fitted after text \(a.last)", file: path, line: line)
            }
        } else {
            for s in segments where !s.window { XCTAssertEqual(s.first, s.last, "--pack none: one text per segment", file: path, line: line) }
        }
        return segments.count
    }
}
