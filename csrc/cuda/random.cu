// Random numbers on the GPU: random_uniform and random_normal fill a contiguous float32/float64
// CUDA array from Philox4x32-10, a counter-based generator (Salmon et al., "Parallel random
// numbers: as easy as 1, 2, 3", SC'11), and random_bits_needed says how far the caller advances
// its offset after a call. The CPU has its own stream (csrc/cpu/random.cpp).
//
// The stream: Python keeps (seed, offset) per device. Philox's key is the 64-bit seed
// (low word, high word); its 128-bit counter is (low word, high word, 0, 0) of a 64-bit counter
// value c, and one evaluation gives four 32-bit words w0..w3. Element i of a call uses counter
//   c = offset + i / 4, words by i % 4     for float32,
//   c = offset + i / 2, words by i % 2     for float64,
// so every value depends on (seed, offset, i) alone, never on the launch configuration. The
// words become values as follows:
//   uniform float32: w_k >> 8, times 2^-24                          (k = i % 4; [0, 1 - 2^-24])
//   uniform float64: (w_2k:w_2k+1) >> 11, times 2^-53               (k = i % 2; [0, 1 - 2^-53])
//   normal  float32: Box-Muller on the pair (w_2k, w_2k+1), k = (i % 4) / 2; i even takes
//                    the cosine, i odd the sine; u1 = ((w_2k >> 8) + 1) * 2^-24 in (0, 1]
//                    (never log 0), u2 = (w_2k+1 >> 8) * 2^-24
//   normal  float64: Box-Muller on u1 = (((w0:w1) >> 11) + 1) * 2^-53, u2 = ((w2:w3) >> 11) *
//                    2^-53; i even takes the cosine, i odd the sine
// A call of n elements uses counters offset .. offset + ceil(n / 2) - 1 at most (float32 uses
// only the first ceil(n / 4)); random_bits_needed(n) = ceil(n / 2), and a caller that advances
// offset by it never reuses a counter.
#include "cuda/common.cuh"

namespace tg::cuda {
namespace {

// ---- Philox4x32-10 and the word-to-value conversions (host and device; host-tested) ----------

struct Words {
  uint32_t w[4];
};

// Ten rounds; the key is bumped by the Weyl constants before every round but the first.
__host__ __device__ inline Words philox4x32_10(Words ctr, uint32_t k0, uint32_t k1) {
  for (int r = 0; r < 10; ++r) {
    if (r > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    const uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * ctr.w[0];
    const uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * ctr.w[2];
    ctr = Words{{static_cast<uint32_t>(p1 >> 32) ^ ctr.w[1] ^ k0, static_cast<uint32_t>(p1),
                 static_cast<uint32_t>(p0 >> 32) ^ ctr.w[3] ^ k1, static_cast<uint32_t>(p0)}};
  }
  return ctr;
}

__host__ __device__ inline Words philox_block(uint64_t seed, uint64_t counter) {
  const Words ctr{{static_cast<uint32_t>(counter), static_cast<uint32_t>(counter >> 32), 0u, 0u}};
  return philox4x32_10(ctr, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// 24 bits: every value is exact in float32, the largest is 1 - 2^-24 < 1.
__host__ __device__ inline float uniform24(uint32_t w) {
  return static_cast<float>(w >> 8) * 0x1p-24f;
}

// 53 bits: exact in float64, the largest is 1 - 2^-53 < 1.
__host__ __device__ inline double uniform53(uint32_t hi, uint32_t lo) {
  return static_cast<double>(((static_cast<uint64_t>(hi) << 32) | lo) >> 11) * 0x1p-53;
}

// The values of one counter: 4 float32 or 2 float64, uniform or normal.
__host__ __device__ inline void block_values(const Words& w, bool normal, float (&v)[4]) {
  if (!normal) {
    for (int k = 0; k < 4; ++k) v[k] = uniform24(w.w[k]);
    return;
  }
  for (int k = 0; k < 2; ++k) {
    const float u1 = static_cast<float>((w.w[2 * k] >> 8) + 1) * 0x1p-24f;  // (0, 1]
    const float u2 = uniform24(w.w[2 * k + 1]);
    const float r = sqrtf(-2.0f * logf(u1));
    float s, c;
    sincospif(2.0f * u2, &s, &c);  // sin/cos(2 pi u2) without rounding 2 pi
    v[2 * k] = r * c;
    v[2 * k + 1] = r * s;
  }
}

__host__ __device__ inline void block_values(const Words& w, bool normal, double (&v)[2]) {
  if (!normal) {
    v[0] = uniform53(w.w[0], w.w[1]);
    v[1] = uniform53(w.w[2], w.w[3]);
    return;
  }
  const double u1 =
      static_cast<double>((((static_cast<uint64_t>(w.w[0]) << 32) | w.w[1]) >> 11) + 1) * 0x1p-53;
  const double u2 = uniform53(w.w[2], w.w[3]);
  const double r = sqrt(-2.0 * log(u1));
  double s, c;
  sincospi(2.0 * u2, &s, &c);
  v[0] = r * c;
  v[1] = r * s;
}

// ---- end of the host-tested part -------------------------------------------------------------

template <class T> constexpr int kPerCounter = sizeof(T) == 4 ? 4 : 2;

// Thread j of the grid-stride loop evaluates counter offset + j and writes elements
// j * per .. j * per + per - 1 (one 16-byte store when whole and aligned).
template <class T>
__global__ void random_kernel(T* out, int64_t n, uint64_t seed, uint64_t offset, bool normal) {
  constexpr int per = kPerCounter<T>;
  using Vec = std::conditional_t<sizeof(T) == 4, float4, double2>;
  static_assert(sizeof(Vec) == per * sizeof(T), "one counter fills one 16-byte vector");
  const bool aligned = reinterpret_cast<uintptr_t>(out) % sizeof(Vec) == 0;
  const int64_t blocks = (n + per - 1) / per;
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < blocks;
       j += int64_t(gridDim.x) * blockDim.x) {
    T v[per];
    block_values(philox_block(seed, offset + static_cast<uint64_t>(j)), normal, v);
    const int64_t e = j * per;
    if (aligned && e + per <= n) {
      Vec vec;
      memcpy(&vec, v, sizeof(Vec));
      reinterpret_cast<Vec*>(out)[j] = vec;
    } else {
      for (int k = 0; k < per && e + k < n; ++k) out[e + k] = v[k];
    }
  }
}

// Any Python int (or object with __index__), taken modulo 2^64 as torch takes seeds.
uint64_t seed_bits(const py::object& seed) {
  const py::object v = py::reinterpret_steal<py::object>(PyNumber_Index(seed.ptr()));
  if (!v) throw py::error_already_set();
  const unsigned long long bits = PyLong_AsUnsignedLongLongMask(v.ptr());
  if (PyErr_Occurred()) throw py::error_already_set();
  return static_cast<uint64_t>(bits);
}

void fill_random(const char* op, const py::object& out, const py::object& seed, int64_t offset,
                 bool normal) {
  TG_CHECK(offset >= 0, op, ": offset must be >= 0, got ", offset);
  const uint64_t key = seed_bits(seed);
  Cuda::call(op, [&](const ArrayView& v) {
    dispatch_float(v.dtype, op, [&](auto tag) {
      using T = typename decltype(tag)::type;
      TG_CHECK(v.numel() == 0 || v.is_contiguous(), op, ": out must be C-contiguous");
      const int64_t n = v.numel();
      if (n == 0) return;
      const int64_t blocks = CEIL_DIV(n, static_cast<int64_t>(kPerCounter<T>));
      random_kernel<T><<<grid_for(blocks), kThreads, 0, stream()>>>(
          v.ptr<T>(), n, key, static_cast<uint64_t>(offset), normal);
      CUDA_CHECK_LAUNCH();
    });
  }, Out{out});
}

}  // namespace

void bind_random(py::module_& m) {
  m.def(
      "random_uniform",
      [](const py::object& out, const py::object& seed, int64_t offset) {
        fill_random("random_uniform", out, seed, offset, false);
      },
      py::arg("out"), py::arg("seed"), py::arg("offset"),
      "Fills a C-contiguous float32/float64 CUDA array with U[0, 1) from Philox4x32-10; element "
      "i depends only on (seed, offset, i). Advance offset by random_bits_needed(out.size).");
  m.def(
      "random_normal",
      [](const py::object& out, const py::object& seed, int64_t offset) {
        fill_random("random_normal", out, seed, offset, true);
      },
      py::arg("out"), py::arg("seed"), py::arg("offset"),
      "Fills a C-contiguous float32/float64 CUDA array with N(0, 1) (Box-Muller on the "
      "Philox4x32-10 stream); element i depends only on (seed, offset, i).");
  m.def(
      "random_bits_needed",
      [](int64_t numel) -> int64_t {
        TG_CHECK(numel >= 0, "random_bits_needed: numel must be >= 0, got ", numel);
        return numel / 2 + numel % 2;
      },
      py::arg("numel"),
      "Philox counters (128 random bits each) a random_uniform / random_normal call of numel "
      "elements may use, ceil(numel / 2): the amount to advance offset by after it.");
}

}  // namespace tg::cuda
