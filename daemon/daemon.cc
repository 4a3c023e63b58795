#include "daemon/daemon.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "daemon/admin.h"
#include "daemon/version.h"
#include "functions/loader.h"
#include "scheduler/dead_letter.h"
#include "scheduler/scheduler.h"
#include "scheduler/worker_pool.h"
#include "triggers/trigger.h"

namespace switchyard::daemon {

namespace {

std::filesystem::path scratch_dir(const config::DaemonConfig& daemon) {
  // Private copies of function libraries go under the state directory (it must allow exec);
  // the system temp directory is the fallback when it cannot be created.
  std::error_code ec;
  std::filesystem::path dir = daemon.state_dir / "lib";
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    spdlog::warn("cannot create {} ({}); function copies go to {}", dir.string(), ec.message(),
                 std::filesystem::temp_directory_path().string());
    return std::filesystem::temp_directory_path();
  }
  return dir;
}

class Daemon {
 public:
  explicit Daemon(const config::Snapshot& snapshot)
      : snapshot_(snapshot),
        pool_(scheduler::PoolOptions{snapshot.daemon.workers, 256, std::chrono::milliseconds(5),
                                     std::chrono::seconds(30)}),
        scheduler_(loop_, pool_, metrics_, dead_letters_, snapshot.daemon.instance),
        trigger_context_{loop_, scheduler_, metrics_, snapshot_.daemon, dead_letters_} {}

  ~Daemon() { pool_.stop(); }

  int run() {
    if (!load_functions() || !start_admin() || !start_triggers()) {
      stop_triggers_now();
      return 1;
    }
    if (admin_) {
      admin_->set_ready(true);
    }
    install_signals();
    start_watchdog();
    metrics_.gauge("switchyard_build_info", "Build information.",
                   {{"version", kVersion}, {"build_type", kBuildType}})
        .set(1);
    spdlog::info("switchyard {} ready: {} function(s), {} trigger(s), {} worker thread(s)",
                 kVersion, snapshot_.functions.size(), triggers_.size(),
                 snapshot_.daemon.workers);
    sd_notifyf(0, "READY=1\nSTATUS=serving %zu function(s)\nMAINPID=%d",
               snapshot_.functions.size(), static_cast<int>(getpid()));
    // `systemctl status` shows live counts.
    status_timer_ = std::make_unique<core::Timer>(loop_, [this] {
      sd_notifyf(0, "STATUS=%s%zu function(s), %zu event(s) in progress, %zu busy thread(s)",
                 stopping_ ? "draining: " : "", snapshot_.functions.size(),
                 scheduler_.outstanding(), scheduler_.busy_threads());
    });
    status_timer_->start(std::chrono::seconds(5), std::chrono::seconds(5));
    status_timer_->unref();
    loop_.run();

    if (scheduler_.busy_threads() > 0) {
      // Hung invocations cannot be interrupted; their events were not acknowledged, so their
      // sources deliver them again. Leave without joining their threads.
      spdlog::warn("{} invocation(s) still running after shutdown_timeout; exiting without them",
                   scheduler_.busy_threads());
      spdlog::default_logger()->flush();
      std::_Exit(exit_code_);
    }
    spdlog::info("switchyard stopped");
    return exit_code_;
  }

 private:
  bool load_functions() {
    auto scratch = scratch_dir(snapshot_.daemon);
    bool ok = true;
    for (const auto& manifest : snapshot_.functions) {
      auto loaded = functions::LibraryFunction::load(manifest, functions::LoadOptions{scratch});
      if (!loaded.ok()) {
        spdlog::error("{}", loaded.error().message());
        ok = false;
        continue;
      }
      scheduler_.upsert(manifest, std::move(loaded).value());
      spdlog::info("loaded function {} from {} (concurrency {}, queue {}, timeout {}ms)",
                   manifest.name, manifest.library.string(), manifest.concurrency,
                   manifest.queue, manifest.timeout.count());
    }
    return ok;
  }

  bool start_admin() {
    if (!snapshot_.daemon.admin.enabled) {
      return true;
    }
    admin_ = std::make_unique<AdminListener>(loop_, snapshot_, scheduler_, metrics_);
    auto status = admin_->listen();
    if (!status.ok()) {
      spdlog::error("cannot start the admin listener: {}", status.error().message());
      return false;
    }
    spdlog::info("admin listening on {}:{}", snapshot_.daemon.admin.address, admin_->port());
    return true;
  }

  bool start_triggers() {
    triggers::TriggerRegistry registry;
    triggers::register_builtin_triggers(registry);
    std::map<std::string, int> wanted;
    for (const auto& manifest : snapshot_.functions) {
      for (const auto& trigger : manifest.triggers) {
        ++wanted[std::string(triggers::trigger_kind(trigger))];
      }
      // The source of a dead-letter destination runs its writer even without triggers.
      std::string_view sink = scheduler::DeadLetterRouter::kind_of(manifest.dead_letter);
      if (!sink.empty()) {
        wanted.try_emplace(std::string(sink), 0);
      }
    }
    for (const auto& [kind, count] : wanted) {
      const triggers::TriggerFactory* factory = registry.find(kind);
      if (factory == nullptr) {
        spdlog::warn("{} {} trigger(s) or dead-letter destination(s) configured, but this build "
                     "has no {} source yet: they are not served",
                     count, kind, kind);
        continue;
      }
      auto built = (*factory)(snapshot_, trigger_context_);
      if (!built.ok()) {
        spdlog::error("cannot set up the {} triggers: {}", kind, built.error().message());
        return false;
      }
      for (auto& trigger : built.value()) {
        auto started = trigger->start();
        if (!started.ok()) {
          spdlog::error("cannot start {}: {}", trigger->describe(), started.error().message());
          return false;
        }
        spdlog::info("started {}", trigger->describe());
        triggers_.push_back(std::move(trigger));
      }
    }
    return true;
  }

  void stop_triggers_now() {
    for (auto& trigger : triggers_) {
      trigger->stop([] {});
    }
    triggers_.clear();
  }

  void install_signals() {
    auto on_stop = [this](const char* name) {
      if (stopping_) {
        spdlog::warn("{} again: exiting now without draining", name);
        spdlog::default_logger()->flush();
        std::_Exit(1);
      }
      spdlog::info("{}: draining (up to {}ms)", name,
                   snapshot_.daemon.limits.shutdown_timeout.count());
      begin_shutdown();
    };
    signals_.push_back(std::make_unique<core::Signal>(loop_, SIGTERM, [=] { on_stop("SIGTERM"); }));
    signals_.push_back(std::make_unique<core::Signal>(loop_, SIGINT, [=] { on_stop("SIGINT"); }));
    signals_.push_back(std::make_unique<core::Signal>(loop_, SIGHUP, [] {
      spdlog::warn("SIGHUP: reloading is not supported by this version; restart to apply changes");
    }));
  }

  void start_watchdog() {
    std::uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) {
      return;
    }
    // Pinged from the loop itself, so a stuck loop stops the pings and systemd restarts us.
    watchdog_ = std::make_unique<core::Timer>(loop_, [] { sd_notify(0, "WATCHDOG=1"); });
    auto interval = std::chrono::milliseconds(std::max<std::uint64_t>(usec / 2000, 1));
    watchdog_->start(interval, interval);
  }

  void begin_shutdown() {
    stopping_ = true;
    sd_notify(0, "STOPPING=1");
    if (admin_) {
      admin_->set_draining();
    }
    shutdown_timer_ = std::make_unique<core::Timer>(loop_, [this] {
      spdlog::warn("shutdown_timeout reached with {} event(s) unfinished; they are not "
                   "acknowledged and will be delivered again",
                   scheduler_.outstanding());
      scheduler_.abandon();
      // Not a clean drain: say so to systemd and to whoever reads the exit status.
      exit_code_ = 1;
      finish();
    });
    shutdown_timer_->start(snapshot_.daemon.limits.shutdown_timeout);
    pending_trigger_stops_ = triggers_.size();
    if (pending_trigger_stops_ == 0) {
      drain_scheduler();
      return;
    }
    for (auto& trigger : triggers_) {
      trigger->stop([this] {
        if (--pending_trigger_stops_ == 0) {
          drain_scheduler();
        }
      });
    }
  }

  void drain_scheduler() {
    scheduler_.drain([this] { finish(); });
  }

  void finish() {
    if (finished_) {
      return;
    }
    finished_ = true;
    // Everything that keeps the loop alive goes; anything still pending ends with the loop.
    loop_.defer([this] {
      triggers_.clear();
      admin_.reset();
      signals_.clear();
      watchdog_.reset();
      status_timer_.reset();
      // Dead-letter writers close last: a drained scheduler no longer writes to them.
      dead_letters_.close([this] {
        shutdown_timer_.reset();
        loop_.stop();
      });
    });
  }

  const config::Snapshot& snapshot_;
  core::Loop loop_;
  core::MetricsRegistry metrics_;
  scheduler::DeadLetterRouter dead_letters_;
  scheduler::WorkerPool pool_;
  scheduler::Scheduler scheduler_;
  triggers::TriggerContext trigger_context_;
  std::unique_ptr<AdminListener> admin_;
  std::vector<triggers::TriggerPtr> triggers_;
  std::vector<std::unique_ptr<core::Signal>> signals_;
  std::unique_ptr<core::Timer> watchdog_;
  std::unique_ptr<core::Timer> status_timer_;
  std::unique_ptr<core::Timer> shutdown_timer_;
  std::size_t pending_trigger_stops_ = 0;
  bool stopping_ = false;
  bool finished_ = false;
  int exit_code_ = 0;
};

}  // namespace

int run_daemon(const config::Snapshot& snapshot) {
  Daemon daemon(snapshot);
  return daemon.run();
}

}  // namespace switchyard::daemon
