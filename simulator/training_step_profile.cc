#include "simulator/training_step_profile.h"

#include <fmt/format.h>

#include <cstdlib>
#include <tuple>

#include "planner/error.h"

namespace zeroplan::sim {

std::vector<TrainingStepMeasurement> parse_training_steps(JsonFields& f) {
  std::vector<TrainingStepMeasurement> out;
  if (!f.has("training_step")) return out;
  const nlohmann::json& list = f.raw("training_step");
  if (!list.is_array()) f.fail("training_step", "must be a list");
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string prefix = fmt::format("training_step[{}]", i);
    if (!list[i].is_object()) throw InputError(fmt::format("{}: field \"{}\" must be an object", f.source(), prefix));
    JsonFields c(list[i], f.source(), prefix);
    TrainingStepMeasurement m;
    m.precision = parse_precision(c.string("precision"), fmt::format("{}: field \"{}\"", f.source(), c.field_path("precision")));
    m.ranks = static_cast<int>(c.positive_integer("ranks"));
    m.model = c.string("model");
    if (m.model.empty()) c.fail("model", "must name the model");
    m.seq_len = c.positive_integer("seq_len");
    m.micro_batch = c.positive_integer("micro_batch");
    m.activation_checkpointing = c.optional_boolean("activation_checkpointing", false);
    m.threads = static_cast<int>(c.optional_integer("threads", 0));
    if (m.threads < 0) c.fail("threads", "must be >= 0 (0 = LibTorch's default)");
    m.forward_backward_s = c.number("forward_backward_s");
    if (!(m.forward_backward_s > 0)) c.fail("forward_backward_s", fmt::format("must be > 0 (got {})", m.forward_backward_s));
    m.tokens = c.positive_integer("tokens");
    if (m.tokens != m.seq_len * m.micro_batch) {
      c.fail("tokens", fmt::format("is {} but seq_len x micro_batch is {}", m.tokens, m.seq_len * m.micro_batch));
    }
    if (c.has("optimizer_step_s") != c.has("optimizer_params")) {
      c.fail(c.has("optimizer_step_s") ? "optimizer_params" : "optimizer_step_s",
             "is missing (optimizer_step_s and optimizer_params go together)");
    }
    if (c.has("optimizer_step_s")) {
      m.optimizer_step_s = c.number("optimizer_step_s");
      if (!(m.optimizer_step_s > 0)) c.fail("optimizer_step_s", fmt::format("must be > 0 (got {})", m.optimizer_step_s));
      m.optimizer_params = c.positive_integer("optimizer_params");
    }
    const char* passes[] = {"grad_copy_s", "grad_accumulate_s", "grad_in_step_s"};
    const int present = static_cast<int>(c.has(passes[0])) + c.has(passes[1]) + c.has(passes[2]);
    if (present > 0) {
      for (const char* k : passes) {
        if (!c.has(k)) c.fail(k, "is missing (grad_copy_s, grad_accumulate_s and grad_in_step_s go together)");
      }
      if (m.optimizer_params <= 0) c.fail("optimizer_params", "is missing (the grad_*_s were timed over that many elements)");
      double* fields[] = {&m.grad_copy_s, &m.grad_accumulate_s, &m.grad_in_step_s};
      for (int k = 0; k < 3; ++k) {
        *fields[k] = c.number(passes[k]);
        if (!(*fields[k] > 0)) c.fail(passes[k], fmt::format("must be > 0 (got {})", *fields[k]));
      }
    }
    c.reject_unknown();
    auto key = [](const TrainingStepMeasurement& e) {
      return std::make_tuple(e.precision, e.ranks, e.model, e.seq_len, e.micro_batch, e.activation_checkpointing,
                             e.threads);
    };
    for (const TrainingStepMeasurement& other : out) {
      if (key(other) == key(m)) f.fail("training_step", fmt::format("entries {} and an earlier one measure the same shape", i));
    }
    out.push_back(std::move(m));
  }
  return out;
}

nlohmann::ordered_json training_steps_to_json(const std::vector<TrainingStepMeasurement>& entries) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const TrainingStepMeasurement& e : entries) {
    list.push_back({{"precision", precision_name(e.precision)},
                    {"ranks", e.ranks},
                    {"model", e.model},
                    {"seq_len", e.seq_len},
                    {"micro_batch", e.micro_batch},
                    {"activation_checkpointing", e.activation_checkpointing},
                    {"threads", e.threads},
                    {"forward_backward_s", e.forward_backward_s},
                    {"tokens", e.tokens}});
    if (e.optimizer_params > 0) {
      list.back()["optimizer_step_s"] = e.optimizer_step_s;
      list.back()["optimizer_params"] = e.optimizer_params;
    }
    if (e.has_grad_passes()) {
      list.back()["grad_copy_s"] = e.grad_copy_s;
      list.back()["grad_accumulate_s"] = e.grad_accumulate_s;
      list.back()["grad_in_step_s"] = e.grad_in_step_s;
    }
  }
  return list;
}

const TrainingStepMeasurement* select_training_step(const std::vector<TrainingStepMeasurement>& entries,
                                                    Precision precision, const std::string& model,
                                                    int ranks_per_host, std::int64_t tokens, bool checkpointing) {
  const TrainingStepMeasurement* best = nullptr;
  auto rank_key = [&](const TrainingStepMeasurement& e) {
    return std::make_tuple(std::abs(e.ranks - ranks_per_host), e.ranks, std::llabs(e.tokens - tokens),
                           e.activation_checkpointing != checkpointing);
  };
  for (const TrainingStepMeasurement& e : entries) {
    if (e.precision != precision || e.model != model) continue;
    if (best == nullptr || rank_key(e) < rank_key(*best)) best = &e;
  }
  return best;
}

}  // namespace zeroplan::sim
