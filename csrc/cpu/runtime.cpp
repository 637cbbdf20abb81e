// Process-wide runtime: the worker thread pool behind parallel_for, run-time CPU feature
// detection, and the build facts shown by tapegrad.show_config().
#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

#include "common.h"
#include "pyarray.h"

namespace tg {

std::string shape_str(const std::vector<int64_t>& shape) {
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

bool cpu_has_avx2_fma() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return has;
#else
  return false;
#endif
}

bool cpu_has_avx512f() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool has = [] {
    __builtin_cpu_init();  // libgcc's check covers the OS saving zmm state
    return __builtin_cpu_supports("avx512f") && cpu_has_avx2_fma();
  }();
  return has;
#else
  return false;
#endif
}

namespace {

thread_local bool t_in_parallel_region = false;

// Workers sleep on a condition variable between jobs. A job is split into `nchunks` equal
// ranges claimed through an atomic counter, so a slow thread never holds the others back.
class ThreadPool {
 public:
  explicit ThreadPool(int nthreads) : nthreads_(std::max(1, nthreads)) {
    for (int i = 0; i < nthreads_ - 1; ++i) workers_.emplace_back([this] { worker_loop(); });
  }
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
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
    {
      std::lock_guard<std::mutex> lk(mu_);
      fn_ = &f;
      n_ = n;
      nchunks_ = nchunks;
      next_chunk_.store(0);
      done_chunks_ = 0;
      error_ = nullptr;
      ++generation_;
    }
    cv_.notify_all();
    work();
    std::unique_lock<std::mutex> lk(mu_);
    done_cv_.wait(lk, [&] { return done_chunks_ == nchunks_; });
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
    return true;
  }

 private:
  void work() {
    const bool was = t_in_parallel_region;
    t_in_parallel_region = true;
    for (;;) {
      int64_t c = next_chunk_.fetch_add(1);
      if (c >= nchunks_) break;
      int64_t b = n_ * c / nchunks_, e = n_ * (c + 1) / nchunks_;
      std::exception_ptr err;
      try {
        (*fn_)(b, e);
      } catch (...) {
        err = std::current_exception();
      }
      std::lock_guard<std::mutex> lk(mu_);
      if (err && !error_) error_ = err;
      if (++done_chunks_ == nchunks_) done_cv_.notify_all();
    }
    t_in_parallel_region = was;
  }

  void worker_loop() {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
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
  bool stop_ = false;
  uint64_t generation_ = 0;
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0, nchunks_ = 0, done_chunks_ = 0;
  std::atomic<int64_t> next_chunk_{0};
  std::exception_ptr error_;
};

int default_num_threads() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

std::mutex g_pool_mu;
ThreadPool* g_pool = nullptr;  // created on first use
int g_num_threads = 0;         // 0: not yet decided

// A forked child has the parent's pool object but none of its threads: start afresh.
void reset_after_fork() {
  g_pool = nullptr;  // the parent's object is deliberately leaked in the child
  new (&g_pool_mu) std::mutex();
}

ThreadPool* pool() {
  std::lock_guard<std::mutex> lk(g_pool_mu);
  if (g_pool == nullptr) {
    static bool atfork_registered = [] {
      pthread_atfork(nullptr, nullptr, reset_after_fork);
      return true;
    }();
    (void)atfork_registered;
    g_pool = new ThreadPool(get_num_threads());
  }
  return g_pool;
}

}  // namespace

int get_num_threads() {
  if (g_num_threads <= 0) g_num_threads = default_num_threads();
  return g_num_threads;
}

void set_num_threads(int n) {
  TG_CHECK(n >= 1, "set_num_threads: expected a positive number of threads, got ", n);
  std::lock_guard<std::mutex> lk(g_pool_mu);
  if (n == g_num_threads && g_pool) return;
  delete g_pool;
  g_pool = nullptr;
  g_num_threads = n;
}

void parallel_for_impl(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& f) {
  if (t_in_parallel_region || !pool()->try_run(n, grain, f)) f(0, n);
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
    d["simd"] = cpu_has_avx512f() ? "avx512f+avx2+fma" : cpu_has_avx2_fma() ? "avx2+fma" : "generic";
    d["cuda"] = false;
    return d;
  });
}

}  // namespace tg
