#pragma once

// The daemon's side of the environment zygote: one `switchyard-environment --zygote` process,
// started with posix_spawn the first time an environment is wanted and kept for the daemon's
// life, that starts each new environment as a copy of itself (environments/native/
// zygote_server.h).
//
// Why: executing switchyard-environment again for every environment pays its whole start-up
// each time, and most of it is the dynamic loader mapping and relocating the C++ runtime, one
// page fault at a time; on a virtual machine that makes page faults dear, that alone was 4 to
// 5 ms of a native environment's 6 ms cold start. A copy of a process that has done it already
// costs a clone and the pages it then writes. The daemon itself is never forked (it is
// multi-threaded); the zygote is single-threaded and does nothing but this.
//
// A started environment is the daemon's own child (the zygote clones with CLONE_PARENT), so
// ChildProcess tracks, kills and reaps it as one it spawned; this class only hands back its
// pid. The zygote's stdout and stderr go to the daemon's log. When the zygote cannot be
// started, dies, or does not answer within a second, start() says so; the zygote is started
// again on the next request, and after kMaxFailures failures in a row it is not tried again.
//
// Copies share the zygote's address-space layout (ASLR), stack canary and pointer guard, as
// Android's zygote's children do: a leak of one environment's addresses tells those of the
// others of the same daemon.
//
// Thread rules: loop thread only. Requests are synchronous: the daemon waits for the clone
// (a fraction of a millisecond; posix_spawn waits for the exec likewise).

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>

#include "core/error.h"
#include "core/loop.h"
#include "environments/process.h"

namespace switchyard::environments {

class Zygote {
 public:
  static constexpr int kMaxFailures = 3;

  // How a request went.
  enum class Outcome {
    kStarted,     // `pid` is the new environment.
    kTooLarge,    // Not asked: too large a request. The caller spawns this one itself.
    kNotSent,     // Not asked: no zygote could be started or be written to. Likewise.
    kRefused,     // The zygote could not clone (no process left to make, ...): likewise.
    kHandedOver,  // Its descriptors went to a zygote that then gave no answer: a copy may be
                  // running with them, so the caller must not hand them to another process.
  };
  struct Started {
    Outcome outcome = Outcome::kNotSent;
    pid_t pid = 0;
    std::string error;  // Why, unless kStarted.
    int refused = 0;    // The zygote's errno, when kRefused.
  };

  // `program`: switchyard-environment.
  Zygote(core::Loop& loop, std::filesystem::path program);
  // The zygote is stopped; environments it started go on (they are the daemon's children).
  ~Zygote();
  Zygote(const Zygote&) = delete;
  Zygote& operator=(const Zygote&) = delete;

  // Whether start() can run `options`: its program is this zygote's, it has not given up, and a
  // copy would run it as a spawn would (a native library whose environment sets what the
  // dynamic loader or the C library reads at start-up, LD_LIBRARY_PATH, LD_PRELOAD,
  // GLIBC_TUNABLES, MALLOC_*, is spawned: a copy has started up already).
  bool serves(const SpawnOptions& options) const;

  // Starts an environment as `options` says, with `stdout_fd` and `stderr_fd` as its stdout
  // and stderr (and options.inherit_fd as its fd 3).
  Started start(const SpawnOptions& options, int stdout_fd, int stderr_fd);

  // The zygote's pid; 0 when it is not running.
  pid_t pid() const;

  // Stops the zygote, and forgets its failures: the next environment starts a new one, from the
  // program as it is on disk then (a reload's way to pick up an upgraded switchyard-environment,
  // and to try again a zygote given up on). Environments it started go on.
  void renew();

 private:
  core::Status ensure_running();
  Started request(const SpawnOptions& options, int stdout_fd, int stderr_fd);
  void stop();

  core::Loop& loop_;
  std::filesystem::path program_;
  std::unique_ptr<ChildProcess> process_;
  int control_ = -1;  // The daemon's end of the control socket.
  int failures_ = 0;  // In a row.
};

}  // namespace switchyard::environments
