#pragma once
// glibc malloc settings for the processes that train or calibrate on the host (`zeroplan run`,
// `zeroplan calibrate` and the ranks they launch).
//
// Why: LibTorch's CPU allocator is posix_memalign/free with no cache, so every activation of every
// micro-step is a malloc. glibc serves a block of at least M_MMAP_THRESHOLD bytes with a fresh mmap,
// which page-faults (the kernel zeroes each 4 KiB page) on first touch; the threshold starts at 128 KiB
// and moves up each time such a block is freed (to at most 32 MiB on 64-bit), and the top of the heap is
// handed back to the kernel past M_TRIM_THRESHOLD. Which blocks come fresh from the kernel therefore
// depends on the process's whole allocation history. Measured on this project's 2-core host
// (tiny-llama-25m, 128 tokens, fp32): `zeroplan run` (1 rank) took ~4,000 minor faults per step, and
// calibrate's training-step probe ~24,000 per repetition (micro-step + optimizer step on 1 rank, then on
// each of 2 ranks); in one validation the runs' 1-rank forward + backward took 137.4 ms against the probe's
// 127.0 ms. With both thresholds fixed (mmap 32 MiB, glibc's maximum; trim 1 GiB): ~670 faults per run
// step, and the next validation read 140.2 ms against 140.7 ms (README, simulator validation).
//
// A GLIBC_TUNABLES that already sets either threshold wins: nothing is changed then.

namespace zeroplan::executor {

// glibc's upper bound for M_MMAP_THRESHOLD on 64-bit (4 MiB x sizeof(long)).
inline constexpr int kHostMmapThresholdBytes = 32 << 20;
inline constexpr int kHostTrimThresholdBytes = 1 << 30;

// Whether to set the thresholds given the GLIBC_TUNABLES value (nullptr: unset).
bool should_configure_host_allocator(const char* glibc_tunables);

// Applies the settings (glibc only; a no-op elsewhere or when should_configure_host_allocator says no).
// Returns whether both thresholds were set.
bool configure_host_allocator();

}  // namespace zeroplan::executor
