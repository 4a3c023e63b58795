#pragma once

// The zygote side of switchyard-environment (`switchyard-environment --zygote`): a process that
// has already paid for its own start-up (the dynamic loader mapping and relocating the C++
// runtime, logging set up) and starts each new environment as a copy of itself, which is much
// cheaper than executing the program again (environments/zygote.h has the daemon's side and
// why).
//
// It reads requests (environments/native/zygote_protocol.h) from `control_fd` until the daemon
// closes it, and for each clones itself with CLONE_PARENT, so that the new process is the
// daemon's child, not the zygote's: the daemon tracks it with a pidfd, reaps it and kills its
// group exactly as one it started with posix_spawn, and the zygote's own end touches none of
// that. The clone is made the way glibc's fork() makes one (the kernel writes the child's
// thread id where glibc caches it, found through the descriptor glibc publishes for
// debuggers), so that the child's thread functions act on itself.
//
// The new process then does what posix_spawn's file actions do for a spawned environment
// (process group, stdin from /dev/null, the given stdout, stderr and fd 3, nothing else open,
// the working directory, the environment), shows the request's arguments as its command line
// (where the zygote's own `argv` and environment strings were, as setproctitle does: ps and
// /proc/PID/cmdline name the function, not the zygote), and runs
// `environment_main` with them, exiting with what it returns.
//
// Thread rules: the zygote is single-threaded; it must stay so for a clone of it to be sound.

namespace switchyard::environments {

using EnvironmentMain = int (*)(int argc, char** argv);

// Serves requests until `control_fd` is closed; the exit status for the zygote then. `argc` and
// `argv` are the zygote's own, as main() got them, before anything changed `environ`.
int serve_zygote(int control_fd, EnvironmentMain environment_main, int argc, char** argv);

}  // namespace switchyard::environments
