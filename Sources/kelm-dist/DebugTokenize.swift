import ArgumentParser
import Foundation
import KELMData

/// `kelm-dist debug tokenize --vocab F`: WordPiece-tokenises standard input line by line.
struct DebugTokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the WordPiece token ids of each line of standard input.",
        discussion: """
            Reads UTF-8 lines on standard input and prints one line per input line: the ids of its \
            word pieces (uncased BERT WordPiece, as Hugging Face's BertTokenizer; no [CLS]/[SEP]), \
            separated by spaces. An empty line gives an empty line.
            """)

    /// What to print for each piece.
    enum Format: String, ExpressibleByArgument, CaseIterable {
        /// The token id.
        case ids
        /// The token string.
        case tokens
        /// `id@start-end`: the id and the code-point span of the piece in its input line.
        case offsets
    }

    @Option(help: "The vocab.txt (one token per line, id = line index).")
    var vocab: String

    @Option(help: "Print ids, tokens, or id@start-end code-point offsets.")
    var format: Format = .ids

    func run() throws {
        let tokenizer = try WordPieceTokenizer(vocabularyFile: vocab)
        var output = ""
        output.reserveCapacity(1 << 17)
        while let line = readLine(strippingNewline: true) {
            switch format {
            case .ids:
                output += tokenizer.encode(line).map(String.init).joined(separator: " ")
            case .tokens:
                output += tokenizer.tokenize(line).joined(separator: " ")
            case .offsets:
                output += tokenizer.encodeWithOffsets(line).pieces
                    .map { "\($0.id)@\($0.codePoints.lowerBound)-\($0.codePoints.upperBound)" }
                    .joined(separator: " ")
            }
            output += "\n"
            if output.utf8.count >= 1 << 16 { Self.write(&output) }
        }
        Self.write(&output)
    }

    private static func write(_ text: inout String) {
        FileHandle.standardOutput.write(Data(text.utf8))
        text.removeAll(keepingCapacity: true)
    }
}
