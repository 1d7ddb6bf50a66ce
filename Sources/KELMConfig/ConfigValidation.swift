import Foundation

extension KELMConfig {
    /// Checks every range and cross-key constraint; throws the first violation as a
    /// ``ConfigError`` of kind `invalidValue` naming the key (see ``validationErrors()`` for all).
    public func validate() throws {
        if let first = validationErrors().first {
            throw first
        }
    }

    /// Every range and cross-key violation, section by section; empty when valid.
    public func validationErrors() -> [ConfigError] {
        var v = RangeChecker()

        let m = model
        if let initFrom = m.initFrom {
            v.require(!initFrom.isEmpty, "model.init_from", "must not be empty (use null for none)")
        }
        v.atLeast("model.fusion_layers", m.fusionLayers, 0)
        v.atMost("model.fusion_layers", m.fusionLayers, m.numLayers, bound: "model.num_layers")
        v.atLeast("model.gnn_hidden", m.gnnHidden, 1)
        v.atLeast("model.gnn_heads", m.gnnHeads, 1)
        v.divisible("model.gnn_hidden", m.gnnHidden, by: m.gnnHeads, bound: "model.gnn_heads")
        if let mintHidden = m.mintHidden {
            v.atLeast("model.mint_hidden", mintHidden, 1)
        }
        v.atLeast("model.max_tokens", m.maxTokens, 3)
        v.atMost("model.max_tokens", m.maxTokens, m.maxPositions, bound: "model.max_positions")
        v.atLeast("model.max_nodes", m.maxNodes, 2)
        v.fraction("model.dropout", m.dropout, lowerOpen: false, upperOpen: true)
        v.fraction("model.gnn_dropout", m.gnnDropout, lowerOpen: false, upperOpen: true)
        v.atLeast("model.hidden_size", m.hiddenSize, 1)
        v.divisible("model.hidden_size", m.hiddenSize, by: m.numHeads, bound: "model.num_heads")
        v.atLeast("model.num_layers", m.numLayers, 1)
        v.atLeast("model.num_heads", m.numHeads, 1)
        v.atLeast("model.ffn_size", m.ffnSize, 1)
        v.atLeast("model.vocab_size", m.vocabSize, 1)
        v.atLeast("model.max_positions", m.maxPositions, 1)
        v.atLeast("model.type_vocab_size", m.typeVocabSize, 1)
        v.atLeast("model.pad_token_id", m.padTokenId, 0)
        if m.vocabSize >= 1 {
            v.require(m.padTokenId < m.vocabSize, "model.pad_token_id",
                      "must be < model.vocab_size (\(m.vocabSize)), found \(m.padTokenId)")
        }
        v.positive("model.layer_norm_eps", m.layerNormEps)

        if let path = data.path {
            v.require(!path.isEmpty, "data.path", "must not be empty (use null for unset)")
        }
        v.atLeast("data.seed", data.seed, 0)

        let t = train
        v.atLeast("train.steps", t.steps, 1)
        v.atLeast("train.micro_batch", t.microBatch, 1)
        v.atLeast("train.accumulation", t.accumulation, 1)
        v.nonNegative("train.lr_pretrained", t.lrPretrained)
        v.nonNegative("train.lr_new", t.lrNew)
        v.atLeast("train.warmup_steps", t.warmupSteps, 0)
        v.atLeast("train.adapt_steps", t.adaptSteps, 0)
        v.nonNegative("train.weight_decay", t.weightDecay)
        v.nonNegative("train.clip", t.clip)
        v.positive("train.bucket_mb", t.bucketMB)
        v.nonNegative("train.mlm_weight", t.mlmWeight)
        v.nonNegative("train.lp_weight", t.lpWeight)
        v.require(!(t.mlmWeight == 0 && t.lpWeight == 0), "train.mlm_weight",
                  "train.mlm_weight and train.lp_weight must not both be 0")
        v.atLeast("train.consistency_every", t.consistencyEvery, 0)
        v.positive("train.collective_timeout_s", t.collectiveTimeoutSeconds)

        let r = routing
        v.fraction("routing.fraction", r.fraction, lowerOpen: true, upperOpen: false)
        v.atLeast("routing.interval", r.interval, 1)
        v.atLeast("routing.samples", r.samples, 1)
        v.atLeast("routing.ig_steps", r.igSteps, 1)

        let mem = memory
        v.atLeast("memory.block_entities", mem.blockEntities, 1)
        v.atLeast("memory.init_interval", mem.initInterval, 1)
        v.atLeast("memory.growth", mem.growth, 1)
        v.atLeast("memory.repeats", mem.repeats, 1)
        v.atLeast("memory.max_interval", mem.maxInterval, mem.initInterval, bound: "memory.init_interval")
        v.fraction("memory.momentum", mem.momentum, lowerOpen: false, upperOpen: true)
        v.atLeast("memory.description_tokens", mem.descriptionTokens, 3)
        v.atMost("memory.description_tokens", mem.descriptionTokens, m.maxPositions, bound: "model.max_positions")

        v.atLeast("checkpoint.every", checkpoint.every, 0)
        v.atLeast("checkpoint.keep", checkpoint.keep, 1)
        v.atLeast("eval.every", eval.every, 0)
        if let n = eval.maxEntities { v.atLeast("eval.max_entities", n, 0) }
        if let n = eval.maxSegments { v.atLeast("eval.max_segments", n, 0) }
        if let n = eval.maxTriples { v.atLeast("eval.max_triples", n, 0) }
        v.atLeast("log.every", log.every, 1)

        // upper bounds of every size, before anything is sized by them (a product of sizes must
        // not overflow; the memory the model then needs is checked against the machine's by
        // `MemoryPlan` when the trainer is built)
        for (key, value, limit) in [
            ("model.hidden_size", m.hiddenSize, 65_536), ("model.num_layers", m.numLayers, 1_024),
            ("model.num_heads", m.numHeads, 1_024), ("model.ffn_size", m.ffnSize, 262_144),
            ("model.vocab_size", m.vocabSize, 16_777_216), ("model.max_positions", m.maxPositions, 65_536),
            ("model.type_vocab_size", m.typeVocabSize, 1_024), ("model.max_tokens", m.maxTokens, 65_536),
            ("model.max_nodes", m.maxNodes, 65_536), ("model.gnn_hidden", m.gnnHidden, 65_536),
            ("model.gnn_heads", m.gnnHeads, 1_024), ("model.mint_hidden", m.mintHidden ?? 1, 262_144),
            ("train.micro_batch", t.microBatch, 65_536), ("train.accumulation", t.accumulation, 65_536),
            ("train.steps", t.steps, 1 << 50), ("train.warmup_steps", t.warmupSteps, 1 << 50),
            ("train.adapt_steps", t.adaptSteps, 1 << 50), ("routing.samples", r.samples, 65_536),
            ("routing.ig_steps", r.igSteps, 100_000), ("memory.block_entities", mem.blockEntities, 1 << 31),
            ("memory.description_tokens", mem.descriptionTokens, 65_536),
        ] as [(String, Int, Int)] {
            v.require(value <= limit, key, "must be <= \(limit) (the largest size kelm-dist accepts), found \(value)")
        }
        v.require(t.bucketMB <= 65_536, "train.bucket_mb", "must be <= 65536 (the largest size kelm-dist accepts), found \(t.bucketMB)")
        return v.errors
    }
}

/// Collects range violations as ``ConfigError``s of kind `invalidValue`.
struct RangeChecker {
    /// The violations found so far.
    private(set) var errors: [ConfigError] = []

    /// Records `reason` against `key` unless `condition` holds.
    mutating func require(_ condition: Bool, _ key: String, _ reason: String) {
        if !condition {
            errors.append(ConfigError(.invalidValue(reason), key: key))
        }
    }

    /// `value ≥ minimum`; `bound` names the key the minimum comes from, if any.
    mutating func atLeast(_ key: String, _ value: Int, _ minimum: Int, bound: String? = nil) {
        let limit = bound.map { "\($0) (\(minimum))" } ?? String(minimum)
        require(value >= minimum, key, "must be >= \(limit), found \(value)")
    }

    /// `value ≤ maximum`, where `bound` names the key the maximum comes from.
    mutating func atMost(_ key: String, _ value: Int, _ maximum: Int, bound: String) {
        require(value <= maximum, key, "must be <= \(bound) (\(maximum)), found \(value)")
    }

    /// `value` is a multiple of `divisor` (skipped when the divisor is not positive, which is
    /// reported on its own key).
    mutating func divisible(_ key: String, _ value: Int, by divisor: Int, bound: String) {
        guard divisor >= 1 else {
            return
        }
        require(value % divisor == 0, key, "must be divisible by \(bound) (\(divisor)), found \(value)")
    }

    /// `value` is finite; returns whether it is.
    mutating func finite(_ key: String, _ value: Double) -> Bool {
        require(value.isFinite, key, "must be a finite number, found \(value)")
        return value.isFinite
    }

    /// Finite and `value ≥ 0`.
    mutating func nonNegative(_ key: String, _ value: Double) {
        if finite(key, value) {
            require(value >= 0, key, "must be >= 0, found \(value)")
        }
    }

    /// Finite and `value > 0`.
    mutating func positive(_ key: String, _ value: Double) {
        if finite(key, value) {
            require(value > 0, key, "must be > 0, found \(value)")
        }
    }

    /// Finite and in the interval from 0 to 1, each end open or closed as given.
    mutating func fraction(_ key: String, _ value: Double, lowerOpen: Bool, upperOpen: Bool) {
        guard finite(key, value) else {
            return
        }
        let aboveLower = lowerOpen ? value > 0 : value >= 0
        let belowUpper = upperOpen ? value < 1 : value <= 1
        let interval = (lowerOpen ? "(" : "[") + "0, 1" + (upperOpen ? ")" : "]")
        require(aboveLower && belowUpper, key, "must be in \(interval), found \(value)")
    }
}
