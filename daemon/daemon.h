#pragma once

// The running daemon: loads every function of a snapshot, starts the triggers, serves until
// SIGTERM or SIGINT, then drains (stop taking events, finish what was accepted, up to
// limits.shutdown_timeout) and exits. SIGHUP reloads the config and every manifest: a config
// with any error (or a library that does not load) is rejected whole and the old one keeps
// running; otherwise functions are added, removed (after their accepted events) or updated in
// place (a replaced library loads as a new version beside the old one), and the triggers whose
// configuration changed follow (HTTP routes swap in place; other kinds are stopped, finishing
// what they took, and started again).
//
// Thread rules: run() owns the loop thread for its whole duration.

#include "config/config.h"
#include "daemon/kinds.h"

namespace switchyard::daemon {

// Returns the process exit code: 0 after a clean drain, 1 when start-up failed. `kinds` (what
// `snapshot` was loaded with) builds its triggers and loads its functions, at start and reloads.
int run_daemon(const config::Snapshot& snapshot, const Kinds& kinds);

}  // namespace switchyard::daemon
