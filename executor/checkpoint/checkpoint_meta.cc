#include "executor/checkpoint/checkpoint_meta.h"

namespace zeroplan::executor {

nlohmann::json trainer_meta_json(const TrainerState& state) {
  return {{"step", state.step},
          {"skipped_steps", state.skipped_steps},
          {"epoch", state.position.epoch},
          {"index", state.position.index},
          {"lr_last_batch_iteration", state.lr_last_batch_iteration}};
}

TrainerState trainer_meta_from_json(const nlohmann::json& t) {
  TrainerState s;
  s.step = t.at("step").get<std::int64_t>();
  s.skipped_steps = t.at("skipped_steps").get<std::int64_t>();
  s.position.epoch = t.at("epoch").get<std::int64_t>();
  s.position.index = t.at("index").get<std::int64_t>();
  s.lr_last_batch_iteration = t.at("lr_last_batch_iteration").get<std::int64_t>();
  return s;
}

nlohmann::json engine_scalar_json(const EngineScalarState& es) {
  return {{"adam_step", es.adam_step},
          {"loss_scale", es.scaler.cur_scale},
          {"scaler_cur_iter", es.scaler.cur_iter},
          {"scaler_last_overflow_iter", es.scaler.last_overflow_iter},
          {"scaler_cur_hysteresis", es.scaler.cur_hysteresis}};
}

EngineScalarState engine_scalar_from_json(const nlohmann::json& e) {
  EngineScalarState es;
  es.adam_step = e.at("adam_step").get<std::int64_t>();
  es.scaler.cur_scale = e.at("loss_scale").get<double>();
  es.scaler.cur_iter = e.at("scaler_cur_iter").get<std::int64_t>();
  es.scaler.last_overflow_iter = e.at("scaler_last_overflow_iter").get<std::int64_t>();
  es.scaler.cur_hysteresis = e.at("scaler_cur_hysteresis").get<std::int64_t>();
  return es;
}

}  // namespace zeroplan::executor
