#pragma once
// `MemoryScope scope(Category::kActivations);` attributes the allocations made while it is open to
// a category. Scopes nest (the innermost wins) and are per thread. A thread with no scope of its
// own (a Gloo worker, an intra-op pool thread) uses the category most recently opened by any
// thread, so work a rank hands to helper threads is charged to what the rank is doing; with no
// scope open anywhere the category is `other`.
#include "profiler/memory_category.h"

namespace zeroplan::profiler {

class MemoryScope {
 public:
  explicit MemoryScope(Category category);
  ~MemoryScope();
  MemoryScope(const MemoryScope&) = delete;
  MemoryScope& operator=(const MemoryScope&) = delete;

 private:
  bool previous_thread_set_;
  Category previous_thread_category_;
  int previous_ambient_;  // process-wide category before this scope (-1: none)
};

// The category a new allocation on this thread is charged to.
Category current_category();

}  // namespace zeroplan::profiler
