// A small fork–join thread pool for the kernels outside BLAS (im2col/col2im, GEMM per sample,
// elementwise, GDN). Workers spin briefly on an atomic word before sleeping on a condition
// variable, so back-to-back calls inside a training step cost a few microseconds instead of a
// thread wake-up (~50–130 µs here). OpenBLAS is set to one thread: the pool owns the cores.
//
// Determinism: `parallelFor(count:)` runs item `i` exactly once, and callers choose item
// partitions from tensor shapes only, never from the thread count, so results do not depend on
// how many threads ran them. Nested or concurrent calls (a kernel called from inside an item, or
// from two test threads) run inline on the calling thread, with the same item partition.

import COpenBLAS
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A fixed set of worker threads that execute the items of one `parallelFor` at a time.
public final class ThreadPool: @unchecked Sendable {
    /// The process-wide pool. Size: `VQZ_THREADS` if set, else the number of online CPUs.
    public static let shared = ThreadPool(threadCount: defaultThreadCount())

    /// The pool the kernels use: `shared`, unless a task overrides it
    /// (`ThreadPool.$current.withValue(pool) { … }`, e.g. to test thread-count independence).
    @TaskLocal public static var current: ThreadPool = .shared

    /// Threads that execute items, the calling thread included.
    public let threadCount: Int

    // word = generation << 32 | next item index; the generation names the current job.
    private let word = Atomic<UInt64>(0)
    private let completed = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    // limit = generation << 32 | item count of that generation's job. Stored before the word moves
    // to the new generation, so a worker that reads a word of generation g also reads g's count;
    // a straggler still looking at the previous generation sees a different generation here and
    // leaves without claiming (before this, it could read the new count with an old word and claim
    // an item of the new job under the old generation: found by ThreadSanitizer).
    private let limit = Atomic<UInt64>(0)
    private var job: ((Int) -> Void)?
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    /// Spin iterations before a worker sleeps (roughly 100–300 µs, yielding every 256).
    private let spinLimit = 20_000

    /// Starts `threadCount − 1` workers (the caller is the last thread). Also sets OpenBLAS to
    /// one thread, since items call `cblas_sgemm` concurrently.
    public init(threadCount: Int) {
        precondition(threadCount >= 1, "ThreadPool: threadCount must be ≥ 1")
        self.threadCount = threadCount
        ThreadPool.singleThreadedOpenBLAS()
        // Every worker starts at generation 0, the word's value before any job: a worker that read
        // the word when it first ran could read the first job's generation, take that job for one
        // it had already seen and leave all its items to the caller (seen: the first prior-coded
        // decode of a process sometimes ran on one thread).
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
        for _ in 0..<(threadCount - 1) {
            let box = Unmanaged.passRetained(self).toOpaque()
            var thread = pthread_t()
            let rc = pthread_create(
                &thread, nil,
                { raw in
                    let pool = Unmanaged<ThreadPool>.fromOpaque(raw!).takeRetainedValue()
                    pool.workerLoop()
                    return nil
                }, box)
            precondition(rc == 0, "ThreadPool: pthread_create failed (\(rc))")
            pthread_detach(thread)
        }
    }

    /// Sets OpenBLAS to one thread (the pool's items call `cblas_sgemm` concurrently) and shuts its
    /// own worker threads down. OpenBLAS starts them when it loads, and again when
    /// `openblas_set_num_threads` finds them gone; each spins (yielding) for about 2^28 cycles
    /// before it sleeps: measured, a whole core for the first ~100 ms of every `vqz` process and
    /// again after each pool was made, taken from the model load, the prior's decoding and the
    /// first layers. `blas_thread_shutdown_` is OpenBLAS's own (looked up at run time: a build
    /// without it is left as it is); it joins the threads, and OpenBLAS would start them again by
    /// itself if ever asked for more than one.
    public static func singleThreadedOpenBLAS() {
        openblas_set_num_threads(1)
        if !keepOpenBLASThreads, let symbol = shutdownSymbol { _ = unsafeBitCast(symbol, to: (@convention(c) () -> Int32).self)() }
    }

    /// `VQZ_OPENBLAS_THREADS=keep` leaves OpenBLAS's threads alone (for measuring the difference on
    /// another CPU: on a Zen 5 an earlier build measured the shutdown ~9 ms slower per process).
    private static let keepOpenBLASThreads = getenv("VQZ_OPENBLAS_THREADS").map { String(cString: $0) == "keep" } ?? false

    nonisolated(unsafe) private static let shutdownSymbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "blas_thread_shutdown_")

    private static func defaultThreadCount() -> Int {
        if let s = getenv("VQZ_THREADS"), let n = Int(String(cString: s)), n >= 1 { return n }
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    /// Runs `body(i)` for every `i` in `0..<count`, spread over the pool, and returns when all
    /// are done. Items must write disjoint memory.
    public func parallelFor(count: Int, _ body: (Int) -> Void) {
        if count <= 0 { return }
        if count == 1 || threadCount == 1
            || !busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
        {
            for i in 0..<count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            precondition(count < 1 << 32, "ThreadPool: too many items")
            job = escapable
            completed.store(0, ordering: .relaxed)
            let generation = (word.load(ordering: .relaxed) >> 32) &+ 1
            limit.store(generation << 32 | UInt64(count), ordering: .releasing)
            word.store(generation << 32, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(&mutex)
                pthread_cond_broadcast(&condition)
                pthread_mutex_unlock(&mutex)
            }
            runItems(generation: generation)
            // Wait for items still running on workers; yield now and then so that a worker
            // descheduled by another process on a busy machine gets the core back.
            var spins = 0
            while completed.load(ordering: .acquiring) < count {
                spins &+= 1
                if spins & 255 == 0 { sched_yield() }
            }
            job = nil
        }
        busy.store(false, ordering: .releasing)
    }

    /// Claims and runs items of `generation` until none is left.
    private func runItems(generation: UInt64) {
        while true {
            var w = word.load(ordering: .acquiring)
            let l = limit.load(ordering: .acquiring)
            guard l >> 32 == generation else { return }
            let n = l & 0xFFFF_FFFF
            var claimed = false
            while w >> 32 == generation && (w & 0xFFFF_FFFF) < n {
                let r = word.compareExchange(
                    expected: w, desired: w + 1, ordering: .acquiringAndReleasing)
                if r.exchanged {
                    claimed = true
                    break
                }
                w = r.original
            }
            if !claimed { return }
            job!(Int(w & 0xFFFF_FFFF))
            completed.add(1, ordering: .releasing)
        }
    }

    private func workerLoop() {
        var seen: UInt64 = 0
        while true {
            var spins = 0
            while word.load(ordering: .acquiring) >> 32 == seen {
                spins += 1
                if spins & 255 == 0 { sched_yield() }
                if spins > spinLimit {
                    pthread_mutex_lock(&mutex)
                    sleepers.add(1, ordering: .sequentiallyConsistent)
                    while word.load(ordering: .sequentiallyConsistent) >> 32 == seen {
                        pthread_cond_wait(&condition, &mutex)
                    }
                    sleepers.subtract(1, ordering: .sequentiallyConsistent)
                    pthread_mutex_unlock(&mutex)
                    break
                }
            }
            seen = word.load(ordering: .acquiring) >> 32
            runItems(generation: seen)
        }
    }
}

/// Per-thread scratch buffers for kernels (im2col columns, GEMM partials), grown on demand and
/// reused, so a training step does not page-fault fresh allocations. A buffer from `slot` is valid
/// until the same thread asks for the same slot again.
public enum Scratch {
    private final class Buffers {
        var slots: [(pointer: UnsafeMutablePointer<Float>, capacity: Int)] = []
    }

    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k) { raw in
            guard let raw else { return }
            let buffers = Unmanaged<Buffers>.fromOpaque(raw).takeRetainedValue()
            for s in buffers.slots { s.pointer.deallocate() }
        }
        return k
    }()

    /// A buffer of at least `count` floats for this thread (contents undefined).
    public static func buffer(slot: Int, count: Int) -> UnsafeMutablePointer<Float> {
        let buffers: Buffers
        if let raw = pthread_getspecific(key) {
            buffers = Unmanaged<Buffers>.fromOpaque(raw).takeUnretainedValue()
        } else {
            buffers = Buffers()
            pthread_setspecific(key, Unmanaged.passRetained(buffers).toOpaque())
        }
        while buffers.slots.count <= slot {
            buffers.slots.append((UnsafeMutablePointer<Float>.allocate(capacity: 1), 1))
        }
        if buffers.slots[slot].capacity < count {
            buffers.slots[slot].pointer.deallocate()
            let capacity = max(count, buffers.slots[slot].capacity * 3 / 2)
            buffers.slots[slot] = (UnsafeMutablePointer<Float>.allocate(capacity: capacity), capacity)
        }
        return buffers.slots[slot].pointer
    }
}

/// Process-wide memory settings for training loops and the codec (every `vqz` command).
public enum MemoryTuning {
    /// Keeps large freed blocks in the malloc heap instead of returning them to the kernel, so
    /// the activations of one training step reuse the pages of the previous one (no page faults,
    /// no zeroing by the kernel). Call once at the start of a training or benchmark process.
    public static func keepLargeAllocations() {
        #if os(Linux)
            _ = glibcMallopt(-3, 1 << 30)  // M_MMAP_THRESHOLD (malloc.h)
            _ = glibcMallopt(-1, Int32.max)  // M_TRIM_THRESHOLD
        #endif
    }

    /// One malloc arena for every thread: memory one thread frees (a PNG's bytes, a prior file's)
    /// is reused by the others instead of staying in a per-thread arena. `vqz encode` loads the model
    /// on a thread while the PNG decodes; with per-thread arenas a 6000 × 4000 encode with the default
    /// model peaked at 557 MiB, with one 485 MiB (Kodak encode and decode times unchanged within the
    /// noise). Call before the process starts its threads.
    public static func oneArena() {
        #if os(Linux)
            _ = glibcMallopt(-8, 1)  // M_ARENA_MAX
        #endif
    }
}

#if os(Linux)
    // glibc's mallopt(3); <malloc.h> is not part of the Glibc module map.
    @_silgen_name("mallopt")
    private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif
