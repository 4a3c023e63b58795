#pragma once

// Whether the consumer trigger's pump (hand ready records to the function) is running, and
// whether someone asked for another round while it ran. An inline function answers inside
// dispatch, and its completion asks for more: the running pump then goes round again rather than
// recursing, or stopping with records ready and capacity free.
//
// Thread rules: loop thread only (a plain value type).

namespace switchyard::triggers::kafka {

enum class PumpState {
  kIdle,       // No pump is running.
  kPumping,    // A pump is running a round.
  kPumpAgain,  // A pump is running, and another round was asked for during this one.
};

class PumpLoop {
 public:
  PumpState state() const { return state_; }

  // Asks for a round. True when a pump is running (it goes round again); false when the caller
  // must start one.
  bool ask_again() {
    if (state_ == PumpState::kIdle) {
      return false;
    }
    state_ = PumpState::kPumpAgain;
    return true;
  }

  // kIdle -> kPumping: runs `round()` until a round ends with no other asked for, or `stop()`
  // says to stop, then -> kIdle. Returns false, running nothing, when a pump is running already
  // (it is asked to go round again instead).
  template <typename Round, typename Stop>
  bool run(Round&& round, Stop&& stop) {
    if (ask_again()) {
      return false;
    }
    do {
      state_ = PumpState::kPumping;
      round();
    } while (state_ == PumpState::kPumpAgain && !stop());
    state_ = PumpState::kIdle;
    return true;
  }

 private:
  PumpState state_ = PumpState::kIdle;
};

}  // namespace switchyard::triggers::kafka
