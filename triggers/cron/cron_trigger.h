#pragma once

// The cron trigger: one timer per (function, cron trigger), armed for the schedule's next fire
// time on the system clock. Each tick becomes an asynchronous event (so the function's retry and
// dead-letter policy applies) with a stable id "<function>-<scheduled unix ms>", the manifest's
// `payload` text as data or, with `payload: eventbridge`, an EventBridge "Scheduled Event".
//
// The next fire time is always computed from the previous *scheduled* time, so the schedule never
// drifts; how late the loop woke is measured in switchyard_cron_lateness_seconds. `overlap`
// decides what a tick does while the previous one is still running: allow (dispatch anyway),
// skip (drop it) or queue (keep at most one, dispatched when the previous completes). `jitter`
// delays every fire by a stable per-function offset.
//
// Misfires: a tick is missed when its time passed while the daemon was down (found at start
// from the last handled tick kept in `<state_dir>/cron-state.json`, see state.h), or when the
// timer fired so late (a suspended machine, a stalled loop) that the following tick's time had
// passed too. `misfire: skip` drops every missed tick (counted as skips with reason "misfire");
// `misfire: run_once` runs the latest missed tick once (the others are counted as skipped), with
// its own scheduled time. Either way the schedule then resumes at its next future tick.
//
// `lock: redis` runs each tick on one daemon of those sharing a Redis (see lock.h).
//
// Thread rules: loop thread only.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "triggers/cron/schedule.h"
#include "triggers/trigger.h"

namespace switchyard::triggers::cron {

// The stable offset in [0, jitter) added to every fire time of `function`; zero when `jitter`
// is zero.
std::chrono::milliseconds jitter_offset(std::string_view function,
                                        std::chrono::milliseconds jitter);

// The ticks of `schedule` scheduled at or after `from` whose fire time (scheduled + jitter) is
// at or before `now`. Counting stops at kMissedCountLimit (`more` is then set), but `latest` is
// always exact.
struct Overdue {
  std::uint64_t count = 0;
  bool more = false;
  std::chrono::system_clock::time_point latest{};
};
inline constexpr std::uint64_t kMissedCountLimit = 10000;
Overdue overdue_ticks(const Schedule& schedule, std::chrono::system_clock::time_point from,
                      std::chrono::system_clock::time_point now, std::chrono::milliseconds jitter);

// Where the cron triggers read the time and wait for it. The daemon uses the system clock and
// loop timers (system_cron_clock()); tests drive a clock by hand, so that overlap and misfire
// policies are checked without waiting.
class CronClock {
 public:
  using Clock = std::chrono::system_clock;

  // A one-shot wake-up; destroying it cancels it.
  class Alarm {
   public:
    virtual ~Alarm() = default;
    // Calls the alarm's callback once, on the loop thread, at `when` or as soon after as it can;
    // replaces a wake-up already set.
    virtual void set(Clock::time_point when) = 0;
    virtual void cancel() = 0;
  };

  virtual ~CronClock() = default;
  virtual Clock::time_point now() const = 0;
  virtual std::unique_ptr<Alarm> alarm(core::Loop& loop, std::function<void()> callback) = 0;
};

std::shared_ptr<CronClock> system_cron_clock();

// The cron triggers of every function of `snapshot`, on `clock` (the registered factory uses
// system_cron_clock()).
core::Result<std::vector<TriggerPtr>> build_cron_triggers(const config::Snapshot& snapshot,
                                                          TriggerContext& context,
                                                          std::shared_ptr<CronClock> clock);

// Registers the "cron" trigger kind.
void register_cron_trigger(TriggerRegistry& registry);

}  // namespace switchyard::triggers::cron
