/// Dropout sites of the LM; each is a separate random stream.
enum DropoutSite {
    static let embeddings: UInt32 = 0
    static func attentionProbs(_ layer: Int) -> UInt32 { UInt32(1 + 3 * layer) }
    static func attentionOutput(_ layer: Int) -> UInt32 { UInt32(2 + 3 * layer) }
    static func ffnOutput(_ layer: Int) -> UInt32 { UInt32(3 + 3 * layer) }
    static func gnnOutput(_ layer: Int) -> UInt32 { UInt32(1000 + layer) }
}
