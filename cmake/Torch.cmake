# Finds LibTorch from the project's .venv (PyPI torch, pinned by tools/setup.sh) through
# torch.utils.cmake_prefix_path, or from CMAKE_PREFIX_PATH (e.g. Debian's libtorch-dev fallback).
# Sets ZEROPLAN_HAVE_TORCH and ZEROPLAN_HAVE_CUDA.
set(ZEROPLAN_HAVE_TORCH OFF)
set(ZEROPLAN_HAVE_CUDA OFF)
if(NOT ZEROPLAN_WITH_TORCH STREQUAL "OFF")
  set(_venv_python "${CMAKE_SOURCE_DIR}/.venv/bin/python")
  if(EXISTS "${_venv_python}")
    execute_process(
      COMMAND "${_venv_python}" -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
      OUTPUT_VARIABLE _torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE
      RESULT_VARIABLE _torch_rc ERROR_QUIET)
    if(_torch_rc EQUAL 0)
      list(APPEND CMAKE_PREFIX_PATH "${_torch_prefix}")
    endif()
  endif()
  # The CUDA build of torch probes the installed GPUs at configure time unless told the
  # architectures; the build machines have the CUDA toolkit but no GPU. 9.0 = H100/H200.
  if(NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST} AND NOT TORCH_CUDA_ARCH_LIST)
    set(TORCH_CUDA_ARCH_LIST "9.0")
  endif()
  set(CMAKE_CUDA_STANDARD 17)
  if(ZEROPLAN_WITH_TORCH STREQUAL "ON")
    find_package(Torch REQUIRED)
  else()
    find_package(Torch QUIET)
  endif()
  if(Torch_FOUND)
    set(ZEROPLAN_HAVE_TORCH ON)
    if(TARGET torch_cuda OR TORCH_CUDA_LIBRARIES)
      set(ZEROPLAN_HAVE_CUDA ON)
    endif()
    message(STATUS "zeroplan: LibTorch ${Torch_VERSION} found (CUDA build: ${ZEROPLAN_HAVE_CUDA})")
  else()
    message(STATUS "zeroplan: LibTorch not found; executor/ and profiler/ are skipped (run tools/setup.sh)")
  endif()
endif()
