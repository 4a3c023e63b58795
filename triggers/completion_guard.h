#pragma once

// Guards the completions of a trigger's events against the trigger being gone: an event
// admitted by the scheduler may be answered after its trigger was destroyed (a reload, a
// revoked Kafka partition, a stop that timed out), and its completion must then do nothing.
//
// One small block on the heap, made once per guard, holds the target and the count of
// completions still to come. A completion captures two plain pointers (the block and the
// caller's context): that fits std::function's own storage, so making or copying a completion
// costs no allocation and no atomic reference count, as a shared_ptr or weak_ptr capture would
// (a pulling trigger makes one per event on its hot path). The price is the count: the block
// outlives the guard until the last counted completion was called, so every completion that will
// be called must be counted (expect()) before its event is offered, and uncounted (unexpect())
// if the offer is refused. A completion that is never called must never be counted.
//
// Thread rules: loop thread only (completions run there). Ownership: owned by its trigger; the
// target must outlive the guard.

#include <cassert>
#include <cstddef>
#include <memory>
#include <type_traits>
#include <vector>

#include "core/event.h"

namespace switchyard::triggers {

class CompletionGuard {
 public:
  // What a guarded completion calls while the guard lives.
  class Target {
   public:
    // An event offered with `context` is done. The outstanding count is already one less.
    virtual void completed(core::Event& event, core::Outcome& outcome, void* context) = 0;

   protected:
    ~Target() = default;
  };

  explicit CompletionGuard(Target& target);
  // Completions called after this do nothing but let go of their event's unbuilt contents
  // (core::PendingContent) and free what the guard kept (keep()) once the last of them is in.
  ~CompletionGuard();
  CompletionGuard(const CompletionGuard&) = delete;
  CompletionGuard& operator=(const CompletionGuard&) = delete;

  // A completion that calls target.completed(event, outcome, context) while the guard lives.
  core::Completion completion(void* context = nullptr) const {
    return completion<&CompletionGuard::call_target>(context);
  }
  // The same, calling Completed(target, event, outcome, context) instead: a direct call, inlined
  // into the completion, for a source that completes many events (no virtual call per event).
  template <void (*Completed)(Target&, core::Event&, core::Outcome&, void*)>
  core::Completion completion(void* context = nullptr) const {
    // Two plain pointers: std::function stores a trivially copyable callable of that size in
    // place (libstdc++ and libc++ both), without allocating.
    auto completion = [block = block_, context](core::Event& event, core::Outcome& outcome) {
      if (arrived(block, event)) {
        Completed(*block->target, event, outcome, context);
      }
    };
    static_assert(std::is_trivially_copyable_v<decltype(completion)> &&
                  sizeof(completion) <= 2 * sizeof(void*));
    return completion;
  }

  // Counts `n` completions that will be called (events about to be offered), or takes back the
  // count of those the dispatcher refused (their completions will not be called).
  void expect(std::size_t n) { block_->outstanding += n; }
  void unexpect(std::size_t n) { block_->outstanding -= n; }
  // Counted completions not called yet: events in the scheduler.
  std::size_t outstanding() const { return block_->outstanding; }

  // Keeps `object` until no counted completion remains after the guard is gone: what late
  // completions still point at (their context). Released in reverse order of keep().
  void keep(std::shared_ptr<void> object);
  // Stops keeping `object` (its completions are all in).
  void forget(const void* object);

 private:
  struct Block {
    Target* target = nullptr;  // Null once the guard is gone.
    std::size_t outstanding = 0;
    std::vector<std::shared_ptr<void>> kept;
  };

  static void call_target(Target& target, core::Event& event, core::Outcome& outcome,
                          void* context) {
    target.completed(event, outcome, context);
  }
  // Counts a completion in. False when the guard is gone: the event lets go of its unbuilt
  // contents (PendingContent), which may point into what the guard kept, before the last
  // completion releases that.
  static bool arrived(Block* block, core::Event& event) {
    assert(block->outstanding > 0 && "a completion was called that was not counted (expect())");
    --block->outstanding;
    if (block->target != nullptr) {
      return true;
    }
    event.pending.reset();
    free_if_unused(block);
    return false;
  }
  // Frees `block` when its guard is gone and no counted completion remains.
  static void free_if_unused(Block* block);

  Block* block_;
};

}  // namespace switchyard::triggers
