/// The special tokens every vocabulary must hold (BERT's names).
public enum SpecialToken: String, CaseIterable, Sendable {
    case pad = "[PAD]"
    case unknown = "[UNK]"
    case cls = "[CLS]"
    case sep = "[SEP]"
    case mask = "[MASK]"
}
