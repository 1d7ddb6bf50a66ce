/// The instruction-set extensions this build of the numeric targets was compiled for, checked
/// against the CPU before any of their code runs (an unsupported instruction would otherwise
/// end the program with SIGILL and no explanation).
public enum CPURequirements {
    /// x86-64-v3 (Haswell and later), as Package.swift's `KELM_TARGET_CPU` default builds.
    public static let x86_64_v3 = ["avx", "avx2", "fma", "f16c", "bmi1", "bmi2", "movbe"]

    /// The extensions the numeric targets of this build need.
    public static var required: [String] {
        #if KELM_REQUIRES_X86_64_V3
        return x86_64_v3
        #else
        return []
        #endif
    }

    /// Those of `required` missing from the flags of `cpuinfo` text (Linux's /proc/cpuinfo);
    /// every one when it lists no flags.
    public static func missing(_ required: [String], cpuinfo: String) -> [String] {
        missing(required, flags: CPUFlags.parse(cpuinfo: cpuinfo))
    }

    static func missing(_ required: [String], flags: Set<String>) -> [String] {
        required.filter { !flags.contains($0) }
    }

    /// nil when the CPU has what this build needs (or the build needs nothing, or /proc/cpuinfo
    /// is unreadable: then nothing can be said); otherwise the message to stop with.
    public static func problem(cpuinfoPath: String = "/proc/cpuinfo") -> String? {
        let needed = required
        guard !needed.isEmpty, let flags = CPUFlags.current(cpuinfoPath: cpuinfoPath) else { return nil }
        let absent = missing(needed, flags: flags)
        guard !absent.isEmpty else { return nil }
        return "error: this build of kelm-dist needs an x86-64-v3 CPU (Haswell or later); this one lacks "
            + absent.joined(separator: ", ") + " (\(cpuinfoPath)). Rebuild for any x86-64 with "
            + "`KELM_TARGET_CPU=x86-64 swift build -c release`."
    }
}
