#include "daemon/commands.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include "config/loader.h"
#include "core/ids.h"
#include "core/log.h"
#include "core/time.h"
#include "daemon/kinds.h"
#include "functions/runtime.h"
#include "triggers/cron/schedule.h"

namespace switchyard::daemon {

namespace {

void print_errors(const config::LoadResult& result, std::ostream& err) {
  for (const auto& error : result.errors) {
    err << error.to_string() << '\n';
  }
  err << result.errors.size() << (result.errors.size() == 1 ? " error" : " errors") << '\n';
}

std::string json_error(std::string_view type, std::string_view message) {
  std::string out = "{\"errorType\":\"";
  core::append_json_escaped(out, type);
  out += "\",\"errorMessage\":\"";
  core::append_json_escaped(out, message);
  out += "\"}";
  return out;
}

}  // namespace

int validate_command(const std::filesystem::path& config_file, std::ostream& out,
                     std::ostream& err) {
  const Kinds& registered = builtin_kinds();
  auto result = config::load(config_file, registered.manifest);
  if (!result.ok()) {
    print_errors(result, err);
    return 1;
  }
  // What needs the whole snapshot: conflicting routes, librdkafka's check of its properties.
  std::vector<std::string> problems = registered.triggers.check(*result.snapshot);
  if (!problems.empty()) {
    for (const auto& problem : problems) {
      err << problem << '\n';
    }
    err << problems.size() << (problems.size() == 1 ? " error" : " errors") << '\n';
    return 1;
  }
  std::map<std::string, int> kinds;
  std::size_t triggers = 0;
  for (const auto& function : result.snapshot->functions) {
    for (const auto& trigger : function.triggers) {
      ++kinds[trigger.kind];
      ++triggers;
    }
  }
  std::string breakdown;
  for (const auto& [kind, count] : kinds) {
    breakdown += fmt::format("{}{} {}", breakdown.empty() ? "" : ", ", count, kind);
  }
  out << fmt::format("{}: ok: {} function{}, {} trigger{}{}\n", config_file.string(),
                     result.snapshot->functions.size(),
                     result.snapshot->functions.size() == 1 ? "" : "s", triggers,
                     triggers == 1 ? "" : "s", breakdown.empty() ? "" : " (" + breakdown + ")");
  return 0;
}

int invoke_command(const InvokeOptions& options, std::ostream& out, std::ostream& err) {
  const Kinds& registered = builtin_kinds();
  auto result = config::load(options.config_file, registered.manifest);
  if (!result.ok()) {
    print_errors(result, err);
    return 2;
  }
  const config::FunctionManifest* manifest = nullptr;
  for (const auto& function : result.snapshot->functions) {
    if (function.name == options.function) {
      manifest = &function;
    }
  }
  if (manifest == nullptr) {
    std::string known;
    for (const auto& function : result.snapshot->functions) {
      known += (known.empty() ? "" : ", ") + function.name;
    }
    err << fmt::format("no function named \"{}\" in {} (known: {})\n", options.function,
                       options.config_file.string(), known.empty() ? "none" : known);
    return 2;
  }

  core::Event event;
  if (options.data) {
    event.data = *options.data;
  } else if (options.data_file) {
    if (*options.data_file == "-") {
      event.data.assign(std::istreambuf_iterator<char>(std::cin), {});
    } else {
      std::ifstream file(*options.data_file, std::ios::binary);
      if (!file) {
        err << fmt::format("cannot read --data-file {}\n", *options.data_file);
        return 2;
      }
      event.data.assign(std::istreambuf_iterator<char>(file), {});
    }
  }
  event.id = core::random_uuid();
  event.source = "switchyard/invoke";
  event.type = "switchyard.invoke";
  event.time = std::chrono::system_clock::now();
  event.datacontenttype = "application/json";
  event.synchronous = true;

  // A function in execution environments is served by this loop, as the daemon's serves it.
  core::Loop loop;
  core::MetricsRegistry metrics;
  functions::LoadOptions load_options;
  load_options.loop = &loop;
  load_options.metrics = &metrics;
  load_options.region = result.snapshot->daemon.region;
  load_options.account_id = result.snapshot->daemon.account_id;
  // The config's state directory when it exists and this user may write there (unpacked
  // packages, the function's scratch folder); else the runtime's fallback in the temp directory.
  std::error_code state_error;
  if (std::filesystem::is_directory(result.snapshot->daemon.state_dir, state_error) &&
      ::access(result.snapshot->daemon.state_dir.c_str(), W_OK) == 0) {
    load_options.state_dir = result.snapshot->daemon.state_dir;
  }
  auto loaded = functions::load(registered.runtimes, *manifest, load_options);
  if (!loaded.ok()) {
    err << loaded.error().message() << '\n';
    return 2;
  }
  functions::FunctionPtr function = std::move(loaded).value();

  std::atomic<bool> cancelled{false};
  std::string request_id = core::random_uuid();
  functions::InvocationContext ctx;
  ctx.request_id = request_id;
  ctx.function_name = manifest->name;
  ctx.cancelled = &cancelled;
  auto timed_out = [&] {
    err << json_error("Timeout",
                      fmt::format("Task timed out after {:.2f} seconds",
                                  std::chrono::duration<double>(manifest->timeout).count()))
        << '\n';
    err.flush();
  };

  core::Outcome outcome;
  if (function->finishes_later()) {
    std::optional<core::Status> prepared;
    function->prepare([&](core::Status status) { prepared = std::move(status); });
    while (!prepared && loop.run_once()) {
    }
    if (!prepared || !prepared->ok()) {
      err << (prepared ? prepared->error().message() : std::string("the function never got ready"))
          << '\n';
      return 1;
    }
    ctx.deadline = std::chrono::steady_clock::now() + manifest->timeout;
    ctx.wall_offset = functions::wall_offset(std::chrono::steady_clock::now());
    bool done = false;
    std::uint64_t started = function->start(event, ctx, [&](core::Outcome result) {
      outcome = std::move(result);
      done = true;
    });
    core::Timer deadline(loop, [&] {
      if (!done) {
        function->cancel(started);
        timed_out();
        std::_Exit(1);
      }
    });
    deadline.start(manifest->timeout);
    while (!done && loop.run_once()) {
    }
    deadline.stop();
  } else {
    // The handler runs on its own thread so that its timeout is enforced here as the daemon
    // enforces it: reported at the deadline, with the context cancelled.
    ctx.deadline = std::chrono::steady_clock::now() + manifest->timeout;
    std::mutex mutex;
    std::condition_variable done_cv;
    bool done = false;
    std::thread runner([&] {
      core::Outcome result = function->invoke(event, ctx);
      std::lock_guard<std::mutex> lock(mutex);
      outcome = std::move(result);
      done = true;
      done_cv.notify_one();
    });
    {
      std::unique_lock<std::mutex> lock(mutex);
      if (!done_cv.wait_until(lock, ctx.deadline, [&] { return done; })) {
        cancelled = true;
        timed_out();
        // The handler cannot be interrupted; leave without waiting for it.
        std::_Exit(1);
      }
    }
    runner.join();
  }
  function.reset();  // Runs shutdown before the output is judged.

  if (!outcome.ok()) {
    // The runtime's own error document when it gave one (stack trace and all), as `sam local
    // invoke` shows it.
    err << (outcome.error_document.empty() ? json_error(outcome.error_type, outcome.error_message)
                                           : outcome.error_document)
        << '\n';
    return 1;
  }
  out << outcome.response.body;
  if (!outcome.response.body.empty() && outcome.response.body.back() != '\n' &&
      isatty(STDOUT_FILENO)) {
    out << '\n';
  }
  return 0;
}

int cron_next_command(const CronNextOptions& options, std::ostream& out, std::ostream& err) {
  auto schedule = triggers::cron::Schedule::parse(options.expression, options.timezone);
  if (!schedule.ok()) {
    err << fmt::format("schedule \"{}\": {}\n", options.expression, schedule.error().message());
    return 1;
  }
  auto from = std::chrono::system_clock::now();
  if (options.from) {
    auto parsed = core::parse_rfc3339(*options.from);
    if (!parsed) {
      err << fmt::format(
          "--from \"{}\": expected an ISO 8601 time with an offset, e.g. "
          "2026-03-29T01:30:00+01:00 or 2026-03-29T00:30:00Z\n",
          *options.from);
      return 1;
    }
    from = *parsed;
  }
  if (options.count < 1 || options.count > 10000) {
    err << "--count must be between 1 and 10000\n";
    return 1;
  }
  for (int i = 0; i < options.count; ++i) {
    from = schedule->next(from);
    if (from == std::chrono::system_clock::time_point::max()) {
      break;
    }
    out << triggers::cron::format_iso8601(from, options.timezone) << '\n';
  }
  return 0;
}

}  // namespace switchyard::daemon
