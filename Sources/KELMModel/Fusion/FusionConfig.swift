/// The architecture of the fusion model (DESIGN §2): a BERT whose top K layers are fused with
/// a GNN over each segment's subgraph.
public struct FusionConfig: Equatable, Sendable {
    public var bert: BertConfig
    /// K: the top K of the L LM layers are fusion layers. K = 0 is the LM alone: every layer is
    /// text-only, the MLM head never sees the graph, and the link-prediction head scores the
    /// final node states n = GELU(V_h x⁰ + V_x x⁰) of the initial states (no GNN layer, MInt unused).
    public var fusionLayers: Int
    /// d_g
    public var gnnHidden: Int
    /// H_g
    public var gnnHeads: Int
    /// Hidden width of the MInt MLP (default d).
    public var mintHidden: Int
    /// R: KG relations (forward direction).
    public var numRelations: Int
    /// Dropout on each GNN layer's output.
    public var gnnDropout: Float

    public init(bert: BertConfig, fusionLayers: Int = 3, gnnHidden: Int = 128, gnnHeads: Int = 4,
                mintHidden: Int? = nil, numRelations: Int, gnnDropout: Float = 0.2) {
        self.bert = bert
        self.fusionLayers = fusionLayers
        self.gnnHidden = gnnHidden
        self.gnnHeads = gnnHeads
        self.mintHidden = mintHidden ?? bert.hiddenSize
        self.numRelations = numRelations
        self.gnnDropout = gnnDropout
    }

    /// Edge relation ids: 0..R−1 KG, R..2R−1 inverse, 2R interaction→linked, 2R+1 linked→interaction, 2R+2 self-loop.
    public var edgeRelations: Int { 2 * numRelations + 3 }
    /// Width of the edge encoder's one-hot input: relation ‖ source type ‖ target type.
    public var edgeFeatureWidth: Int { edgeRelations + 3 + 3 }
    /// Index of the first fusion layer (L − K).
    public var firstFusionLayer: Int { bert.numLayers - fusionLayers }

    public func validate(maxTokens: Int) throws {
        try bert.validate(maxTokens: maxTokens)
        func fail(_ m: String) throws { throw ModelError.invalidArchitecture(m) }
        if fusionLayers < 0 || fusionLayers > bert.numLayers { try fail("fusion layers \(fusionLayers) must be in 0...\(bert.numLayers)") }
        if gnnHidden < 1 || gnnHeads < 1 || gnnHidden % gnnHeads != 0 { try fail("GNN hidden \(gnnHidden) must be a positive multiple of the GNN heads \(gnnHeads)") }
        if mintHidden < 1 { try fail("MInt hidden size must be positive") }
        if numRelations < 1 { try fail("the KG needs at least one relation") }
        if !(0..<1).contains(gnnDropout) { try fail("GNN dropout must be in [0, 1)") }
    }
}
