#pragma once

// Runs a loop until a condition holds or a deadline passes: tests wait for conditions, never
// for a fixed time.

#include <chrono>
#include <functional>

#include "core/loop.h"

namespace switchyard::testing {

// Returns whether `done()` became true within `timeout`.
inline bool run_until(core::Loop& loop, const std::function<bool()>& done,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  // A short repeating timer bounds each wait, so the deadline is checked even when nothing
  // else happens on the loop.
  core::Timer tick(loop, [] {});
  tick.start(std::chrono::milliseconds(2), std::chrono::milliseconds(2));
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    uv_run(loop.raw(), UV_RUN_ONCE);
  }
  return true;
}

}  // namespace switchyard::testing
