#pragma once
// Precompiled header of zeroplan_executor (and the executor tests, which REUSE_FROM it).
// Narrow LibTorch headers rather than <torch/torch.h>: ATen ops, nn::Module, custom autograd.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>
