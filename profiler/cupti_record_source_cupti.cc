// The real CuptiRecordSource: CUPTI's activity API (compiled only when the CUDA toolkit's CUPTI
// headers and library are found; see profiler/CMakeLists.txt). Flow (libtorch.md section 4):
// register buffer callbacks, enable the kinds, parse each completed buffer into plain records,
// flush on demand. CUPTI allows one activity client per process; if another profiler holds it,
// start() says so and the run continues without CUPTI.
#include <cupti.h>

#include <cstdlib>
#include <mutex>

#include <fmt/format.h>

#include "profiler/cupti_record_source.h"

namespace zeroplan::profiler {
namespace {

constexpr std::size_t kBufferBytes = 4 * 1024 * 1024;  // kineto's size
constexpr std::size_t kBufferAlign = 8;
// Our tag for collectives; kineto uses CUSTOM0/CUSTOM1 for ATen ops.
constexpr CUpti_ExternalCorrelationKind kExternalKind = CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM2;

std::mutex g_mutex;
CuptiRecords g_records;  // completed buffers, parsed, waiting for flush()
bool g_active = false;

const char* result_string(CUptiResult result) {
  const char* text = nullptr;
  if (cuptiGetResultString(result, &text) != CUPTI_SUCCESS || text == nullptr) return "unknown error";
  return text;
}

const char* copy_kind_name(std::uint8_t kind) {
  switch (kind) {
    case CUPTI_ACTIVITY_MEMCPY_KIND_HTOD: return "HtoD";
    case CUPTI_ACTIVITY_MEMCPY_KIND_DTOH: return "DtoH";
    case CUPTI_ACTIVITY_MEMCPY_KIND_DTOD: return "DtoD";
    case CUPTI_ACTIVITY_MEMCPY_KIND_HTOH: return "HtoH";
    case CUPTI_ACTIVITY_MEMCPY_KIND_PTOP: return "PtoP";
    default: return "other";
  }
}

void CUPTIAPI buffer_requested(std::uint8_t** buffer, std::size_t* size, std::size_t* max_records) {
  *buffer = static_cast<std::uint8_t*>(std::aligned_alloc(kBufferAlign, kBufferBytes));
  *size = *buffer != nullptr ? kBufferBytes : 0;
  *max_records = 0;  // as many as fit
}

void parse_record(const CUpti_Activity* record, CuptiRecords& out) {
  switch (record->kind) {
    case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL:
    case CUPTI_ACTIVITY_KIND_KERNEL: {
      const auto* k = reinterpret_cast<const CUpti_ActivityKernel10*>(record);
      out.kernels.push_back(CuptiKernel{k->name != nullptr ? k->name : "", k->start, k->end,
                                        k->deviceId, k->streamId, k->correlationId});
      break;
    }
    case CUPTI_ACTIVITY_KIND_MEMCPY: {
      const auto* m = reinterpret_cast<const CUpti_ActivityMemcpy6*>(record);
      out.memcpys.push_back(CuptiMemcpy{copy_kind_name(m->copyKind), m->bytes, m->start, m->end,
                                        m->deviceId, m->streamId, m->correlationId});
      break;
    }
    case CUPTI_ACTIVITY_KIND_MEMORY2: {
      const auto* m = reinterpret_cast<const CUpti_ActivityMemory4*>(record);
      bool allocation = m->memoryOperationType == CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_ALLOCATION;
      bool release = m->memoryOperationType == CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_RELEASE;
      if (!allocation && !release) break;
      out.memory.push_back(
          CuptiMemory{allocation, m->address, m->bytes, m->timestamp, m->deviceId, m->correlationId});
      break;
    }
    case CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION: {
      const auto* c = reinterpret_cast<const CUpti_ActivityExternalCorrelation*>(record);
      if (c->externalKind == kExternalKind) {
        out.correlations.push_back(CuptiExternalCorrelation{c->externalId, c->correlationId});
      }
      break;
    }
    default: break;  // RUNTIME/DRIVER records are enabled only so correlations are emitted
  }
}

void CUPTIAPI buffer_completed(CUcontext context, std::uint32_t stream_id, std::uint8_t* buffer,
                               std::size_t /*size*/, std::size_t valid_size) {
  CuptiRecords parsed;
  CUpti_Activity* record = nullptr;
  while (cuptiActivityGetNextRecord(buffer, valid_size, &record) == CUPTI_SUCCESS) {
    parse_record(record, parsed);
  }
  std::size_t dropped = 0;
  if (cuptiActivityGetNumDroppedRecords(context, stream_id, &dropped) == CUPTI_SUCCESS) {
    parsed.dropped = dropped;
  }
  std::free(buffer);
  std::lock_guard<std::mutex> lock(g_mutex);
  g_records.append(std::move(parsed));
}

constexpr CUpti_ActivityKind kKinds[] = {
    CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, CUPTI_ACTIVITY_KIND_MEMCPY,
    CUPTI_ACTIVITY_KIND_MEMORY2,           CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION,
    CUPTI_ACTIVITY_KIND_RUNTIME,           CUPTI_ACTIVITY_KIND_DRIVER,
};

class RealCuptiRecordSource final : public CuptiRecordSource {
 public:
  ~RealCuptiRecordSource() override { stop(); }

  std::string start() override {
    {
      std::lock_guard<std::mutex> lock(g_mutex);
      if (g_active) return "CUPTI is already in use by another zeroplan profiler in this process";
      g_active = true;
    }
    CUptiResult r = cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed);
    if (r != CUPTI_SUCCESS) return fail(fmt::format("cuptiActivityRegisterCallbacks: {}", result_string(r)), r);
    for (CUpti_ActivityKind kind : kKinds) {
      r = cuptiActivityEnable(kind);
      if (r != CUPTI_SUCCESS) {
        disable_enabled();
        return fail(fmt::format("cuptiActivityEnable({}): {}", static_cast<int>(kind), result_string(r)), r);
      }
      enabled_.push_back(kind);
    }
    started_ = true;
    return "";
  }

  void stop() override {
    if (!started_) return;
    cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
    disable_enabled();
    started_ = false;
    std::lock_guard<std::mutex> lock(g_mutex);
    g_active = false;
  }

  void push_external_id(std::uint64_t external_id) override {
    if (started_) cuptiActivityPushExternalCorrelationId(kExternalKind, external_id);
  }
  void pop_external_id() override {
    std::uint64_t last = 0;
    if (started_) cuptiActivityPopExternalCorrelationId(kExternalKind, &last);
  }

  CuptiRecords flush() override {
    if (started_) cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
    std::lock_guard<std::mutex> lock(g_mutex);
    CuptiRecords out = std::move(g_records);
    g_records = CuptiRecords{};
    return out;
  }

  std::uint64_t now_ns() override {
    std::uint64_t t = 0;
    cuptiGetTimestamp(&t);
    return t;
  }
  const char* name() const override { return "cupti"; }

 private:
  std::string fail(std::string message, CUptiResult r) {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_active = false;
    if (r == CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED) {
      return "CUPTI is already in use (another profiler is attached): " + message;
    }
    return message;
  }
  void disable_enabled() {
    for (CUpti_ActivityKind kind : enabled_) cuptiActivityDisable(kind);
    enabled_.clear();
  }

  bool started_ = false;
  std::vector<CUpti_ActivityKind> enabled_;
};

}  // namespace

std::unique_ptr<CuptiRecordSource> make_cupti_record_source() {
  return std::make_unique<RealCuptiRecordSource>();
}

}  // namespace zeroplan::profiler
