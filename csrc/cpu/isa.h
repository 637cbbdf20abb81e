// The ISA and inlining attributes of the CPU kernels, one set for every family. A loop is
// compiled once per ISA by marking a copy TG_TARGET_AVX2 or TG_TARGET_AVX512, the copy being
// picked at run time (use_avx2(), use_avx512(): see cpu_isa()); what it calls is
// TG_ALWAYS_INLINE, so that it is compiled with the ISA of its caller (a call into a baseline-ISA
// function would stop vectorisation there). TG_NOINLINE keeps a per-ISA entry point a function
// of its own, so that its ISA cannot leak into a baseline caller.
#pragma once

#define TG_ALWAYS_INLINE inline __attribute__((always_inline))
#define TG_NOINLINE __attribute__((noinline))
#define TG_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define TG_TARGET_AVX512 __attribute__((target("avx512f,avx2,fma")))
