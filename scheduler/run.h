#pragma once

// Scheduler::Run: the members one pooled slot runs, one after another on one worker thread, so
// that a fast function gets several events per hand-off between the loop and a worker. Internal
// to scheduler/*.cc.
//
// Thread rules: the loop fills it before the hand-off. Then `cursor` decides who owns each
// member not yet started (a worker claims the next by moving it on, the loop takes the rest back
// by closing it), and `slow` is the worker's. The run is the loop's again once its end comes
// back (Scheduler::Result::run_end).

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "functions/loader.h"
#include "scheduler/invocation.h"
#include "scheduler/scheduler.h"

namespace switchyard::scheduler {

// The most members a run may have.
inline constexpr std::size_t kMaxRun = 32;
// Run::cursor once the loop took back the members no worker started.
inline constexpr std::uint32_t kRunClosed = UINT32_MAX;
// How long a worker goes on starting members of one run (less when timeout/8 is shorter).
inline constexpr Clock::duration kRunBudget = std::chrono::milliseconds(1);
// How much function time a worker's results may wait for the rest of their run (seconds).
inline constexpr double kResultDelay = 50e-6;

struct Scheduler::Run {
  Scheduler* scheduler = nullptr;
  FunctionState* function = nullptr;
  // The version its members run on, pinned until the run ends (a hot swap waits for it): the
  // current one when the run was made.
  functions::FunctionPtr version;
  std::array<Invocation*, kMaxRun> members{};
  // Where each member's pending contents start and how much of them is read first
  // (PendingContent::Ops::prefetch_bytes, PendingContent::also_read()), noted by the loop: the
  // worker prefetches the next member's while it runs one. Only addresses: the member may no
  // longer be this run's.
  struct Prefetch {
    const void* at = nullptr;
    const void* also = nullptr;
    std::uint16_t bytes = 0;
  };
  std::array<Prefetch, kMaxRun> prefetch{};
  std::uint32_t size = 0;
  // The next member a worker may start: the worker claims it by moving the cursor on, the loop
  // takes the rest back by closing it (kRunClosed). Whoever moves it first owns the member.
  std::atomic<std::uint32_t> cursor{0};
  Clock::time_point created{};
  Clock::duration budget{};  // A worker starts no member after this much time in the run.
  bool slow = false;         // Written by the worker: the run outlasted its budget.
  bool sequence = false;     // RunOrder::kSequence: stops at a member that fails.
};

}  // namespace switchyard::scheduler
