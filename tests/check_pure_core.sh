#!/usr/bin/env bash
# Fails when planner/ or simulator/ include LibTorch, ATen, c10, CUDA, NCCL or CUPTI headers,
# or when their CMake targets link torch.
set -u
root=${1:-$(dirname "$0")/..}
bad=$(grep -rnE '#\s*include\s*[<"](torch/|ATen/|c10/|cuda|cupti|nccl|cublas|cudnn)' \
        "$root/planner" "$root/simulator" 2>/dev/null)
links=$(grep -nE '(torch|TORCH_LIBRARIES|CUDA::|nccl|cupti)' "$root/planner/CMakeLists.txt" \
        "$root/simulator/CMakeLists.txt" 2>/dev/null | grep -v '^\S*:[0-9]*:\s*#')
if [ -n "$bad$links" ]; then
  echo "pure core violation (planner/ and simulator/ must not depend on LibTorch/CUDA):"
  echo "$bad"; echo "$links"
  exit 1
fi
echo "planner/ and simulator/ are free of LibTorch, CUDA, NCCL and CUPTI"
