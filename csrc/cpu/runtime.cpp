// Process-wide runtime: the worker thread pool behind parallel_for, the interrupt check kernels
// call between blocks, run-time CPU feature detection, and the build facts shown by
// tapegrad.show_config().
#include <pthread.h>

#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <fstream>
#include <sstream>
#include <memory>
#include <mutex>
#include <thread>

#include "common.h"
#include "pyarray.h"

namespace tg {

std::string shape_str(const Dims& shape) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) os << ", ";
    os << shape[i];
  }
  if (shape.size() == 1) os << ",";
  os << ")";
  return os.str();
}

bool cpu_supports(CpuIsa isa) {
#if defined(__x86_64__) || defined(__i386__)
  static const bool avx2 = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  static const bool avx512 = [] {
    __builtin_cpu_init();  // libgcc's check covers the OS saving zmm state
    return __builtin_cpu_supports("avx512f") && avx2;
  }();
  if (isa == CpuIsa::avx512) return avx512;
  if (isa == CpuIsa::avx2) return avx2;
#endif
  return isa == CpuIsa::portable;
}

namespace {
// -1 until set_cpu_isa chooses a path: then the widest supported one.
std::atomic<int> g_forced_isa{-1};

CpuIsa widest_supported() {
  static const CpuIsa widest = cpu_supports(CpuIsa::avx512) ? CpuIsa::avx512
                               : cpu_supports(CpuIsa::avx2) ? CpuIsa::avx2
                                                            : CpuIsa::portable;
  return widest;
}

const char* const kIsaNames[] = {"portable", "avx2", "avx512"};
}  // namespace

CpuIsa cpu_isa() {
  const int forced = g_forced_isa.load(std::memory_order_relaxed);
  return forced >= 0 ? static_cast<CpuIsa>(forced) : widest_supported();
}

void set_cpu_isa(CpuIsa isa) {
  TG_CHECK(cpu_supports(isa), "set_isa: this CPU cannot run the '", kIsaNames[int(isa)],
           "' kernels (it supports: ", kIsaNames[int(widest_supported())], " and narrower)");
  g_forced_isa.store(static_cast<int>(isa), std::memory_order_relaxed);
}

namespace {

// The number in a /sys file such as ".../index2/size" ("1024K") or ".../level" ("2"); -1 when
// the file is missing or holds something else.
int64_t read_sys_size(const std::string& path) {
  std::ifstream f(path);
  int64_t v = -1;
  std::string unit;
  if (!(f >> v) || v < 0) return -1;
  f >> unit;
  if (unit == "K") v <<= 10;
  if (unit == "M") v <<= 20;
  return v;
}

// How many CPUs a "0-1,4,6-7" list names.
int64_t count_cpu_list(const std::string& path) {
  std::ifstream f(path);
  std::string list;
  if (!(f >> list)) return 1;
  int64_t n = 0;
  std::istringstream parts(list);
  for (std::string part; std::getline(parts, part, ',');) {
    const size_t dash = part.find('-');
    try {
      n += dash == std::string::npos ? 1 : std::stoll(part.substr(dash + 1)) - std::stoll(part) + 1;
    } catch (const std::exception&) {
      return 1;
    }
  }
  return n > 0 ? n : 1;
}

CpuCaches detect_cpu_caches() {
  CpuCaches c;
  bool l1 = false, l2 = false, l3 = false;
  for (int i = 0; i < 8; ++i) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    std::ifstream type_file(dir + "type");
    std::string type;
    if (!(type_file >> type)) break;
    if (type == "Instruction") continue;
    const int64_t level = read_sys_size(dir + "level"), size = read_sys_size(dir + "size");
    if (size <= 0) continue;
    if (level == 1) {
      c.l1d = size;
      l1 = true;
    } else if (level == 2) {
      c.l2 = size;
      l2 = true;
    } else if (level == 3) {
      c.l3 = size / count_cpu_list(dir + "shared_cpu_list");
      l3 = true;
    }
  }
#ifdef _SC_LEVEL1_DCACHE_SIZE
  // glibc reads these from CPUID; the L3 figure is the whole cache, shared by all cores
  const long ncpu = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
  if (const long v = sysconf(_SC_LEVEL1_DCACHE_SIZE); !l1 && v > 0) c.l1d = v;
  if (const long v = sysconf(_SC_LEVEL2_CACHE_SIZE); !l2 && v > 0) c.l2 = v;
  if (const long v = sysconf(_SC_LEVEL3_CACHE_SIZE); !l3 && v > 0) c.l3 = std::max(v / ncpu, c.l2);
#else
  (void)l1, (void)l2, (void)l3;
#endif
  return c;
}

// 0 until detected (at the first cpu_caches()) or set; atomics, as every GEMM reads them
std::atomic<int64_t> g_l1d{0}, g_l2{0}, g_l3{0};

}  // namespace

CpuCaches cpu_caches() {
  static const bool detected = [] {
    const CpuCaches c = detect_cpu_caches();
    int64_t unset = 0;
    g_l1d.compare_exchange_strong(unset, c.l1d);
    unset = 0;
    g_l2.compare_exchange_strong(unset, c.l2);
    unset = 0;
    g_l3.compare_exchange_strong(unset, c.l3);
    return true;
  }();
  (void)detected;
  return CpuCaches{g_l1d.load(std::memory_order_relaxed), g_l2.load(std::memory_order_relaxed),
                   g_l3.load(std::memory_order_relaxed)};
}

void set_cpu_caches(const CpuCaches& c) {
  TG_CHECK(c.l1d > 0 && c.l2 > 0 && c.l3 > 0, "set_cache_sizes: every size must be positive, got l1d=",
           c.l1d, ", l2=", c.l2, ", l3=", c.l3);
  cpu_caches();  // detection first, so that it cannot overwrite these later
  g_l1d.store(c.l1d);
  g_l2.store(c.l2);
  g_l3.store(c.l3);
}

namespace {

// ---------------------------------------------------------------------------------------------
// Interrupts (see check_interrupt in common.h).

std::atomic<InterruptHook> g_interrupt_hook{nullptr};

// Python runs signal handlers at most this often during a long kernel. Each check takes the
// GIL, which is free in the common case (the caller released it) and otherwise costs a wait of
// up to Python's switch interval (5 ms), so the period bounds that cost to a few percent.
constexpr int64_t kInterruptPeriodNs = 40'000'000;

thread_local bool t_pool_worker = false;
// The cancel flag of the pool job this thread is working on, if any.
thread_local const std::atomic<bool>* t_cancel = nullptr;
thread_local int64_t t_next_interrupt_check = 0;

// A clock read through the vDSO at a few nanoseconds; its millisecond resolution is plenty.
int64_t coarse_now_ns() {
  timespec ts;
#ifdef CLOCK_MONOTONIC_COARSE
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
#else
  clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Thrown on a worker whose job another chunk has already failed; never reaches the caller,
// which rethrows that first failure instead.
struct JobCancelled : std::exception {
  const char* what() const noexcept override { return "parallel job cancelled"; }
};

thread_local bool t_in_parallel_region = false;

// How long a worker keeps polling for the next job, and the caller for the workers' last chunks,
// before sleeping on a condition variable. Waking a sleeping thread takes tens of microseconds on
// a VM, as long as a mid-size product, while the gaps between the kernels of a training step
// (Python, the next batch) are mostly shorter than this. Polling pauses the core between reads;
// OpenMP runtimes and OpenBLAS poll for as long or longer.
constexpr int64_t kSpinNs = 500'000;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Polls done() until it holds or kSpinNs have passed; returns done().
template <class Done>
bool spin_until(Done&& done) {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + std::chrono::nanoseconds(kSpinNs);
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      cpu_relax();
    }
    if (clock::now() >= deadline) return done();
  }
}

// Workers poll for a job for a while after the last one (kSpinNs), then sleep on a condition
// variable. A job is split into `nchunks` equal ranges claimed through an atomic counter, so a
// slow thread never holds the others back: the caller takes the chunks no worker has claimed.
class ThreadPool {
 public:
  explicit ThreadPool(int nthreads) : nthreads_(std::max(1, nthreads)) {
    for (int i = 0; i < nthreads_ - 1; ++i) workers_.emplace_back([this] { worker_loop(); });
  }
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_.store(true);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int size() const { return nthreads_; }

  // Returns false (and does nothing) when another thread is already using the pool.
  bool try_run(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& f) {
    std::unique_lock<std::mutex> busy(busy_mu_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    int64_t nchunks = std::min<int64_t>(nthreads_, (n + grain - 1) / grain);
    bool wake;
    {
      std::lock_guard<std::mutex> lk(mu_);
      fn_ = &f;
      n_ = n;
      slice_ = slice_of(grain);
      nchunks_ = nchunks;
      cancel_.store(false);
      next_chunk_.store(0);
      done_chunks_.store(0);
      error_ = nullptr;
      generation_.fetch_add(1);  // publishes the fields above to polling workers
      wake = sleepers_ > 0;
    }
    if (wake) cv_.notify_all();
    work();
    spin_until([&] { return done_chunks_.load() == nchunks_; });
    // The caller keeps answering Ctrl-C while the workers finish their chunks.
    std::unique_lock<std::mutex> lk(mu_);
    while (done_chunks_.load() != nchunks_) {
      done_cv_.wait_for(lk, std::chrono::nanoseconds(kInterruptPeriodNs));
      if (done_chunks_.load() == nchunks_ || cancel_.load()) continue;
      lk.unlock();
      std::exception_ptr err;
      try {
        check_interrupt();
      } catch (...) {
        err = std::current_exception();
      }
      lk.lock();
      if (err) fail(err);
    }
    fn_ = nullptr;
    // The pool keeps no reference to the exception: it may own Python objects.
    std::exception_ptr err = std::move(error_);
    error_ = nullptr;
    lk.unlock();
    if (err) std::rethrow_exception(err);
    return true;
  }

 private:
  // Records the job's first failure and stops its other chunks. Called with mu_ held.
  void fail(std::exception_ptr err) {
    if (!error_) error_ = std::move(err);
    cancel_.store(true);
  }

  void work() {
    const bool was = t_in_parallel_region;
    t_in_parallel_region = true;
    t_cancel = &cancel_;
    for (;;) {
      int64_t c = next_chunk_.fetch_add(1);
      if (c >= nchunks_) break;
      int64_t b = n_ * c / nchunks_, e = n_ * (c + 1) / nchunks_;
      std::exception_ptr err;
      if (!cancel_.load(std::memory_order_relaxed)) {
        try {
          for_slices(b, e, slice_, *fn_);
        } catch (...) {
          err = std::current_exception();
        }
      }
      std::lock_guard<std::mutex> lk(mu_);
      if (err) fail(err);
      if (done_chunks_.fetch_add(1) + 1 == nchunks_) done_cv_.notify_all();
    }
    t_cancel = nullptr;
    t_in_parallel_region = was;
  }

  void worker_loop() {
    t_pool_worker = true;
    uint64_t seen = 0;
    for (;;) {
      if (!spin_until([&] { return stop_.load() || generation_.load() != seen; })) {
        std::unique_lock<std::mutex> lk(mu_);
        ++sleepers_;
        cv_.wait(lk, [&] { return stop_.load() || generation_.load() != seen; });
        --sleepers_;
      }
      {
        // The job's fields are read under the lock: the caller may already have finished the
        // job (taking every chunk) and be setting up the next one.
        std::lock_guard<std::mutex> lk(mu_);
        if (stop_.load()) return;
        seen = generation_.load();
        if (fn_ == nullptr) continue;
      }
      work();
    }
  }

  const int nthreads_;
  std::vector<std::thread> workers_;
  std::mutex busy_mu_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> generation_{0};
  int sleepers_ = 0;  // workers waiting on cv_ (under mu_)
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0, slice_ = 1, nchunks_ = 0;
  std::atomic<int64_t> next_chunk_{0}, done_chunks_{0};
  std::atomic<bool> cancel_{false};
  std::exception_ptr error_;
};

int default_num_threads() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

// The pool is shared: a caller holds it for the length of its job, so set_num_threads on one
// thread never deletes a pool that a kernel on another thread is running on (the last holder
// destroys it).
std::mutex g_pool_mu;
std::shared_ptr<ThreadPool> g_pool;     // created on first use
std::atomic<int> g_num_threads{0};      // 0: not yet decided

// A forked child has the parent's pool object but none of its threads: start afresh.
void reset_after_fork() {
  new (&g_pool) std::shared_ptr<ThreadPool>();  // the parent's pool is deliberately leaked
  new (&g_pool_mu) std::mutex();
}

std::shared_ptr<ThreadPool> pool() {
  std::lock_guard<std::mutex> lk(g_pool_mu);
  if (g_pool == nullptr) {
    static bool atfork_registered = [] {
      pthread_atfork(nullptr, nullptr, reset_after_fork);
      return true;
    }();
    (void)atfork_registered;
    g_pool = std::make_shared<ThreadPool>(get_num_threads());
  }
  return g_pool;
}

}  // namespace

void set_interrupt_hook(InterruptHook hook) { g_interrupt_hook.store(hook); }

void check_interrupt() {
  if (t_cancel != nullptr && t_cancel->load(std::memory_order_relaxed)) throw JobCancelled();
  if (t_pool_worker) return;  // only the calling thread may enter Python
  const int64_t now = coarse_now_ns();
  if (now < t_next_interrupt_check) return;
  t_next_interrupt_check = now + kInterruptPeriodNs;
  if (const InterruptHook hook = g_interrupt_hook.load(std::memory_order_relaxed)) hook();
}

int get_num_threads() {
  int n = g_num_threads.load();
  if (n <= 0) {
    int expected = 0;
    g_num_threads.compare_exchange_strong(expected, default_num_threads());
    n = g_num_threads.load();
  }
  return n;
}

void set_num_threads(int n) {
  TG_CHECK(n >= 1, "set_num_threads: expected a positive number of threads, got ", n);
  std::shared_ptr<ThreadPool> old;  // destroyed (its workers joined) after the lock is dropped
  std::lock_guard<std::mutex> lk(g_pool_mu);
  if (n == g_num_threads.load() && g_pool) return;
  old = std::move(g_pool);
  g_num_threads.store(n);
}

void parallel_for_impl(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& f) {
  if (!t_in_parallel_region && get_num_threads() > 1 && pool()->try_run(n, grain, f)) return;
  for_slices(0, n, slice_of(grain), f);
}

void bind_runtime(py::module_& m) {
  m.def("get_num_threads", &get_num_threads, "Threads used by CPU kernels.");
  m.def("set_num_threads", &set_num_threads, py::arg("n"), "Set the threads used by CPU kernels.");
  m.def("build_info", [] {
    py::dict d;
    d["version"] = TAPEGRAD_VERSION;
    d["compiler"] = TAPEGRAD_COMPILER;
    d["build_type"] = TAPEGRAD_BUILD_TYPE;
    d["cxx_flags"] = TAPEGRAD_BUILD_FLAGS;
    d["cxx_standard"] = 17;
    d["simd"] = kIsaNames[int(widest_supported())];  // what this CPU runs
    d["cuda_build"] = TAPEGRAD_CUDA_DECISION;        // what TAPEGRAD_CUDA did at build time
    return d;
  });
  m.def(
      "set_isa",
      [](const std::string& name) {
        int chosen = -1;
        for (int i = 0; i < 3; ++i)
          if (name == kIsaNames[i]) chosen = i;
        if (name == "auto") chosen = static_cast<int>(widest_supported());
        TG_CHECK(chosen >= 0, "set_isa: unknown CPU code path '", name,
                 "' (expected portable, avx2, avx512 or auto)");
        set_cpu_isa(static_cast<CpuIsa>(chosen));
      },
      py::arg("name"),
      "Run the CPU kernels compiled for `name` (portable, avx2, avx512; auto: the widest this "
      "CPU supports) from now on.");
  m.def(
      "cache_sizes",
      [] {
        const CpuCaches c = cpu_caches();
        py::dict d;
        d["l1d"] = c.l1d;
        d["l2"] = c.l2;
        d["l3"] = c.l3;
        return d;
      },
      "The data cache sizes in bytes one core sees (l3: its share), from which the GEMM blocking "
      "derives.");
  m.def(
      "set_cache_sizes",
      [](int64_t l1d, int64_t l2, int64_t l3) { set_cpu_caches(CpuCaches{l1d, l2, l3}); },
      py::arg("l1d"), py::arg("l2"), py::arg("l3"),
      "Use these cache sizes (bytes) for the GEMM blocking from now on: for tests and tuning. "
      "The results do not depend on them.");
  m.def("get_isa", [] { return std::string(kIsaNames[int(cpu_isa())]); },
        "The CPU code path the kernels run: portable, avx2 or avx512.");
}

}  // namespace tg
