#pragma once
// A small Llama by hand for the simulator tests (no config files needed): h 256, 4 layers, vocab 1000.
#include "planner/model_spec.h"

namespace zeroplan::sim::test_models {

inline ModelSpec tiny_model() {
  ModelSpec m;
  m.name = "tiny";
  m.hidden_size = 256;
  m.intermediate_size = 688;
  m.num_hidden_layers = 4;
  m.num_attention_heads = 4;
  m.num_key_value_heads = 4;
  m.head_dim = 64;
  m.vocab_size = 1000;
  m.max_position_embeddings = 512;
  return m;
}

}  // namespace zeroplan::sim::test_models
