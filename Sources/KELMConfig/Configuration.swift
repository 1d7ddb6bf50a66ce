import Foundation

/// The complete configuration of a kelm-dist run (DESIGN §10).
///
/// Every key has a default, so `KELMConfig()` is a valid configuration; a YAML file and
/// `--set section.key=value` overrides change some keys (see ``ConfigLoader``). In files keys are
/// snake_case (`micro_batch`), in Swift camelCase (`microBatch`). Decoding (YAML or JSON) is
/// strict: an unknown key, a value of the wrong type or an unknown enum spelling is a
/// ``ConfigError`` naming the dotted key; ranges are checked separately by ``validate()``.
/// Encoding writes every key (nil optionals as null), which is what ``canonicalJSON()`` stores in
/// run directories and checkpoints (DESIGN §7).
public struct KELMConfig: Codable, Equatable, Sendable {
    /// `model`: architecture and fusion (DESIGN §2).
    public var model = ModelSection()
    /// `data`: dataset file and seed (DESIGN §6).
    public var data = DataSection()
    /// `train`: optimisation, objectives and distribution (DESIGN §3, §5).
    public var train = TrainSection()
    /// `routing`: knowledge-path attribution and selection (DESIGN §5).
    public var routing = RoutingSection()
    /// `memory`: entity-context memory and its refresh schedule (DESIGN §4).
    public var memory = MemorySection()
    /// `checkpoint`: checkpoint schedule (DESIGN §7).
    public var checkpoint = CheckpointSection()
    /// `eval`: evaluation schedule.
    public var eval = EvalSection()
    /// `log`: logging schedule.
    public var log = LogSection()

    /// The configuration with every key at its default.
    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case model, data, train, routing, memory, checkpoint, eval, log
    }

    /// Decodes strictly: missing sections and keys take their defaults; unknown keys, ill-typed
    /// values and unknown enum spellings throw ``ConfigError``. Does not check ranges.
    public init(from decoder: Decoder) throws {
        let reader = try ConfigReader(decoder, keys: CodingKeys.self)
        model = try reader.section(.model, ModelSection())
        data = try reader.section(.data, DataSection())
        train = try reader.section(.train, TrainSection())
        routing = try reader.section(.routing, RoutingSection())
        memory = try reader.section(.memory, MemorySection())
        checkpoint = try reader.section(.checkpoint, CheckpointSection())
        eval = try reader.section(.eval, EvalSection())
        log = try reader.section(.log, LogSection())
    }

    /// Encodes every section and every key.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(model, forKey: .model)
        try c.encode(data, forKey: .data)
        try c.encode(train, forKey: .train)
        try c.encode(routing, forKey: .routing)
        try c.encode(memory, forKey: .memory)
        try c.encode(checkpoint, forKey: .checkpoint)
        try c.encode(eval, forKey: .eval)
        try c.encode(log, forKey: .log)
    }

    /// Every known key in dotted form (`train.micro_batch`), in file order.
    public static var allKeys: [String] {
        ConfigSchema.sections.flatMap { section in section.keys.map { section.name + "." + $0 } }
    }
}

// MARK: - model

extension KELMConfig {
    /// `model`: the LM architecture (BERT, DESIGN §2) and the GNN/MInt fusion.
    ///
    /// The architecture defaults are the shape of MiniLM-L6-H384 (DESIGN §8), so that
    /// `--set model.init_from=DIR` with those weights needs no other change. When `init_from`
    /// or a checkpoint provides the architecture, it takes precedence over these keys (DESIGN §10).
    public struct ModelSection: Codable, Equatable, Sendable, ConfigSection {
        static let sectionName = "model"
        static let fields: [ConfigField<Self>] = [
            .optional("init_from", \.initFrom),
            .value("fusion_layers", \.fusionLayers),
            .value("gnn_hidden", \.gnnHidden),
            .value("gnn_heads", \.gnnHeads),
            .optional("mint_hidden", \.mintHidden),
            .value("max_tokens", \.maxTokens),
            .value("max_nodes", \.maxNodes),
            .value("dropout", \.dropout),
            .value("gnn_dropout", \.gnnDropout),
            .value("hidden_size", \.hiddenSize),
            .value("num_layers", \.numLayers),
            .value("num_heads", \.numHeads),
            .value("ffn_size", \.ffnSize),
            .value("vocab_size", \.vocabSize),
            .value("max_positions", \.maxPositions),
            .value("type_vocab_size", \.typeVocabSize),
            .value("pad_token_id", \.padTokenId),
            .value("layer_norm_eps", \.layerNormEps),
        ]

        /// `init_from`: a Hugging Face BERT directory (`config.json` + `model.safetensors`) to
        /// initialise the LM from (DESIGN §7). Default nil (YAML null): random initialisation.
        public var initFrom: String? = nil
        /// `fusion_layers` K: the top K of the L LM layers are fusion layers; 0 is the LM alone (no GNN layer). Default 3.
        public var fusionLayers: Int = 3
        /// `gnn_hidden` d_g: GNN hidden size. Default 128.
        public var gnnHidden: Int = 128
        /// `gnn_heads` H_g: GNN attention heads. Default 4.
        public var gnnHeads: Int = 4
        /// `mint_hidden` d_mint: hidden size of the MInt MLP. Default nil, meaning `hidden_size`
        /// (see ``resolvedMintHidden``).
        public var mintHidden: Int? = nil
        /// `max_tokens` T: tokens per segment, `[CLS]` and `[SEP]` included. Default 128.
        public var maxTokens: Int = 128
        /// `max_nodes` J: nodes per subgraph, the interaction node included. Default 64.
        public var maxNodes: Int = 64
        /// `dropout`: BERT's dropout (embeddings, attention probabilities and output, FFN output). Default 0.1.
        public var dropout: Double = 0.1
        /// `gnn_dropout`: dropout on each GNN layer's output. Default 0.2.
        public var gnnDropout: Double = 0.2
        /// `hidden_size` d. Default 384 (MiniLM-L6-H384).
        public var hiddenSize: Int = 384
        /// `num_layers` L. Default 6 (MiniLM-L6-H384).
        public var numLayers: Int = 6
        /// `num_heads` H. Default 12 (MiniLM-L6-H384).
        public var numHeads: Int = 12
        /// `ffn_size` d_ff. Default 1536 (MiniLM-L6-H384).
        public var ffnSize: Int = 1536
        /// `vocab_size`. Default 30522 (BERT uncased WordPiece, MiniLM-L6-H384).
        public var vocabSize: Int = 30522
        /// `max_positions`: rows of the learned position embeddings (Hugging Face
        /// `max_position_embeddings`). Default 512, as BERT; must be ≥ `max_tokens`.
        public var maxPositions: Int = 512
        /// `type_vocab_size`: rows of the token-type embeddings. Default 2, as BERT (only type 0 is used).
        public var typeVocabSize: Int = 2
        /// `pad_token_id`: the `[PAD]` id, whose word-embedding row gets no input-side gradient. Default 0, as BERT.
        public var padTokenId: Int = 0
        /// `layer_norm_eps`: LayerNorm epsilon in BERT and `mlm.transform`. Default 1e-12, as BERT (DESIGN §2).
        public var layerNormEps: Double = 1e-12

        /// The default model section.
        public init() {}

        /// The MInt hidden size in effect: `mint_hidden`, or `hidden_size` when unset.
        public var resolvedMintHidden: Int { mintHidden ?? hiddenSize }

        /// The index of the first fusion layer, L − K (layers below it are JAKET's LM1).
        public var firstFusionLayer: Int { numLayers - fusionLayers }
    }
}

// MARK: - data

extension KELMConfig {
    /// `data`: the dataset file written by `prepare` and the seed of all randomness (DESIGN §6).
    public struct DataSection: Codable, Equatable, Sendable, ConfigSection {
        static let sectionName = "data"
        static let fields: [ConfigField<Self>] = [
            .optional("path", \.path),
            .value("seed", \.seed),
        ]

        /// `path`: the HDF5 dataset file. DESIGN gives no default; nil (unset) here, and the
        /// commands that need data report it missing.
        public var path: String? = nil
        /// `seed`: keys the permutation of each epoch and every per-sample random stream. Default 0.
        public var seed: Int = 0

        /// The default data section.
        public init() {}
    }
}

// MARK: - train

extension KELMConfig {
    /// `train`: optimisation, objective weights and distributed-training knobs.
    public struct TrainSection: Codable, Equatable, Sendable, ConfigSection {
        static let sectionName = "train"
        static let fields: [ConfigField<Self>] = [
            .value("steps", \.steps),
            .value("micro_batch", \.microBatch),
            .value("accumulation", \.accumulation),
            .value("lr_pretrained", \.lrPretrained),
            .value("lr_new", \.lrNew),
            .value("warmup_steps", \.warmupSteps),
            .value("weight_decay", \.weightDecay),
            .value("clip", \.clip),
            .enumeration("param_policy", \.paramPolicy),
            .value("adapt_steps", \.adaptSteps),
            .value("bucket_mb", \.bucketMB),
            .value("mlm_weight", \.mlmWeight),
            .value("lp_weight", \.lpWeight),
            .value("consistency_every", \.consistencyEvery),
            .enumeration("nonfinite", \.nonfinite),
            .value("collective_timeout_s", \.collectiveTimeoutSeconds),
            .enumeration("allreduce", \.allreduce),
        ]

        /// `train.param_policy`: the parameter-group policy preset (DESIGN §5).
        public enum ParamPolicy: String, ConfigEnum {
            /// `knowledge-paths`: embeddings and attention frozen, FFN routed, gnn/mint/heads dense (TRELM).
            case knowledgePaths = "knowledge-paths"
            /// `ffn-routed`: FFN routed, everything else dense.
            case ffnRouted = "ffn-routed"
            /// `full`: everything dense.
            case full
        }

        /// `train.nonfinite`: what to do when the loss or a gradient is not finite.
        public enum NonfinitePolicy: String, ConfigEnum {
            /// `stop`: stop training with an error.
            case stop
            /// `skip`: skip the step (no update) and continue.
            case skip
        }

        /// `train.allreduce`: how the dense gradient buckets are summed over the ranks.
        public enum AllReduceTransport: String, ConfigEnum {
            /// `auto`: through the node's shared memory when every rank runs on one node;
            /// hierarchically when the nodes hold the same number of ranks, at least two; through
            /// MPI (a ring over persistent point-to-point requests) otherwise.
            case auto
            /// `mpi`: always through MPI, the ring (nothing allocated per step).
            case mpi
            /// `hierarchical`: within each node through its shared memory, across nodes by a ring
            /// among the ranks of the same local index (every node the same number of ranks).
            case hierarchical
        }

        /// `steps`: number of optimizer steps. DESIGN gives no default; 1000 here.
        public var steps: Int = 1000
        /// `micro_batch` B: samples per rank per micro-step. Default 8.
        public var microBatch: Int = 8
        /// `accumulation` A: micro-steps per optimizer step. Default 1.
        public var accumulation: Int = 1
        /// `lr_pretrained`: peak learning rate of the pretrained (LM) parameters. Default 5e-5.
        public var lrPretrained: Double = 5e-5
        /// `lr_new`: peak learning rate of the new parameters (GNN, MInt, heads). Default 1e-3.
        public var lrNew: Double = 1e-3
        /// `warmup_steps`: linear warm-up steps. DESIGN gives no default; 0 (no warm-up) here.
        public var warmupSteps: Int = 0
        /// `weight_decay`: AdamW decoupled weight decay. Default 0.01.
        public var weightDecay: Double = 0.01
        /// `clip`: global gradient-norm clipping threshold, after the reduction. Default 1.0;
        /// 0 disables clipping (as Hugging Face's `max_grad_norm`).
        public var clip: Double = 1.0
        /// `param_policy`: parameter-group policy preset. Default `knowledge-paths`.
        public var paramPolicy: ParamPolicy = .knowledgePaths
        /// `adapt_steps` N: the first N optimizer steps train under `full` (the MLM-adaptation
        /// stage: an LM without an MLM head adapts its decoder before the preset freezes it), then
        /// `param_policy` takes over and attribution first runs at step N. Default 0.
        public var adaptSteps: Int = 0
        /// `bucket_mb`: byte cap of a dense gradient bucket, in MiB (fractions allowed). Default 4.
        public var bucketMB: Double = 4
        /// `mlm_weight` w_mlm: weight of the MLM loss. Default 1.
        public var mlmWeight: Double = 1
        /// `lp_weight` w_lp: weight of the link-prediction loss. Default 1.
        public var lpWeight: Double = 1
        /// `consistency_every`: steps between cross-rank parameter consistency checks. Default 100; 0 disables them.
        public var consistencyEvery: Int = 100
        /// `nonfinite`: reaction to a non-finite loss or gradient. Default `stop`.
        public var nonfinite: NonfinitePolicy = .stop
        /// `collective_timeout_s`: seconds a collective may take before the run is aborted. Default 300.
        public var collectiveTimeoutSeconds: Double = 300
        /// `allreduce`: how dense buckets are summed (not in DESIGN §10). Default `auto`.
        public var allreduce: AllReduceTransport = .auto

        /// The default train section.
        public init() {}
    }
}

// MARK: - routing

extension KELMConfig {
    /// `routing`: TRELM knowledge-path attribution and selection (DESIGN §5).
    public struct RoutingSection: Codable, Equatable, Sendable, ConfigSection {
        static let sectionName = "routing"
        static let fields: [ConfigField<Self>] = [
            .value("fraction", \.fraction),
            .value("interval", \.interval),
            .value("samples", \.samples),
            .value("ig_steps", \.igSteps),
            .enumeration("ig_mode", \.igMode),
        ]

        /// `routing.ig_mode`: how the integrated-gradient passes scale the routed layers.
        public enum IGMode: String, ConfigEnum {
            /// `joint`: all routed layers at once, m passes.
            case joint
            /// `per-layer`: one layer at a time, L·m passes (Dai et al.'s form).
            case perLayer = "per-layer"
        }

        /// `fraction` ρ: share of each layer's FFN neurons selected, in (0, 1]. Default 0.1.
        public var fraction: Double = 0.1
        /// `interval`: steps between attributions (one also runs at step 0). Default 200.
        public var interval: Int = 200
        /// `samples`: leading samples of the step's global batch used for attribution. Default 8.
        public var samples: Int = 8
        /// `ig_steps` m: integrated-gradient steps. Default 20.
        public var igSteps: Int = 20
        /// `ig_mode`: `joint` or `per-layer`. Default `joint`.
        public var igMode: IGMode = .joint

        /// The default routing section.
        public init() {}
    }
}

// MARK: - memory

extension KELMConfig {
    /// `memory`: the JAKET entity-context memory and its refresh schedule (DESIGN §4):
    /// refresh i+1 comes T(i) = min(init_interval · growth^⌊i/repeats⌋, max_interval) steps after refresh i.
    public struct MemorySection: Codable, Equatable, Sendable, ConfigSection {
        static let sectionName = "memory"
        static let fields: [ConfigField<Self>] = [
            .enumeration("features", \.features),
            .enumeration("anchor", \.anchor),
            .enumeration("refresh", \.refresh),
            .value("block_entities", \.blockEntities),
            .enumeration("scope", \.scope),
            .value("init_interval", \.initInterval),
            .value("growth", \.growth),
            .value("repeats", \.repeats),
            .value("max_interval", \.maxInterval),
            .value("momentum", \.momentum),
            .value("description_tokens", \.descriptionTokens),
            .enumeration("dtype", \.dtype),
        ]

        /// `memory.refresh`: which entities a refresh covers.
        public enum Refresh: String, ConfigEnum {
            /// `full`: every entity (JAKET).
            case full
            /// `rolling`: the next block of `block_entities` entity ids, cycling.
            case rolling
        }

        /// `memory.scope`: which entities the memory holds and refreshes.
        public enum Scope: String, ConfigEnum {
            /// `all`: every entity of the KG.
            case all
            /// `reachable`: entities that can appear in a training subgraph.
            case reachable
        }

        /// `memory.dtype`: storage type of the memory rows.
        public enum DType: String, ConfigEnum {
            /// `float32`.
            case float32
            /// `float16` (halves the memory; rows are widened to float32 when read).
            case float16
        }

        /// `memory.features`: where the GNN's input entity features come from.
        public enum Features: String, ConfigEnum {
            /// `memory`: the entity-context memory, filled at step 0 and refreshed (JAKET, DESIGN §4).
            case memory
            /// `random`: fixed random features, N(0, 1) per element, drawn from `data.seed` and the
            /// entity id (the same on any number of ranks), never refreshed; an ablation of the memory.
            case random
        }

        /// `memory.anchor`: how a description that holds none of its entity's names is encoded.
        public enum Anchor: String, ConfigEnum {
            /// `name`: `[CLS] name : description [SEP]`, so that (s, o) spans the name (DESIGN §4).
            case name
            /// `none`: the description unchanged, (s, o) = (1, 1) — the first description token
            /// (the rule before anchors; kept for the ablation).
            case none
        }

        /// `features`: `memory` or `random`. Default `memory`.
        public var features: Features = .memory
        /// `anchor`: `name` or `none`. Default `name`.
        public var anchor: Anchor = .name
        /// `refresh`: `full` or `rolling`. Default `rolling`.
        public var refresh: Refresh = .rolling
        /// `block_entities`: entities per `rolling` refresh. DESIGN gives no default; 4096 here.
        public var blockEntities: Int = 4096
        /// `scope`: `all` or `reachable`. Default `reachable`.
        public var scope: Scope = .reachable
        /// `init_interval` I_init: steps between the first refreshes. Default 10.
        public var initInterval: Int = 10
        /// `growth` a: factor by which the interval grows every `repeats` refreshes. Default 2.
        public var growth: Int = 2
        /// `repeats` r: refreshes at each interval before it grows. Default 3.
        public var repeats: Int = 3
        /// `max_interval` I_max: cap of the interval. Default 500.
        public var maxInterval: Int = 500
        /// `momentum` m: M ← m·M + (1−m)·M_new, in [0, 1). Default 0.8.
        public var momentum: Double = 0.8
        /// `description_tokens`: length cap of a tokenised description, `[CLS]`/`[SEP]` included. Default 64.
        public var descriptionTokens: Int = 64
        /// `dtype`: `float32` or `float16`. Default `float32`.
        public var dtype: DType = .float32

        /// The default memory section.
        public init() {}
    }
}

// MARK: - checkpoint

extension KELMConfig {
    /// `checkpoint`: when checkpoints are written and how many are kept (DESIGN §7).
    public struct CheckpointSection: Codable, Equatable, Sendable, ConfigSection {
        static let sectionName = "checkpoint"
        static let fields: [ConfigField<Self>] = [
            .value("every", \.every),
            .value("keep", \.keep),
        ]

        /// `every`: steps between checkpoints. DESIGN gives no default; 1000 here. 0 disables
        /// periodic checkpoints.
        public var every: Int = 1000
        /// `keep`: checkpoints kept; older ones are pruned (`best` is never pruned). Default 3.
        public var keep: Int = 3

        /// The default checkpoint section.
        public init() {}
    }
}

// MARK: - eval

extension KELMConfig {
    /// `eval`: periodic evaluation on a held-out split (DESIGN §6).
    public struct EvalSection: Codable, Equatable, Sendable, ConfigSection {
        static let sectionName = "eval"
        static let fields: [ConfigField<Self>] = [
            .value("every", \.every),
            .enumeration("split", \.split),
            .optional("max_entities", \.maxEntities),
            .optional("max_segments", \.maxSegments),
            .optional("max_triples", \.maxTriples),
        ]

        /// `eval.split`: the held-out split evaluated.
        public enum Split: String, ConfigEnum {
            /// `valid`: validation segments and triples.
            case valid
            /// `test`: test segments and triples.
            case test
        }

        /// `every`: steps between evaluations. DESIGN gives no default; 0 here, meaning off.
        public var every: Int = 0
        /// `split`: `valid` or `test`. Default `valid`.
        public var split: Split = .valid
        /// `max_entities`: rank the held-out triples among at most this many candidate entities
        /// (the triples' own, then a seeded sample), as `kelm-dist eval --max-entities`. Default
        /// null: every entity.
        public var maxEntities: Int? = nil
        /// `max_segments`: evaluate the masked LM on the first this many held-out segments only,
        /// as `kelm-dist eval --max-segments`. Default null: all.
        public var maxSegments: Int? = nil
        /// `max_triples`: rank only the first this many held-out triples, as
        /// `kelm-dist eval --max-triples`. Default null: all.
        public var maxTriples: Int? = nil

        /// The default eval section.
        public init() {}
    }
}

// MARK: - log

extension KELMConfig {
    /// `log`: logging schedule.
    public struct LogSection: Codable, Equatable, Sendable, ConfigSection {
        static let sectionName = "log"
        static let fields: [ConfigField<Self>] = [
            .value("every", \.every),
        ]

        /// `every`: steps between metric log lines. Default 1.
        public var every: Int = 1

        /// The default log section.
        public init() {}
    }
}
