#include "triggers/cron/lock.h"

#include <fmt/format.h>

namespace switchyard::triggers::cron {

core::Result<std::shared_ptr<CronLock>> CronLock::open(core::Loop& loop,
                                                       const config::RedisConfig& redis,
                                                       std::string instance) {
  auto endpoint = redis::parse_redis_url(redis.url);
  if (!endpoint.ok()) {
    return endpoint.error();
  }
  redis::ConnectionOptions options;
  options.endpoint = std::move(endpoint).value();
  options.connect_timeout = redis.connect_timeout;
  options.command_timeout = redis.command_timeout;
  options.name = "redis cron lock";
  std::shared_ptr<CronLock> lock(new CronLock(loop, std::move(options), std::move(instance)));
  lock->connection_.start();
  return lock;
}

CronLock::CronLock(core::Loop& loop, redis::ConnectionOptions options, std::string instance)
    : instance_(std::move(instance)), connection_(loop, std::move(options)) {}

std::string CronLock::key(const std::string& function, Clock::time_point scheduled) {
  return fmt::format(
      "switchyard:cron:{}:{}", function,
      std::chrono::duration_cast<std::chrono::milliseconds>(scheduled.time_since_epoch()).count());
}

void CronLock::acquire(const std::string& function, Clock::time_point scheduled,
                       std::function<void(core::Result<bool>)> done) {
  std::vector<std::string> argv{"SET", key(function, scheduled),          instance_, "NX",
                                "PX",  std::to_string(kLockLease.count())};
  bool sent = connection_.send(argv, [done](core::Result<redis::Reply> reply) {
    if (!reply.ok()) {
      done(reply.error());
    } else if (reply.value().is_error()) {
      done(core::Error(core::ErrorCode::kUnavailable, "redis: " + reply.value().str));
    } else {
      // OK: the lease is ours; nil: another daemon holds it.
      done(!reply.value().is_nil());
    }
  });
  if (!sent) {
    done(core::Error(core::ErrorCode::kUnavailable, "not connected to redis"));
  }
}

}  // namespace switchyard::triggers::cron
