#include "daemon/daemon.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <thread>

#include "async/async_queue.h"
#include "config/admin.h"
#include "config/loader.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "daemon/admin.h"
#include "daemon/version.h"
#include "environments/plan.h"
#include "environments/zygote.h"
#include "functions/loader.h"
#include "functions/runtime.h"
#include "scheduler/dead_letter.h"
#include "scheduler/scheduler.h"
#include "scheduler/worker_pool.h"
#include "triggers/kafka/client_release.h"
#include "triggers/trigger.h"

namespace switchyard::daemon {

namespace {

// How long the exit waits for Kafka clients still being destroyed.
constexpr std::chrono::milliseconds kClientReleaseWait{5000};

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

// The identity of a code file, to tell at a reload whether it was replaced.
struct FileIdentity {
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = 0;
  std::int64_t mtime_ns = 0;
  bool operator==(const FileIdentity&) const = default;
};

FileIdentity identify(const std::filesystem::path& file) {
  struct stat st {};
  FileIdentity id;
  if (::stat(file.c_str(), &st) == 0) {
    id.device = st.st_dev;
    id.inode = st.st_ino;
    id.size = st.st_size;
    id.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  }
  return id;
}

// The identities of the files a function's code is loaded from.
std::vector<FileIdentity> identify(const config::FunctionManifest& manifest) {
  std::vector<FileIdentity> ids;
  if (manifest.code != nullptr) {
    for (const auto& file : manifest.code->code_files()) {
      ids.push_back(identify(file));
    }
  }
  return ids;
}

// Whether the configuration that the triggers of `kind` read is the same in both snapshots:
// the daemon settings the kind reads, its triggers' settings, and which functions send their
// dead letters to it.
bool same_for_kind(const config::Snapshot& a, const config::Snapshot& b,
                   const triggers::TriggerRegistry& registry, const triggers::TriggerKind& kind) {
  if (kind.same_daemon_settings && !kind.same_daemon_settings(a.daemon, b.daemon)) {
    return false;
  }
  using Uses = std::vector<std::pair<std::string, const config::Settings*>>;
  auto collect = [&](const config::Snapshot& snapshot) {
    Uses uses;
    for (const auto& manifest : snapshot.functions) {
      for (const auto& trigger : manifest.triggers) {
        if (trigger.kind == kind.manifest.key) {
          uses.emplace_back(manifest.name, trigger.settings.get());
        }
      }
      for (const config::DeadLetterSpec* destination : manifest.written_destinations()) {
        if (registry.writer_of(*destination) == &kind) {
          // A destination it writes; a shared asynchronous queue it also reads, by its key.
          uses.emplace_back(destination == &manifest.async.shared
                                ? manifest.name + " async.queue " + destination->target + " " +
                                      std::to_string(manifest.async.claim_after.count())
                                : manifest.name,
                            nullptr);
        }
      }
    }
    return uses;
  };
  Uses before = collect(a);
  Uses after = collect(b);
  return std::equal(before.begin(), before.end(), after.begin(), after.end(),
                    [](const auto& x, const auto& y) {
                      if (x.first != y.first || (x.second == nullptr) != (y.second == nullptr)) {
                        return false;
                      }
                      return x.second == nullptr || x.second->equals(*y.second);
                    });
}

// Whether a function must be loaded again at a reload: its runtime, code, env or config changed.
bool same_code(const config::FunctionManifest& a, const config::FunctionManifest& b) {
  return a.runtime == b.runtime && a.code != nullptr && b.code != nullptr &&
         a.code->equals(*b.code) && a.env == b.env && a.config_json == b.config_json;
}

class Daemon {
 public:
  Daemon(std::shared_ptr<const config::Snapshot> snapshot, const Kinds& kinds)
      : kinds_(kinds),
        pool_(scheduler::PoolOptions{snapshot->daemon.workers, 256, std::chrono::milliseconds(5),
                                     std::chrono::seconds(30)}),
        scheduler_(loop_, pool_, metrics_, dead_letters_, snapshot->daemon.instance),
        reloads_ok_(metrics_.counter("switchyard_reloads_total", "Configuration reloads (SIGHUP).",
                                     {{"result", "ok"}})),
        reloads_rejected_(metrics_.counter("switchyard_reloads_total",
                                           "Configuration reloads (SIGHUP).",
                                           {{"result", "rejected"}})) {
    add_generation(std::move(snapshot));
  }

  ~Daemon() { pool_.stop(); }

  int run() {
    if (!load_functions() || !prepare_functions() || !open_async_queue() || !start_admin() ||
        !start_triggers()) {
      stop_triggers_now();
      return 1;
    }
    if (admin_) {
      admin_->set_ready(true);
    }
    install_signals();
    start_watchdog();
    metrics_
        .gauge("switchyard_build_info", "Build information.",
               {{"version", kVersion}, {"build_type", kBuildType}})
        .set(1);
    spdlog::info("switchyard {} ready: {} function(s), {} trigger(s), {} worker thread(s)",
                 kVersion, snapshot().functions.size(), triggers_.size(),
                 snapshot().daemon.workers);
    sd_notifyf(0, "READY=1\nSTATUS=serving %zu function(s)\nMAINPID=%d",
               snapshot().functions.size(), static_cast<int>(getpid()));
    // `systemctl status` shows live counts.
    status_timer_ = std::make_unique<core::Timer>(loop_, [this] {
      sd_notifyf(0, "STATUS=%s%zu function(s), %zu event(s) in progress, %zu busy thread(s)",
                 stopping_ ? "draining: " : "", snapshot().functions.size(),
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
    // Kafka clients are destroyed off the loop (triggers/kafka/client_release.h); with no
    // invocation running, none still has a message out, and this takes milliseconds.
    if (!triggers::kafka::await_released_clients(kClientReleaseWait)) {
      spdlog::warn("a Kafka client was not destroyed within {}ms; exiting without it",
                   kClientReleaseWait.count());
      spdlog::default_logger()->flush();
      std::_Exit(exit_code_);
    }
    spdlog::info("switchyard stopped");
    return exit_code_;
  }

 private:
  // A configuration the daemon has run. Triggers built from it refer to it, so every
  // generation stays for the daemon's life (a reload adds a few kilobytes).
  struct Generation {
    std::shared_ptr<const config::Snapshot> snapshot;
    std::unique_ptr<triggers::TriggerContext> context;
  };
  // A loaded function implementation and what it was loaded from.
  struct Loaded {
    functions::FunctionPtr function;
    std::vector<FileIdentity> identity;
    config::FunctionManifest manifest;
  };
  struct KindTrigger {
    std::string kind;
    triggers::TriggerPtr trigger;
  };

  const config::Snapshot& snapshot() const { return *generations_.back()->snapshot; }
  triggers::TriggerContext& context() { return *generations_.back()->context; }

  void add_generation(std::shared_ptr<const config::Snapshot> snapshot) {
    auto generation = std::make_unique<Generation>();
    generation->context = std::make_unique<triggers::TriggerContext>(
        triggers::TriggerContext{loop_, scheduler_, metrics_, snapshot->daemon, dead_letters_,
                                 async_queue_.get(), async_queue_.get()});
    generation->snapshot = std::move(snapshot);
    generations_.push_back(std::move(generation));
  }

  core::Result<Loaded> load_function(const config::FunctionManifest& manifest) {
    Loaded loaded;
    loaded.identity = identify(manifest);
    functions::LoadOptions options;
    options.scratch_dir = scratch_dir(snapshot().daemon);
    options.state_dir = snapshot().daemon.state_dir;
    options.loop = &loop_;
    options.metrics = &metrics_;
    options.region = snapshot().daemon.region;
    options.account_id = snapshot().daemon.account_id;
    options.zygote = zygote_;
    auto function = functions::load(kinds_.runtimes, manifest, options);
    if (!function.ok()) {
      return function.error();
    }
    loaded.function = std::move(function).value();
    loaded.manifest = manifest;
    return loaded;
  }

  bool load_functions() {
    bool ok = true;
    for (const auto& manifest : snapshot().functions) {
      auto loaded = load_function(manifest);
      if (!loaded.ok()) {
        spdlog::error("{}", loaded.error().message());
        ok = false;
        continue;
      }
      scheduler_.upsert(manifest, loaded.value().function);
      loaded_[manifest.name] = std::move(loaded).value();
      spdlog::info("loaded function {} ({} {}; concurrency {}, queue {}, timeout {}ms)",
                   manifest.name, manifest.runtime, manifest.code->describe(), manifest.concurrency,
                   manifest.queue, manifest.timeout.count());
    }
    return ok;
  }

  // Gets every function ready before the triggers start: an execution environment's init runs
  // now, and one that fails refuses the start as a library whose init fails does.
  bool prepare_functions() {
    std::size_t pending = loaded_.size();
    bool ok = true;
    for (auto& [name, loaded] : loaded_) {
      loaded.function->prepare([&pending, &ok, name = name](core::Status status) {
        if (!status.ok()) {
          spdlog::error("{}", status.error().message());
          ok = false;
        }
        --pending;
      });
    }
    while (pending > 0 && loop_.run_once()) {
    }
    return ok && pending == 0;
  }

  // The durable queue of asynchronous invocations (state_dir/async-queue.db): opened before the
  // triggers start, and what a crash or a stop left in it is taken up.
  bool open_async_queue() {
    const config::DaemonConfig& daemon = snapshot().daemon;
    std::error_code ec;
    std::filesystem::create_directories(daemon.state_dir, ec);
    if (ec) {
      spdlog::error("cannot create state_dir {}: {}", daemon.state_dir.string(), ec.message());
      return false;
    }
    async::QueueStore::Options options;
    options.max_file_bytes = daemon.limits.max_async_queue_file;
    options.reserve_bytes = daemon.limits.async_queue_reserve;
    auto opened = async::AsyncQueue::open(loop_, scheduler_, dead_letters_, metrics_,
                                          daemon.state_dir / "async-queue.db", options);
    if (!opened.ok()) {
      spdlog::error("{}", opened.error().message());
      return false;
    }
    async_queue_ = std::move(opened).value();
    context().async_invocations = async_queue_.get();
    context().shared_async = async_queue_.get();
    async_queue_->configure(snapshot().functions, snapshot().daemon.region,
                            snapshot().daemon.account_id);
    auto recovered = async_queue_->recover();
    if (!recovered.ok()) {
      spdlog::error("{}", recovered.error().message());
      return false;
    }
    return true;
  }

  bool start_admin() {
    if (!snapshot().daemon.admin.enabled) {
      return true;
    }
    admin_ = std::make_unique<AdminListener>(loop_, snapshot(), scheduler_, metrics_,
                                             async_queue_.get());
    auto status = admin_->listen();
    if (!status.ok()) {
      spdlog::error("cannot start the admin listener: {}", status.error().message());
      return false;
    }
    const config::AdminListenerConfig& admin = snapshot().daemon.admin;
    spdlog::info("admin listening on {}:{}", admin.address, admin_->port());
    if (admin.authenticated()) {
      spdlog::info(
          "admin: the Lambda API and /functions take requests signed by {} key(s) "
          "(Signature Version 4)",
          admin.keys.size());
    }
    if (!admin.authenticated() && !config::is_loopback(admin.address)) {
      spdlog::warn(
          "admin.insecure: the admin listener on {} has no keys: anyone who reaches it can "
          "invoke every function and read every function's environment",
          admin.address);
    }
    return true;
  }

  // The trigger kinds a snapshot needs, with how many triggers (0: only a dead-letter writer).
  std::map<std::string, int> wanted_kinds(const config::Snapshot& snapshot) {
    std::map<std::string, int> wanted;
    for (const auto& manifest : snapshot.functions) {
      for (const auto& trigger : manifest.triggers) {
        ++wanted[trigger.kind];
      }
      // The kind that writes a destination runs its writer even without triggers.
      for (const config::DeadLetterSpec* destination : manifest.written_destinations()) {
        if (const triggers::TriggerKind* writer = kinds_.triggers.writer_of(*destination)) {
          wanted.try_emplace(writer->manifest.key, 0);
        }
      }
    }
    return wanted;
  }

  // Builds and starts the triggers of `kind` from the current generation.
  bool start_kind(const std::string& kind, int count) {
    const triggers::TriggerKind* registered = kinds_.triggers.find(kind);
    if (registered == nullptr) {
      // The loader refuses kinds it was not given: only a snapshot loaded with other kinds
      // than the daemon's gets here. Nothing it names would be served: refuse to start.
      spdlog::error("{} {} trigger(s) configured, but no \"{}\" trigger kind is registered", count,
                    kind, kind);
      return false;
    }
    auto built = registered->factory(snapshot(), context());
    if (!built.ok()) {
      spdlog::error("cannot set up the {} triggers: {}", kind, built.error().message());
      return false;
    }
    for (auto& trigger : built.value()) {
      auto started = trigger->start();
      if (!started.ok()) {
        spdlog::error("cannot start {}: {}", trigger->describe(), started.error().message());
        // Stopped (not just dropped) so that whatever it opened is closed in order.
        retire(std::move(trigger));
        return false;
      }
      spdlog::info("started {}", trigger->describe());
      triggers_.push_back(KindTrigger{kind, std::move(trigger)});
    }
    return true;
  }

  bool start_triggers() {
    for (const auto& [kind, count] : wanted_kinds(snapshot())) {
      if (!start_kind(kind, count)) {
        return false;
      }
    }
    return true;
  }

  void stop_triggers_now() {
    for (auto& entry : triggers_) {
      entry.trigger->stop([] {});
    }
    triggers_.clear();
  }

  // Stops a trigger that a reload replaced; it goes once everything it took is answered.
  void retire(triggers::TriggerPtr trigger) {
    std::size_t id = next_retired_id_++;
    triggers::Trigger* raw = trigger.get();
    retiring_.emplace(id, std::move(trigger));
    raw->stop([this, id] {
      // Not destroyed inside its own callback.
      loop_.defer([this, id] {
        if (retiring_.erase(id) > 0 && stopping_) {
          trigger_stopped();
        }
      });
    });
  }

  // ---- Reload ----------------------------------------------------------------------------

  void reload() {
    if (stopping_) {
      spdlog::warn("SIGHUP while draining: ignored");
      return;
    }
    if (reloading_) {
      // The one under way reads the files as they are now... unless they changed since it
      // read them: run once more when it is done.
      spdlog::info("SIGHUP while a reload gets its functions ready: reloading again after it");
      reload_again_ = true;
      return;
    }
    auto now = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now().time_since_epoch());
    sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%lld\nSTATUS=reloading",
               static_cast<long long>(now.count()));
    spdlog::info("SIGHUP: reloading {}", snapshot().daemon.config_path.string());
    // New environments come from a new zygote: switchyard-environment as it is on disk now.
    zygote_->renew();
    auto staged = stage_reload(snapshot());
    if (!staged) {
      end_reload(false);
      return;
    }
    // New and changed functions get ready (an environment's init) before anything changes;
    // one that fails rejects the whole reload, as a library whose init fails does.
    reloading_ = true;
    auto pending = std::make_shared<std::size_t>(staged->fresh.size() + 1);
    auto errors = std::make_shared<std::vector<std::string>>();
    auto state = std::make_shared<StagedReload>(std::move(*staged));
    auto one_ready = [this, pending, errors, state](core::Status status) {
      if (!status.ok()) {
        errors->push_back(status.error().message());
      }
      if (--*pending > 0) {
        return;
      }
      reloading_ = false;
      bool applied = false;
      if (stopping_) {
        spdlog::warn("reload abandoned: the daemon is draining");
      } else if (!errors->empty()) {
        reject_reload(*errors);
      } else {
        apply_reload(*state);
        applied = true;
      }
      end_reload(applied);
    };
    for (const std::string& name : state->fresh) {
      state->loaded.at(name).function->prepare(one_ready);
    }
    one_ready(core::Status::ok_status());
  }

  void end_reload(bool applied) {
    (applied ? reloads_ok_ : reloads_rejected_).inc();
    sd_notifyf(0, "READY=1\nSTATUS=serving %zu function(s)", snapshot().functions.size());
    if (std::exchange(reload_again_, false) && !stopping_) {
      loop_.defer([this] { reload(); });
    }
  }

  static void reject_reload(const std::vector<std::string>& errors) {
    for (const auto& error : errors) {
      spdlog::error("reload: {}", error);
    }
    spdlog::error("reload rejected: {} error(s); still running the previous configuration",
                  errors.size());
  }

  // A reload read and loaded, not yet applied.
  struct StagedReload {
    std::shared_ptr<const config::Snapshot> next;
    std::map<std::string, Loaded> loaded;
    std::vector<std::string> fresh;  // Loaded anew: added or swapped.
    std::vector<std::string> added;
    std::vector<std::string> swapped;
  };

  // Reads the configuration again and loads every new or changed function; nullopt (the
  // errors logged) when the reload is rejected.
  std::optional<StagedReload> stage_reload(const config::Snapshot& old) {
    auto result = config::load(old.daemon.config_path, kinds_.manifest);
    if (!result.ok()) {
      std::vector<std::string> errors;
      for (const auto& error : result.errors) {
        errors.push_back(error.to_string());
      }
      reject_reload(errors);
      return std::nullopt;
    }
    StagedReload staged;
    staged.next = std::make_shared<const config::Snapshot>(std::move(*result.snapshot));
    std::vector<std::string> errors = kinds_.triggers.check(*staged.next);
    if (!errors.empty()) {
      reject_reload(errors);
      return std::nullopt;
    }
    // Every new or changed library is loaded before anything changes: one that fails rejects
    // the whole reload.
    for (const auto& manifest : staged.next->functions) {
      auto it = loaded_.find(manifest.name);
      if (it != loaded_.end() && same_code(it->second.manifest, manifest) &&
          it->second.identity == identify(manifest)) {
        Loaded same = it->second;
        same.manifest = manifest;
        staged.loaded.emplace(manifest.name, std::move(same));
        continue;
      }
      auto fresh = load_function(manifest);
      if (!fresh.ok()) {
        errors.push_back(fresh.error().message());
        continue;
      }
      (it == loaded_.end() ? staged.added : staged.swapped).push_back(manifest.name);
      staged.fresh.push_back(manifest.name);
      staged.loaded.emplace(manifest.name, std::move(fresh).value());
    }
    if (!errors.empty()) {
      reject_reload(errors);
      return std::nullopt;
    }
    return staged;
  }

  void apply_reload(StagedReload& staged) {
    const config::Snapshot& old = snapshot();
    std::shared_ptr<const config::Snapshot> next = staged.next;
    std::map<std::string, Loaded>& loaded = staged.loaded;
    std::vector<std::string>& added = staged.added;
    std::vector<std::string>& swapped = staged.swapped;
    warn_restart_only(old.daemon, next->daemon);

    // Functions: limits change in place; a new version takes new events while the old one
    // finishes what it started; removed functions finish what they accepted.
    std::vector<std::string> removed;
    for (const auto& [name, entry] : loaded_) {
      if (loaded.find(name) == loaded.end()) {
        scheduler_.remove(name);
        removed.push_back(name);
      }
    }
    for (const auto& [name, entry] : loaded) {
      scheduler_.upsert(entry.manifest, entry.function);
    }
    loaded_ = std::move(loaded);
    if (async_queue_) {
      async_queue_->configure(next->functions, next->daemon.region, next->daemon.account_id);
    }
    if (old.daemon.logging.level != next->daemon.logging.level) {
      spdlog::set_level(spdlog::level::from_str(next->daemon.logging.level));
      spdlog::info("log level is now {}", next->daemon.logging.level);
    }

    std::shared_ptr<const config::Snapshot> previous = generations_.back()->snapshot;
    add_generation(next);
    if (admin_) {
      admin_->set_snapshot(snapshot());
    }
    rebind_triggers(*previous);

    auto list = [](const std::vector<std::string>& names) {
      std::string text;
      for (const auto& name : names) {
        text += (text.empty() ? "" : ", ") + name;
      }
      return text.empty() ? std::string("none") : text;
    };
    spdlog::info("reloaded: {} function(s); added: {}; new version: {}; removed: {}",
                 snapshot().functions.size(), list(added), list(swapped), list(removed));
  }

  // Triggers follow the new configuration: a kind whose configuration did not change keeps
  // its triggers; otherwise they update in place when they can (HTTP routes) or are stopped
  // (finishing what they took) and replaced.
  void rebind_triggers(const config::Snapshot& previous) {
    std::map<std::string, int> kinds = wanted_kinds(snapshot());
    for (const auto& entry : triggers_) {
      kinds.try_emplace(entry.kind, 0);
    }
    for (const auto& [kind, count] : kinds) {
      const triggers::TriggerKind* registered = kinds_.triggers.find(kind);
      if (registered != nullptr &&
          same_for_kind(previous, snapshot(), kinds_.triggers, *registered)) {
        continue;
      }
      std::vector<triggers::TriggerPtr> existing;
      for (auto it = triggers_.begin(); it != triggers_.end();) {
        if (it->kind == kind) {
          existing.push_back(std::move(it->trigger));
          it = triggers_.erase(it);
        } else {
          ++it;
        }
      }
      bool updated = !existing.empty();
      for (auto& trigger : existing) {
        updated = updated && trigger->update(snapshot());
      }
      if (updated) {
        for (auto& trigger : existing) {
          triggers_.push_back(KindTrigger{kind, std::move(trigger)});
        }
        continue;
      }
      // Stopped first, so that what they keep (offsets, cron state) is saved before their
      // replacements read it.
      for (auto& trigger : existing) {
        spdlog::info("reload: stopping {}", trigger->describe());
        retire(std::move(trigger));
      }
      if (!start_kind(kind, count)) {
        spdlog::error(
            "reload: the {} triggers could not start with the new configuration; "
            "they stay stopped until the next reload or restart",
            kind);
      }
    }
  }

  static void warn_restart_only(const config::DaemonConfig& old, const config::DaemonConfig& next) {
    auto warn = [](const char* what) {
      spdlog::warn("reload: {} changed; that takes effect at the next restart", what);
    };
    // Its keys apply at once (each request reads them from the current snapshot).
    auto listener = [](config::AdminListenerConfig admin) {
      admin.keys.clear();
      return admin;
    };
    if (!(listener(old.admin) == listener(next.admin))) {
      warn("admin");
    }
    if (old.workers != next.workers) {
      warn("workers");
    }
    if (old.instance != next.instance) {
      warn("instance");
    }
    if (old.state_dir != next.state_dir) {
      warn("state_dir");
    }
    if (!(old.limits == next.limits)) {
      warn("limits");
    }
    if (old.logging.format != next.logging.format) {
      warn("logging.format");
    }
  }

  // ---- Signals and shutdown --------------------------------------------------------------

  void install_signals() {
    auto on_stop = [this](const char* name) {
      if (stopping_) {
        spdlog::warn("{} again: exiting now without draining", name);
        spdlog::default_logger()->flush();
        std::_Exit(1);
      }
      spdlog::info("{}: draining (up to {}ms)", name,
                   snapshot().daemon.limits.shutdown_timeout.count());
      begin_shutdown();
    };
    signals_.push_back(std::make_unique<core::Signal>(loop_, SIGTERM, [=] { on_stop("SIGTERM"); }));
    signals_.push_back(std::make_unique<core::Signal>(loop_, SIGINT, [=] { on_stop("SIGINT"); }));
    signals_.push_back(std::make_unique<core::Signal>(loop_, SIGHUP, [this] { reload(); }));
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
    if (async_queue_) {
      // What has not started stays in the durable queue for the next start.
      async_queue_->stop();
    }
    if (admin_) {
      admin_->set_draining();
    }
    shutdown_timer_ = std::make_unique<core::Timer>(loop_, [this] {
      spdlog::warn(
          "shutdown_timeout reached with {} event(s) unfinished; they are not "
          "acknowledged and will be delivered again",
          scheduler_.outstanding());
      scheduler_.abandon();
      // Not a clean drain: say so to systemd and to whoever reads the exit status.
      exit_code_ = 1;
      finish();
    });
    shutdown_timer_->start(snapshot().daemon.limits.shutdown_timeout);
    // Triggers a reload replaced are still stopping: they count too.
    pending_trigger_stops_ = triggers_.size() + retiring_.size();
    if (pending_trigger_stops_ == 0) {
      drain_scheduler();
      return;
    }
    for (auto& entry : triggers_) {
      entry.trigger->stop([this] { trigger_stopped(); });
    }
  }

  void trigger_stopped() {
    if (pending_trigger_stops_ > 0 && --pending_trigger_stops_ == 0) {
      drain_scheduler();
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
      retiring_.clear();
      admin_.reset();
      signals_.clear();
      watchdog_.reset();
      status_timer_.reset();
      if (async_queue_) {
        async_queue_->close();
      }
      stop_functions([this] {
        // Dead-letter writers close last: a drained scheduler no longer writes to them.
        dead_letters_.close([this] {
          shutdown_timer_.reset();
          loop_.stop();
        });
      });
    });
  }

  // Stops what the functions keep running (execution environments), then calls `done`.
  void stop_functions(std::function<void()> done) {
    auto pending = std::make_shared<std::size_t>(loaded_.size() + 1);
    auto one_stopped = [pending, done = std::move(done)] {
      if (--*pending == 0) {
        done();
      }
    };
    for (auto& [name, loaded] : loaded_) {
      loaded.function->stop(one_stopped);
    }
    one_stopped();
  }

  const Kinds& kinds_;
  core::Loop loop_;
  core::MetricsRegistry metrics_;
  // Starts every function's environments (the functions share it); started at the first.
  std::shared_ptr<environments::Zygote> zygote_ = std::make_shared<environments::Zygote>(
      loop_, environments::environment_program(functions::LoadOptions()));
  scheduler::DeadLetterRouter dead_letters_;
  scheduler::WorkerPool pool_;
  scheduler::Scheduler scheduler_;
  std::unique_ptr<async::AsyncQueue> async_queue_;  // Before the triggers and admin that use it.
  std::vector<std::unique_ptr<Generation>> generations_;
  std::map<std::string, Loaded> loaded_;
  std::unique_ptr<AdminListener> admin_;
  std::vector<KindTrigger> triggers_;
  std::map<std::size_t, triggers::TriggerPtr> retiring_;
  std::size_t next_retired_id_ = 1;
  std::vector<std::unique_ptr<core::Signal>> signals_;
  std::unique_ptr<core::Timer> watchdog_;
  std::unique_ptr<core::Timer> status_timer_;
  std::unique_ptr<core::Timer> shutdown_timer_;
  core::Counter& reloads_ok_;
  core::Counter& reloads_rejected_;
  std::size_t pending_trigger_stops_ = 0;
  bool stopping_ = false;
  bool reloading_ = false;     // A reload waits for its functions to get ready.
  bool reload_again_ = false;  // SIGHUP came meanwhile.
  bool finished_ = false;
  int exit_code_ = 0;
};

}  // namespace

int run_daemon(const config::Snapshot& snapshot, const Kinds& kinds) {
  Daemon daemon(std::make_shared<const config::Snapshot>(snapshot), kinds);
  return daemon.run();
}

}  // namespace switchyard::daemon
