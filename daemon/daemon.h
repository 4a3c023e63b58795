#pragma once

// The running daemon: loads every function of a snapshot, starts the triggers, serves until
// SIGTERM or SIGINT, then drains (stop taking events, finish what was accepted, up to
// limits.shutdown_timeout) and exits.
//
// Thread rules: run() owns the loop thread for its whole duration.

#include "config/config.h"

namespace switchyard::daemon {

// Returns the process exit code: 0 after a clean drain, 1 when start-up failed.
int run_daemon(const config::Snapshot& snapshot);

}  // namespace switchyard::daemon
