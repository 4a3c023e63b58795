#include "triggers/cron/cron_trigger.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/ids.h"
#include "core/log.h"
#include "triggers/cron/lock.h"
#include "triggers/cron/schedule.h"
#include "triggers/cron/settings.h"
#include "triggers/cron/state.h"

namespace switchyard::triggers::cron {

namespace {

using Clock = std::chrono::system_clock;
using std::chrono::milliseconds;

enum class Overlap { kAllow, kSkip, kQueue };

std::int64_t unix_ms(Clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
}

// "2026-03-29T01:00:00Z": EventBridge's `time`, in UTC to the second.
std::string format_utc_seconds(Clock::time_point t) {
  std::time_t seconds = Clock::to_time_t(std::chrono::floor<std::chrono::seconds>(t));
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", utc.tm_year + 1900, utc.tm_mon + 1,
                     utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
}

std::string eventbridge_payload(const std::string& function, const config::DaemonConfig& daemon,
                                Clock::time_point scheduled) {
  std::string body = "{\"version\":\"0\",\"id\":\"";
  body += core::random_uuid();
  body += "\",\"detail-type\":\"Scheduled Event\",\"source\":\"aws.events\",";
  body += "\"account\":\"";
  core::append_json_escaped(body, daemon.account_id);
  body += "\",\"time\":\"";
  body += format_utc_seconds(scheduled);
  body += "\",\"region\":\"";
  core::append_json_escaped(body, daemon.region);
  body += "\",\"resources\":[\"switchyard:cron/";
  core::append_json_escaped(body, function);
  body += "\"],\"detail\":{}}";
  return body;
}

class CronTrigger final : public Trigger {
 public:
  CronTrigger(TriggerContext& context, std::string function, const CronTriggerSettings& spec,
              Schedule schedule, std::shared_ptr<CronState> state, std::shared_ptr<CronLock> lock,
              std::shared_ptr<CronClock> clock)
      : context_(context),
        clock_(std::move(clock)),
        function_(std::move(function)),
        schedule_(std::move(schedule)),
        state_(std::move(state)),
        lock_(std::move(lock)),
        state_key_(function_ + " " + schedule_.expression() + " " + schedule_.timezone()),
        run_missed_once_(spec.misfire == "run_once"),
        overlap_(spec.overlap == "skip"    ? Overlap::kSkip
                 : spec.overlap == "queue" ? Overlap::kQueue
                                           : Overlap::kAllow),
        eventbridge_(spec.payload == "eventbridge"),
        payload_(spec.payload),
        jitter_(jitter_offset(function_, spec.jitter)),
        alarm_(clock_->alarm(context.loop, [this] { on_timer(); })),
        fires_(context.metrics.counter("switchyard_cron_fires_total",
                                       "Cron ticks dispatched to their function.",
                                       {{"function", function_}})),
        skips_overlap_(skip_counter("overlap")),
        skips_throttled_(skip_counter("throttled")),
        skips_rejected_(skip_counter("rejected")),
        skips_misfire_(skip_counter("misfire")),
        skips_locked_(skip_counter("locked")),
        skips_lock_unavailable_(skip_counter("lock_unavailable")),
        lateness_(context.metrics.histogram(
            "switchyard_cron_lateness_seconds",
            "How long after its scheduled time (plus jitter) a cron tick fired.",
            {{"function", function_}},
            {0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 60})) {}

  std::string describe() const override {
    return fmt::format("cron {} \"{}\"", function_, schedule_.expression());
  }

  core::Status start() override {
    Clock::time_point now = clock_->now();
    // A tick whose time has come but whose jitter has not passed yet is still ahead.
    next_ = schedule_.next(now - jitter_);
    arm();
    spdlog::info("cron {}: \"{}\" ({}), first tick at {}", function_, schedule_.expression(),
                 schedule_.timezone(), format_iso8601(next_ + jitter_, schedule_.timezone()));
    if (state_ != nullptr) {
      if (auto last = state_->last(state_key_)) {
        Overdue missed = overdue_ticks(schedule_, schedule_.next(*last), now, jitter_);
        if (missed.count > 0) {
          misfire(missed, now,
                  fmt::format("while the daemon was down (last tick handled: {})",
                              format_iso8601(*last, schedule_.timezone())));
        }
      }
    }
    return {};
  }

  void stop(std::function<void()> done) override {
    stopping_ = true;
    alarm_->cancel();
    if (pending_) {
      spdlog::info("cron {}: dropping the queued tick of {} on stop", function_,
                   format_iso8601(*pending_, schedule_.timezone()));
      pending_.reset();
    }
    if (state_ != nullptr) {
      state_->flush_and_wait();
    }
    on_stopped_ = std::move(done);
    maybe_stopped();
  }

 private:
  core::Counter& skip_counter(const char* reason) {
    return context_.metrics.counter("switchyard_cron_skips_total",
                                    "Cron ticks not dispatched, by reason.",
                                    {{"function", function_}, {"reason", reason}});
  }

  // Wakes on_timer() at next_ + jitter_.
  void arm() { alarm_->set(next_ + jitter_); }

  void on_timer() {
    if (stopping_) {
      return;
    }
    Clock::time_point now = clock_->now();
    Clock::time_point target = next_ + jitter_;
    if (now < target) {
      arm();
      return;
    }
    lateness_.observe_unshared(std::chrono::duration<double>(now - target).count());
    Clock::time_point following = schedule_.next(next_);
    if (following + jitter_ <= now) {
      // The following tick is overdue too: the machine was suspended or the loop stalled.
      Overdue missed = overdue_ticks(schedule_, next_, now, jitter_);
      next_ = schedule_.next(missed.latest);
      arm();
      misfire(missed, now,
              fmt::format("because the timer fired {} ms late (suspend or stall)",
                          std::chrono::duration_cast<milliseconds>(now - target).count()));
      return;
    }
    Clock::time_point scheduled = next_;
    next_ = following;
    arm();
    tick(scheduled, now);
  }

  // Applies the misfire policy to ticks missed (`missed.count` > 0).
  void misfire(const Overdue& missed, Clock::time_point now, const std::string& why) {
    std::string count = fmt::format("{}{}", missed.count, missed.more ? "+" : "");
    std::string latest = format_iso8601(missed.latest, schedule_.timezone());
    if (run_missed_once_) {
      skips_misfire_.inc_unshared(missed.count - 1);
      spdlog::warn("cron {}: {} tick(s) missed {}; misfire: run_once runs the latest, of {}, now",
                   function_, count, why, latest);
      tick(missed.latest, now);
      return;
    }
    skips_misfire_.inc_unshared(missed.count);
    spdlog::warn("cron {}: {} tick(s) missed {}, the latest of {}; misfire: skip", function_, count,
                 why, latest);
    remember(missed.latest);
  }

  void remember(Clock::time_point scheduled) {
    if (state_ != nullptr) {
      state_->record(state_key_, scheduled);
    }
  }

  void tick(Clock::time_point scheduled, Clock::time_point fired) {
    remember(scheduled);
    if (lock_ == nullptr) {
      run_tick(scheduled, fired);
      return;
    }
    // One daemon of the cluster runs the tick: the one that gets its lease.
    lock_->acquire(
        function_, scheduled,
        [this, alive = std::weak_ptr<char>(alive_), scheduled, fired](core::Result<bool> won) {
          if (alive.expired() || stopping_) {
            return;
          }
          if (!won.ok()) {
            skips_lock_unavailable_.inc_unshared();
            spdlog::warn(
                "cron {}: skipping the tick of {}: its lock could not be "
                "taken ({})",
                function_, format_iso8601(scheduled, schedule_.timezone()), won.error().message());
          } else if (!won.value()) {
            skips_locked_.inc_unshared();
            spdlog::debug("cron {}: the tick of {} runs on another daemon", function_,
                          format_iso8601(scheduled, schedule_.timezone()));
          } else {
            run_tick(scheduled, fired);
          }
        });
  }

  void run_tick(Clock::time_point scheduled, Clock::time_point fired) {
    if (in_flight_ > 0) {
      switch (overlap_) {
        case Overlap::kAllow:
          break;
        case Overlap::kSkip:
          skip_overlap(scheduled);
          return;
        case Overlap::kQueue:
          if (pending_) {
            skip_overlap(scheduled);
          } else {
            pending_ = scheduled;
          }
          return;
      }
    }
    dispatch(scheduled, fired);
  }

  void skip_overlap(Clock::time_point scheduled) {
    skips_overlap_.inc_unshared();
    spdlog::warn("cron {}: skipping the tick of {}: the previous one is still running", function_,
                 format_iso8601(scheduled, schedule_.timezone()));
  }

  core::Event make_event(Clock::time_point scheduled, Clock::time_point fired) {
    core::Event event;
    event.id = fmt::format("{}-{}", function_, unix_ms(scheduled));
    event.source = "switchyard/cron";
    event.type = "switchyard.cron.tick";
    event.subject = schedule_.expression();
    event.time = scheduled;
    event.attributes.push_back(
        {"cron.scheduled_time", format_iso8601(scheduled, schedule_.timezone())});
    event.attributes.push_back({"cron.fire_time", format_iso8601(fired, schedule_.timezone())});
    event.attributes.push_back({"cron.schedule", schedule_.expression()});
    if (eventbridge_) {
      event.data = eventbridge_payload(function_, context_.daemon, scheduled);
      event.datacontenttype = "application/json";
    } else {
      event.data = payload_;
    }
    event.synchronous = false;
    // The daemon may destroy a trigger whose ticks are still running (stop_triggers_now()):
    // their completions then find the token expired and touch nothing.
    event.completion = [this, alive = std::weak_ptr<char>(alive_)](core::Event& done,
                                                                   core::Outcome& outcome) {
      if (!alive.expired()) {
        completed(done, outcome);
      }
    };
    return event;
  }

  void dispatch(Clock::time_point scheduled, Clock::time_point fired) {
    // Counted before dispatching: the completion may run inside dispatch().
    ++in_flight_;
    core::Event event = make_event(scheduled, fired);
    auto admission = context_.dispatcher.dispatch(function_, std::move(event));
    switch (admission) {
      case scheduler::Admission::kStarted:
      case scheduler::Admission::kQueued:
        fires_.inc_unshared();
        return;
      case scheduler::Admission::kThrottled:
        --in_flight_;
        skips_throttled_.inc_unshared();
        spdlog::warn("cron {}: skipping the tick of {}: the function is at capacity", function_,
                     format_iso8601(scheduled, schedule_.timezone()));
        break;
      case scheduler::Admission::kRejected:
        --in_flight_;
        skips_rejected_.inc_unshared();
        spdlog::warn("cron {}: skipping the tick of {}: the function is not serving", function_,
                     format_iso8601(scheduled, schedule_.timezone()));
        break;
    }
    maybe_stopped();
  }

  void completed(const core::Event& event, const core::Outcome& outcome) {
    --in_flight_;
    if (!outcome.ok()) {
      spdlog::warn("cron {}: tick {} failed after {} attempt(s): {}: {}{}", function_, event.id,
                   outcome.attempts, outcome.error_type, outcome.error_message,
                   outcome.dead_lettered ? " (dead-lettered)" : "");
    }
    if (pending_ && in_flight_ == 0 && !stopping_) {
      Clock::time_point scheduled = *pending_;
      pending_.reset();
      dispatch(scheduled, clock_->now());
      return;
    }
    maybe_stopped();
  }

  void maybe_stopped() {
    if (stopping_ && in_flight_ == 0 && on_stopped_) {
      auto done = std::move(on_stopped_);
      on_stopped_ = nullptr;
      done();
    }
  }

  TriggerContext& context_;
  std::shared_ptr<CronClock> clock_;
  std::string function_;
  Schedule schedule_;
  std::shared_ptr<CronState> state_;  // Null without a state directory (tests).
  std::shared_ptr<CronLock> lock_;    // Null unless `lock: redis`.
  std::string state_key_;
  bool run_missed_once_;
  Overlap overlap_;
  bool eventbridge_;
  std::string payload_;
  milliseconds jitter_;
  std::unique_ptr<CronClock::Alarm> alarm_;
  core::Counter& fires_;
  core::Counter& skips_overlap_;
  core::Counter& skips_throttled_;
  core::Counter& skips_rejected_;
  core::Counter& skips_misfire_;
  core::Counter& skips_locked_;
  core::Counter& skips_lock_unavailable_;
  core::Histogram& lateness_;

  Clock::time_point next_{};  // The next scheduled tick, before jitter.
  std::size_t in_flight_ = 0;
  std::optional<Clock::time_point> pending_;  // overlap: queue's one waiting tick.
  bool stopping_ = false;
  std::function<void()> on_stopped_;
  std::shared_ptr<char> alive_ = std::make_shared<char>(0);
};

// The system clock, and loop timers that wake within a fraction of a millisecond of their time.
class SystemClock final : public CronClock {
 public:
  Clock::time_point now() const override { return Clock::now(); }

  std::unique_ptr<Alarm> alarm(core::Loop& loop, std::function<void()> callback) override {
    return std::make_unique<TimerAlarm>(loop, std::move(callback));
  }

 private:
  class TimerAlarm final : public Alarm {
   public:
    TimerAlarm(core::Loop& loop, std::function<void()> callback)
        : timer_(loop, std::move(callback)) {}
    // libuv counts whole milliseconds and core::Timer adds one so as never to fire early, which
    // would make every tick up to two milliseconds late: aim a millisecond short instead; the
    // trigger re-arms when woken early, and the last fraction passes in a few loop iterations
    // (under a millisecond of spinning per tick).
    void set(Clock::time_point when) override {
      auto whole = std::chrono::floor<milliseconds>(when - Clock::now());
      timer_.start(whole > milliseconds(1) ? whole - milliseconds(1) : milliseconds(0));
    }
    void cancel() override { timer_.stop(); }

   private:
    core::Timer timer_;
  };
};

}  // namespace

std::shared_ptr<CronClock> system_cron_clock() {
  static const std::shared_ptr<CronClock> clock = std::make_shared<SystemClock>();
  return clock;
}

core::Result<std::vector<TriggerPtr>> build_cron_triggers(const config::Snapshot& snapshot,
                                                          TriggerContext& context,
                                                          std::shared_ptr<CronClock> clock) {
  std::vector<TriggerPtr> triggers;
  std::string errors;
  std::shared_ptr<CronState> state;
  std::shared_ptr<CronLock> lock;
  auto fail = [&errors](const config::TriggerSpec& trigger, const std::string& function,
                        const std::string& message) {
    errors += fmt::format("{}{}:{}:{}: function {}: {}", errors.empty() ? "" : "; ",
                          trigger.location.file, trigger.location.line, trigger.location.column,
                          function, message);
  };
  for (const auto& manifest : snapshot.functions) {
    for (const auto& trigger : manifest.triggers) {
      const auto* spec = trigger.as<CronTriggerSettings>();
      if (spec == nullptr) {
        continue;
      }
      auto schedule = Schedule::parse(spec->schedule, spec->timezone);
      if (!schedule.ok()) {
        fail(trigger, manifest.name,
             fmt::format("schedule \"{}\": {}", spec->schedule, schedule.error().message()));
        continue;
      }
      if (spec->lock == "redis" && lock == nullptr) {
        auto opened = CronLock::open(context.loop, snapshot.daemon.redis, snapshot.daemon.instance);
        if (!opened.ok()) {
          fail(trigger, manifest.name, "lock: redis: " + opened.error().message());
          continue;
        }
        lock = std::move(opened).value();
      }
      if (state == nullptr && !snapshot.daemon.state_dir.empty()) {
        state = std::make_shared<CronState>(context.loop,
                                            snapshot.daemon.state_dir / "cron-state.json");
        std::error_code ec;
        std::filesystem::create_directories(snapshot.daemon.state_dir, ec);
        auto loaded = state->load();
        if (!loaded.ok()) {
          return loaded.error();
        }
      }
      triggers.push_back(
          std::make_unique<CronTrigger>(context, manifest.name, *spec, std::move(schedule).value(),
                                        state, spec->lock == "redis" ? lock : nullptr, clock));
    }
  }
  if (!errors.empty()) {
    return core::Error(core::ErrorCode::kInvalidArgument, errors);
  }
  return triggers;
}

Overdue overdue_ticks(const Schedule& schedule, Clock::time_point from, Clock::time_point now,
                      milliseconds jitter) {
  Overdue out;
  Clock::time_point limit = now - jitter;  // The latest scheduled time that is due.
  if (from > limit) {
    return out;
  }
  if (schedule.is_every()) {
    auto ticks = static_cast<std::uint64_t>((limit - from) / schedule.every()) + 1;
    out.count = std::min(ticks, kMissedCountLimit);
    out.more = ticks > kMissedCountLimit;
    out.latest = from + static_cast<std::int64_t>(ticks - 1) * schedule.every();
    return out;
  }
  Clock::time_point t = schedule.next(from - milliseconds(1));
  while (t <= limit) {
    if (out.count == kMissedCountLimit) {
      out.more = true;
      // Too many to walk: find the latest by looking back from the limit in growing windows.
      for (auto window = std::chrono::minutes(1);; window *= 2) {
        Clock::time_point start = std::max(limit - window, t);
        Clock::time_point found = schedule.next(start - milliseconds(1));
        if (found <= limit) {
          for (Clock::time_point after = schedule.next(found); after <= limit;
               after = schedule.next(after)) {
            found = after;
          }
          out.latest = found;
          return out;
        }
      }
    }
    ++out.count;
    out.latest = t;
    t = schedule.next(t);
  }
  return out;
}

std::chrono::milliseconds jitter_offset(std::string_view function,
                                        std::chrono::milliseconds jitter) {
  if (jitter.count() <= 0) {
    return milliseconds(0);
  }
  auto hash = std::hash<std::string_view>{}(function);
  return milliseconds(
      static_cast<milliseconds::rep>(hash % static_cast<std::size_t>(jitter.count())));
}

void register_cron_trigger(TriggerRegistry& registry) {
  TriggerKind kind;
  kind.manifest.key = "cron";
  kind.manifest.parse = parse_cron_trigger;
  kind.manifest.check = [](const config::Settings& settings, const config::DaemonConfig& daemon) {
    const auto& cron = dynamic_cast<const CronTriggerSettings&>(settings);
    return std::string(cron.lock == "redis" && daemon.redis.url.empty()
                           ? "cron trigger with lock: redis needs redis.url"
                           : "");
  };
  kind.manifest.daemon_section = "redis";
  kind.factory = [](const config::Snapshot& snapshot, TriggerContext& context) {
    return build_cron_triggers(snapshot, context, system_cron_clock());
  };
  auto status = registry.add(std::move(kind));
  (void)status;  // Registered once, at start: a duplicate is a programming error caught in tests.
}

}  // namespace switchyard::triggers::cron
