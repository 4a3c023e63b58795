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
// Not implemented yet: misfire handling across restarts or suspend (a state dir), and
// `lock: redis` (a manifest that asks for it is refused). Ticks missed while the loop itself was
// late are not replayed: the overdue tick fires once, later ones resume on schedule.
//
// Thread rules: loop thread only.

#include <chrono>
#include <string_view>

#include "triggers/trigger.h"

namespace switchyard::triggers::cron {

// The stable offset in [0, jitter) added to every fire time of `function`; zero when `jitter`
// is zero.
std::chrono::milliseconds jitter_offset(std::string_view function,
                                        std::chrono::milliseconds jitter);

// Registers the "cron" trigger kind.
void register_cron_trigger(TriggerRegistry& registry);

}  // namespace switchyard::triggers::cron
