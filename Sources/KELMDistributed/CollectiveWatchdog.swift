import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Aborts the job when a collective waits longer than `train.collective_timeout_s`
/// (a lost rank or link is otherwise never noticed: MPI waits forever). A background thread
/// checks once a second; on expiry it prints which operation at which step waited, and exits
/// the process with status 3, which makes mpirun stop every rank.
public final class CollectiveWatchdog {
    public let timeout: Double
    public let rank: Int
    private let lock = NSLock()
    private var operation: String? = nil
    private var step = 0
    private var since: UInt64 = 0
    private var thread: Thread? = nil

    public init(timeoutSeconds: Double, rank: Int) {
        timeout = timeoutSeconds
        self.rank = rank
    }

    /// Starts the checking thread.
    public func start() {
        guard thread == nil, timeout > 0 else { return }
        let t = Thread { [weak self] in
            while let self {
                Thread.sleep(forTimeInterval: 1)
                self.check()
            }
        }
        thread = t
        t.start()
    }

    /// Runs `body` (a collective) under the watchdog.
    public func guarding<T>(_ name: String, step: Int, _ body: () throws -> T) rethrows -> T {
        lock.lock()
        operation = name
        self.step = step
        since = DispatchTime.now().uptimeNanoseconds
        lock.unlock()
        defer {
            lock.lock()
            operation = nil
            lock.unlock()
        }
        return try body()
    }

    func check() {
        lock.lock()
        let op = operation, s = step, start = since
        lock.unlock()
        guard let op else { return }
        let waited = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        if waited > timeout {
            let message = "kelm-dist [rank \(rank)]: \(op) at step \(s) has waited \(Int(waited)) s, longer than train.collective_timeout_s (\(Int(timeout)) s): another rank is gone or stuck; stopping the job\n"
            fputs(message, stderr)
            fflush(stderr)
            _exit(3)
        }
    }
}
