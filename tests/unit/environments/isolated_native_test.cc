// `isolation: process`: a native library loaded by switchyard-environment in execution
// environments, from its manifest to an invocation answered by the library in a child process.

#include "environments/isolated_native.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "config/loader.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/sanitizers.h"
#include "environments/environment_function.h"
#include "environments/zygote.h"
#include "functions/native.h"
#include "support/proc.h"
#include "support/process.h"
#include "support/run_until.h"

using namespace switchyard;
using namespace std::chrono_literals;
using switchyard::testing::run_until;
using switchyard::testing::TempDir;

namespace {

constexpr const char* kProgram = SWITCHYARD_ENVIRONMENT_PROGRAM;
constexpr const char* kEcho = SWITCHYARD_LIB_ECHO;
constexpr const char* kProbe = SWITCHYARD_LIB_PROBE;

}  // namespace

TEST_CASE("isolation: process runs the library in an environment of its own") {
  config::Kinds kinds;
  functions::RuntimeRegistry runtimes(kinds);
  functions::register_native_runtime(runtimes, environments::load_isolated_native);
  TempDir dir;
  config::FunctionManifest manifest;
  auto errors = config::parse_manifest(std::string("name: echo-fn\nlibrary: ") + kEcho +
                                           "\nisolation: process\nenv: { MODE: test }\n",
                                       dir.path() + "/echo-fn.yaml", kinds, manifest);
  REQUIRE(errors.empty());

  core::Loop loop;
  core::MetricsRegistry metrics;
  functions::LoadOptions options;
  options.loop = &loop;
  options.metrics = &metrics;
  options.environment_program = kProgram;
  auto loaded = functions::load(runtimes, manifest, options);
  REQUIRE_MESSAGE(loaded.ok(), loaded.error().message());
  auto function = std::dynamic_pointer_cast<environments::EnvironmentFunction>(loaded.value());
  REQUIRE(function != nullptr);
  CHECK(function->finishes_later());

  std::optional<core::Status> ready;
  function->prepare([&](core::Status status) { ready = status; });
  REQUIRE(run_until(
      loop, [&] { return ready.has_value(); }, 20s));
  REQUIRE_MESSAGE(ready->ok(), ready->error().message());
  REQUIRE(function->pids().size() == 1);
  CHECK(function->pids()[0] != ::getpid());

  core::Event event;
  event.id = "event-1";
  event.source = "test";
  event.type = "switchyard.test";
  event.data = "hello";
  functions::InvocationContext ctx;
  ctx.request_id = "req-1";
  ctx.function_name = "echo-fn";
  std::optional<core::Outcome> outcome;
  function->start(event, ctx, [&](core::Outcome result) { outcome = std::move(result); });
  REQUIRE(run_until(
      loop, [&] { return outcome.has_value(); }, 20s));
  REQUIRE_MESSAGE(outcome->ok(), outcome->error_type << ": " << outcome->error_message);
  // The whole event reached the library, and its whole response came back.
  CHECK(outcome->response.status == 200);
  CHECK(outcome->response.body.find(R"("data":"hello")") != std::string::npos);
  CHECK(outcome->response.body.find(R"("request_id":"req-1")") != std::string::npos);
  CHECK(outcome->response.body.find(R"("function_name":"echo-fn")") != std::string::npos);
}

TEST_CASE("load_isolated_native refuses a manifest of another runtime") {
  config::FunctionManifest manifest;
  manifest.name = "other";
  auto loaded = environments::load_isolated_native(manifest, {});
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error().message() == "function 'other': not a native runtime's manifest");
}

TEST_CASE("a native environment cloned from the zygote knows its own process and thread") {
  config::Kinds kinds;
  functions::RuntimeRegistry runtimes(kinds);
  functions::register_native_runtime(runtimes, environments::load_isolated_native);
  TempDir dir;
  config::FunctionManifest manifest;
  auto errors = config::parse_manifest(
      std::string("name: probe\nlibrary: ") + kProbe + "\nisolation: process\n",
      dir.path() + "/probe.yaml", kinds, manifest);
  REQUIRE(errors.empty());

  core::Loop loop;
  core::MetricsRegistry metrics;
  auto zygote = std::make_shared<environments::Zygote>(loop, kProgram);
  functions::LoadOptions options;
  options.loop = &loop;
  options.metrics = &metrics;
  options.environment_program = kProgram;
  options.zygote = zygote;
  auto loaded = functions::load(runtimes, manifest, options);
  REQUIRE_MESSAGE(loaded.ok(), loaded.error().message());
  functions::FunctionPtr function = loaded.value();

  core::Event event;
  event.id = "event-1";
  event.data = "process";
  functions::InvocationContext ctx;
  ctx.request_id = "req-1";
  ctx.function_name = "probe";
  std::optional<core::Outcome> outcome;
  function->start(event, ctx, [&](core::Outcome result) { outcome = std::move(result); });
  REQUIRE(run_until(
      loop, [&] { return outcome.has_value(); }, 20s));
  REQUIRE_MESSAGE(outcome->ok(), outcome->error_type << ": " << outcome->error_message);
  int pid = 0;
  int ppid = 0;
  int pgid = 0;
  int own_thread_clock = -1;
  REQUIRE(std::sscanf(outcome->response.body.c_str(), "pid=%d ppid=%d pgid=%d own_thread_clock=%d",
                      &pid, &ppid, &pgid, &own_thread_clock) == 4);
  // Cloned from the zygote (a sanitizer build spawns it), yet this process's child, in a group
  // of its own; and the C library's idea of its thread is its own, not the zygote's.
  CHECK((zygote->pid() > 0) == !core::kShadowMemorySanitizer);
  CHECK(pid != zygote->pid());
  CHECK(ppid == ::getpid());
  CHECK(pgid == pid);
  CHECK(own_thread_clock == 1);
  // ps names the function's library, not the zygote it was copied from.
  std::string cmdline = switchyard::testing::read_proc_file(pid, "cmdline");
  CHECK(cmdline.find(kProbe) != std::string::npos);
  CHECK(cmdline.find("--zygote") == std::string::npos);
}
