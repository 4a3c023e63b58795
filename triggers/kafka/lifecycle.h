#pragma once

// How a consumer trigger stops: it drains (takes and dispatches nothing more, and waits for its
// records in the scheduler), then closes (commits what finished, leaves its group, waits for
// librdkafka to say it left, up to a bound), then is stopped. Each step happens once and in that
// order, whatever calls come late (a completion, a queue wake-up, a timer).
//
// Thread rules: loop thread only (a plain value type).

namespace switchyard::triggers::kafka {

enum class LifecycleState {
  kRunning,   // Takes, dispatches and commits records (from construction until stop()).
  kDraining,  // stop() was called: waits for the records in the scheduler.
  kClosing,   // None is left: the final commit is made and the consumer leaves its group.
  kStopped,   // Left (or given up on): the trigger's stop callback was called.
};

class Lifecycle {
 public:
  LifecycleState state() const { return state_; }
  // No record is taken or dispatched any more (draining, closing or stopped).
  bool stopping() const { return state_ != LifecycleState::kRunning; }
  // The consumer is leaving its group, or is gone: no pause, resume or periodic commit.
  bool closing() const {
    return state_ == LifecycleState::kClosing || state_ == LifecycleState::kStopped;
  }

  // kRunning -> kDraining. False when stop() was called before.
  bool begin_drain() { return advance(LifecycleState::kRunning, LifecycleState::kDraining); }
  // kDraining -> kClosing. False in any other state (running, or closing already).
  bool begin_close() { return advance(LifecycleState::kDraining, LifecycleState::kClosing); }
  // kClosing -> kStopped. False in any other state.
  bool finish() { return advance(LifecycleState::kClosing, LifecycleState::kStopped); }

 private:
  bool advance(LifecycleState from, LifecycleState to) {
    if (state_ != from) {
      return false;
    }
    state_ = to;
    return true;
  }

  LifecycleState state_ = LifecycleState::kRunning;
};

}  // namespace switchyard::triggers::kafka
