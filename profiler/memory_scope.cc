#include "profiler/memory_scope.h"

#include <atomic>

namespace zeroplan::profiler {
namespace {

thread_local bool t_scope_set = false;
thread_local Category t_category = Category::kOther;
std::atomic<int> g_ambient_category{-1};  // the category most recently opened by any thread

}  // namespace

MemoryScope::MemoryScope(Category category, ScopeReach reach)
    : previous_thread_set_(t_scope_set),
      previous_thread_category_(t_category),
      sets_ambient_(reach == ScopeReach::kProcess),
      previous_ambient_(sets_ambient_ ? g_ambient_category.exchange(static_cast<int>(category)) : -1) {
  t_scope_set = true;
  t_category = category;
}

MemoryScope::~MemoryScope() {
  t_scope_set = previous_thread_set_;
  t_category = previous_thread_category_;
  if (sets_ambient_) g_ambient_category.store(previous_ambient_);
}

Category current_category() {
  if (t_scope_set) return t_category;
  int ambient = g_ambient_category.load(std::memory_order_relaxed);
  return ambient < 0 ? Category::kOther : static_cast<Category>(ambient);
}

}  // namespace zeroplan::profiler
