#include "triggers/completion_guard.h"

#include <algorithm>
#include <cassert>
#include <type_traits>

namespace switchyard::triggers {

namespace {

// What completion() captures. It must stay two plain pointers: std::function stores a trivially
// copyable callable of that size in place (libstdc++ and libc++ both), without allocating.
struct Capture {
  void* block;
  void* context;
};
static_assert(std::is_trivially_copyable_v<Capture> && sizeof(Capture) <= 2 * sizeof(void*));

}  // namespace

CompletionGuard::CompletionGuard(Target& target) : block_(new Block) {
  block_->target = &target;
}

CompletionGuard::~CompletionGuard() {
  block_->target = nullptr;
  free_if_unused(block_);
}

core::Completion CompletionGuard::completion(void* context) const {
  return [block = block_, context](core::Event& event, core::Outcome& outcome) {
    call(block, context, event, outcome);
  };
}

void CompletionGuard::keep(std::shared_ptr<void> object) {
  block_->kept.push_back(std::move(object));
}

void CompletionGuard::forget(const void* object) {
  std::erase_if(block_->kept, [object](const auto& kept) { return kept.get() == object; });
}

void CompletionGuard::call(Block* block, void* context, core::Event& event,
                           core::Outcome& outcome) {
  assert(block->outstanding > 0 && "a completion was called that was not counted (expect())");
  --block->outstanding;
  if (block->target == nullptr) {
    free_if_unused(block);
    return;
  }
  block->target->completed(event, outcome, context);
}

void CompletionGuard::free_if_unused(Block* block) {
  if (block->target != nullptr || block->outstanding > 0) {
    return;
  }
  while (!block->kept.empty()) {
    block->kept.pop_back();
  }
  delete block;
}

}  // namespace switchyard::triggers
