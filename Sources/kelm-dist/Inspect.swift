import ArgumentParser
import Foundation
import KELMData
import KELMTraining

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Summarise a checkpoint or a prepared dataset, verifying every checksum.",
        discussion: "A checkpoint (or a run directory: its latest): format and version, step, epoch, samples seen, world size, the stored architecture and policies, parameter counts by group, the entity memory and its refresh state, the routed share per layer, NaN or infinity in any tensor, and the file size (docs/checkpoints.md). A dataset file (or the directory `prepare` wrote it into): its format, vocabulary and digest, counts per split, after reading every byte and checking every checksum and record (docs/data.md).")

    @Argument(help: "A checkpoint file or run directory, or a dataset file or its directory.")
    var checkpoint: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        if let dataset = Self.datasetPath(checkpoint) {
            let inspection = try DatasetInspection(path: dataset)
            print(json ? try inspection.json() : inspection.text)
            return
        }
        let summary = try CheckpointSummary(path: checkpoint)
        print(json ? try summary.json() : summary.text)
    }

    /// `given` as a dataset file: a directory holding `dataset.h5` (and no checkpoints), a file
    /// whose name is `dataset.h5`, or any HDF5 file marked as a dataset; nil otherwise (a checkpoint).
    static func datasetPath(_ given: String) -> String? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: given, isDirectory: &isDirectory) else { return nil }
        if isDirectory.boolValue {
            let file = (given as NSString).appendingPathComponent(DatasetLayout.fileName)
            let checkpoints = (given as NSString).appendingPathComponent("checkpoints")
            return FileManager.default.fileExists(atPath: file) && !FileManager.default.fileExists(atPath: checkpoints) ? file : nil
        }
        return (given as NSString).lastPathComponent == DatasetLayout.fileName || DatasetFile.isDatasetFile(given) ? given : nil
    }
}
