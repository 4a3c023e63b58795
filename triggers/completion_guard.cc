#include "triggers/completion_guard.h"

#include <algorithm>

namespace switchyard::triggers {

CompletionGuard::CompletionGuard(Target& target) : block_(new Block) {
  block_->target = &target;
}

CompletionGuard::~CompletionGuard() {
  block_->target = nullptr;
  free_if_unused(block_);
}

void CompletionGuard::keep(std::shared_ptr<void> object) {
  block_->kept.push_back(std::move(object));
}

void CompletionGuard::forget(const void* object) {
  std::erase_if(block_->kept, [object](const auto& kept) { return kept.get() == object; });
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
