import Foundation
import KELMCheckpoint
import KELMConfig
import KELMNumerics

extension Trainer {
    /// Everything a checkpoint holds at this step boundary.
    public func checkpointContents() throws -> Checkpoint.Contents {
        var c = Checkpoint.Contents(
            step: step, epoch: step / max(1, order.stepsPerEpoch), samplesSeen: step * order.globalBatch,
            worldSize: collective.size, configJSON: try config.canonicalJSON(), table: model.store.table,
            params: model.store.values, expAvg: optimizer.expAvg, expAvgSq: optimizer.expAvgSq,
            optimizerStep: optimizer.step, lrPretrained: config.train.lrPretrained, lrNew: config.train.lrNew,
            memory: (memory.storage, memory.entityCount, memory.width))
        c.vocabularyDigest = data.vocabularyDigest
        c.memoryState = Checkpoint.MemoryState(refreshCount: memorySchedule.refreshCount,
                                               nextRefreshStep: memorySchedule.nextRefreshStep,
                                               nextBlock: memorySchedule.nextBlock, momentum: config.memory.momentum)
        if let paths, let routedOptimizer {
            let ff = paths.ffnSize
            c.routing = Checkpoint.RoutingState(
                paths: (0..<paths.layers).map { Array(paths.selection($0)) }, scores: paths.scores,
                neuronSteps: (0..<paths.layers).map { l in Array(UnsafeBufferPointer(start: routedOptimizer.neuronSteps.pointer + l * ff, count: ff)) },
                lastRefreshStep: paths.lastRefreshStep)
        }
        return c
    }

    /// Continues from a checkpoint (DESIGN §7): parameters, Adam moments and step, the entity
    /// memory and its schedule, and the step counter. The data order and every random draw
    /// follow from the step, so nothing else is needed for an exact continuation.
    public func restore(from path: String) throws {
        let (f, header) = try Checkpoint.open(path)
        if let stored = header.vocabularyDigest, let mine = data.vocabularyDigest, stored != mine {
            try? f.close()  // already failing
            throw CheckpointError(file: path, item: "vocabulary_digest",
                                  "is \(stored), but data.path's vocabulary has the digest \(mine) (another vocabulary, maybe of the same size): every token id would change meaning; resume on the dataset the run trained on")
        }
        let table = model.store.table
        try Checkpoint.read("params", from: f, into: model.store.values, table: table)
        try Checkpoint.read("optimizer/exp_avg", from: f, into: optimizer.expAvg, table: table)
        try Checkpoint.read("optimizer/exp_avg_sq", from: f, into: optimizer.expAvgSq, table: table)
        optimizer.setStep(header.optimizerStep)
        try memory.write { try Checkpoint.readMemory(from: f, into: $0, entities: memory.entityCount, width: memory.width) }
        if let paths, let routedOptimizer {
            guard let r = try Checkpoint.readRouting(from: f, layers: paths.layers) else {
                throw CheckpointError(file: path, item: "/routing", "missing, but this run routes lm.ffn")
            }
            guard r.paths.allSatisfy({ $0.count == paths.perLayer }), r.neuronSteps.allSatisfy({ $0.count == paths.ffnSize }) else {
                throw CheckpointError(file: path, item: "/routing/paths", "holds \(r.paths.first?.count ?? 0) neurons per layer, this run selects \(paths.perLayer) (routing.fraction)")
            }
            paths.setSelection(r.paths, scores: r.scores, step: r.lastRefreshStep)
            for l in 0..<paths.layers {
                (routedOptimizer.neuronSteps.pointer + l * paths.ffnSize).update(from: r.neuronSteps[l], count: paths.ffnSize)
            }
        }
        if let m = header.memoryState {
            memorySchedule.refreshCount = m.refreshCount
            memorySchedule.nextRefreshStep = m.nextRefreshStep
            memorySchedule.nextBlock = m.nextBlock
        }
        try f.close()
        let (samples, overflow) = header.step.multipliedReportingOverflow(by: order.globalBatch)
        guard !overflow, samples == header.samplesSeen else {
            throw CheckpointError(file: path, item: "attribute samples_seen",
                                  "is \(header.samplesSeen), but \(header.step) steps of this run's global batch \(order.globalBatch) make \(samples): keep the global batch when resuming")
        }
        restoreStep(header.step)
    }
}
