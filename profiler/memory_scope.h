#pragma once
// `MemoryScope scope(Category::kActivations);` attributes the allocations made while it is open to
// a category. Scopes nest (the innermost wins) and are per thread. A thread with no scope of its
// own (a Gloo worker, an intra-op pool thread) uses the category most recently opened by any
// thread, so work a rank hands to helper threads is charged to what the rank is doing; with no
// scope open anywhere the category is `other`.
//
// A scope opened with ScopeReach::kThisThread charges only its own thread and leaves the category
// other threads inherit alone: a communicator's worker thread uses it, so that its scope, opening and
// closing while the rank's thread opens others, neither changes nor restores (stale) what the rank's
// helper threads are charged to.
#include "profiler/memory_category.h"

namespace zeroplan::profiler {

enum class ScopeReach { kProcess, kThisThread };

class MemoryScope {
 public:
  explicit MemoryScope(Category category, ScopeReach reach = ScopeReach::kProcess);
  ~MemoryScope();
  MemoryScope(const MemoryScope&) = delete;
  MemoryScope& operator=(const MemoryScope&) = delete;

 private:
  bool previous_thread_set_;
  Category previous_thread_category_;
  bool sets_ambient_;
  int previous_ambient_;  // process-wide category before this scope (-1: none)
};

// The category a new allocation on this thread is charged to.
Category current_category();

}  // namespace zeroplan::profiler
