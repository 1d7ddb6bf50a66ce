import KELMModel
import KELMNumerics

/// Random token batches for benchmarks and synthetic fusion batches: ids drawn above the
/// special tokens, `[CLS]` … `[SEP]`, whole positions masked.
public enum SyntheticTokenBatch {
    /// Fills a batch of random ids with whole positions masked at `maskFraction` per segment.
    public static func fill(_ batch: TokenBatch, config c: BertConfig, maskFraction: Double, seed: UInt64) {
        var rng = RandomStream(RandomKey(seed: seed, purpose: .benchmark))
        let T = batch.tokens
        let maskId: Int32 = c.vocabSize > 103 ? 103 : 1
        for b in 0..<batch.batch {
            batch.sampleIndices[b] = UInt64(b)
            for t in 0..<T {
                let i = b * T + t
                batch.attentionMask.pointer[i] = 1
                batch.labels.pointer[i] = -100
                batch.inputIds.pointer[i] = t == 0 ? 101 % Int32(c.vocabSize)
                    : t == T - 1 ? 102 % Int32(c.vocabSize)
                    : Int32(min(999, c.vocabSize / 2) + rng.nextInt(below: c.vocabSize - min(999, c.vocabSize / 2)))
            }
            let budget = max(1, Int((maskFraction * Double(T - 2) + 0.5).rounded(.down)))
            var masked = 0
            while masked < budget {
                let t = 1 + rng.nextInt(below: T - 2)
                let i = b * T + t
                if batch.labels.pointer[i] >= 0 { continue }
                batch.labels.pointer[i] = batch.inputIds.pointer[i]
                batch.inputIds.pointer[i] = maskId
                masked += 1
            }
        }
    }
}
