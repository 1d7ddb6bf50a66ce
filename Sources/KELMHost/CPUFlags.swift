#if canImport(Glibc)
import Glibc
#endif

/// The CPU's feature flags as Linux lists them in /proc/cpuinfo (`flags` on x86, `Features` on
/// Arm): what the start-up check (`CPURequirements`) and the OpenBLAS core-type choice read.
public enum CPUFlags {
    /// The flags of the first `flags` or `Features` line of `cpuinfo` text; empty when there is none.
    public static func parse(cpuinfo: String) -> Set<String> {
        for line in cpuinfo.split(separator: "\n") {
            if let flags = parse(line: line) { return flags }
        }
        return []
    }

    /// This machine's flags; nil when the file cannot be read.
    public static func current(cpuinfoPath: String = "/proc/cpuinfo") -> Set<String>? {
        guard let f = fopen(cpuinfoPath, "r") else { return nil }
        defer { fclose(f) }
        var line: UnsafeMutablePointer<CChar>? = nil
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, f) > 0 {
            guard let line else { break }
            if let flags = parse(line: Substring(String(cString: line))) { return flags }
        }
        return []
    }

    /// The flags of one line, or nil when it is not a `flags`/`Features` line.
    static func parse(line: Substring) -> Set<String>? {
        guard line.hasPrefix("flags") || line.hasPrefix("Features"), let colon = line.firstIndex(of: ":") else { return nil }
        return Set(line[line.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).map(String.init))
    }
}
