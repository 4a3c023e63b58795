// switchyard: the CLI and the daemon's entry point.

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>

#include "config/loader.h"
#include "core/log.h"
#include "daemon/commands.h"
#include "daemon/daemon.h"
#include "daemon/kinds.h"
#include "daemon/version.h"
#include "switchyard/function.h"

using namespace switchyard;

namespace {

// Every execution environment holds four descriptors of the daemon (its pidfd, its stdout and
// stderr, its Runtime API socket), and every connection one: the soft limit of 1,024 a shell
// gives would cap a function at a few hundred environments. The hard limit is the operator's.
void raise_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

int run_command(const std::filesystem::path& config_file) {
  const daemon::Kinds& kinds = daemon::builtin_kinds();
  auto result = config::load(config_file, kinds.manifest);
  if (!result.ok()) {
    for (const auto& error : result.errors) {
      std::cerr << error.to_string() << '\n';
    }
    std::cerr << "switchyard: not started: " << result.errors.size() << " configuration error(s)\n";
    return 1;
  }
  core::LogOptions log_options;
  log_options.level = result.snapshot->daemon.logging.level;
  auto format = core::parse_log_format(result.snapshot->daemon.logging.format);
  log_options.format = format.ok() ? format.value() : core::LogFormat::kAuto;
  auto status = core::configure_logging(log_options);
  if (!status.ok()) {
    std::cerr << "switchyard: " << status.error().message() << '\n';
    return 1;
  }
  raise_file_limit();
  return daemon::run_daemon(*result.snapshot, kinds);
}

}  // namespace

int main(int argc, char** argv) {
  // A peer that resets a connection mid-write must cost an error code, not the process.
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"switchyard: a self-hosted Function-as-a-Service event router"};
  app.require_subcommand(1);

  std::string config_file;
  auto* run = app.add_subcommand("run", "Run the daemon");
  run->add_option("-c,--config", config_file, "Daemon config (switchyard.yaml)")->required();

  std::string validate_file;
  auto* validate =
      app.add_subcommand("validate", "Check a config and its manifests; print every error");
  validate->add_option("-c,--config", validate_file, "Daemon config (switchyard.yaml)")->required();

  daemon::InvokeOptions invoke_options;
  std::string invoke_config;
  std::string data;
  std::string data_file;
  auto* invoke = app.add_subcommand(
      "invoke", "Run one event through one function locally and print its response body");
  invoke->add_option("function", invoke_options.function, "Function name")->required();
  invoke->add_option("-c,--config", invoke_config, "Daemon config (switchyard.yaml)")->required();
  auto* data_option = invoke->add_option("-d,--data", data, "Event data (e.g. JSON)");
  auto* data_file_option =
      invoke->add_option("--data-file", data_file, "Read the event data from a file (- = stdin)");
  data_option->excludes(data_file_option);

  daemon::CronNextOptions cron_options;
  std::string cron_from;
  auto* cron = app.add_subcommand("cron", "Cron schedule tools");
  cron->require_subcommand(1);
  auto* cron_next = cron->add_subcommand("next", "Print the next fire times of a schedule");
  cron_next
      ->add_option("expression", cron_options.expression,
                   "Cron expression: 5 or 6 fields, a macro, or @every DURATION")
      ->required();
  cron_next->add_option("--tz", cron_options.timezone, "IANA time zone (default UTC)");
  auto* from_option =
      cron_next->add_option("--from", cron_from, "Start after this ISO 8601 time (default now)");
  cron_next->add_option("-n,--count", cron_options.count, "How many fire times (default 5)");

  auto* version = app.add_subcommand("version", "Print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  if (*run) {
    return run_command(config_file);
  }
  if (*validate) {
    return daemon::validate_command(validate_file, std::cout, std::cerr);
  }
  if (*invoke) {
    // Function log lines go to stderr, in text: stdout is the response body alone.
    core::LogOptions log_options;
    log_options.format = core::LogFormat::kText;
    (void)core::configure_logging(log_options);
    invoke_options.config_file = invoke_config;
    if (*data_option) {
      invoke_options.data = data;
    }
    if (*data_file_option) {
      invoke_options.data_file = data_file;
    }
    return daemon::invoke_command(invoke_options, std::cout, std::cerr);
  }
  if (*cron_next) {
    if (*from_option) {
      cron_options.from = cron_from;
    }
    return daemon::cron_next_command(cron_options, std::cout, std::cerr);
  }
  if (*version) {
    std::cout << "switchyard " << kVersion << " (function ABI " << SWITCHYARD_ABI_VERSION << ", "
              << kBuildType << ")\n";
    return 0;
  }
  return 0;
}
