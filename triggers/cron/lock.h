#pragma once

// `lock: redis`: each tick of a schedule fires on exactly one of the daemons that share a Redis.
// Every daemon's trigger asks for a lease on the tick before dispatching it:
//   SET switchyard:cron:<function>:<scheduled unix ms> <instance> NX PX 300000
// The first to ask wins; the others count the tick as skipped (reason "locked"). Ticks are keyed
// by their scheduled time, so clocks that differ by less than the lease (5 minutes) still agree
// on who ran a tick. When Redis cannot answer (not connected, or the command timed out) the tick
// is skipped (reason "lock_unavailable") and logged: with the lock asked for, running a tick
// that another daemon may also run is the worse failure.
//
// Thread rules: loop thread only. One CronLock (one connection) per daemon, shared by its cron
// triggers.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "config/config.h"
#include "core/error.h"
#include "core/loop.h"
#include "triggers/redis/connection.h"

namespace switchyard::triggers::cron {

inline constexpr std::chrono::milliseconds kLockLease{300000};

class CronLock {
 public:
  using Clock = std::chrono::system_clock;

  // Fails on a redis.url that does not parse. Starts connecting (and reconnecting) at once.
  static core::Result<std::shared_ptr<CronLock>> open(core::Loop& loop,
                                                      const config::RedisConfig& redis,
                                                      std::string instance);

  // Calls `done` once, on the loop thread: true when this daemon holds the tick, false when
  // another one does, or an error when Redis could not answer. Never called after the lock is
  // destroyed.
  void acquire(const std::string& function, Clock::time_point scheduled,
               std::function<void(core::Result<bool>)> done);

  // The key of a tick, for tests and operators.
  static std::string key(const std::string& function, Clock::time_point scheduled);

 private:
  CronLock(core::Loop& loop, redis::ConnectionOptions options, std::string instance);

  std::string instance_;
  redis::Connection connection_;
};

}  // namespace switchyard::triggers::cron
