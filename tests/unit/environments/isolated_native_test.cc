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

// A function loaded from a manifest's text with `isolation: process`, on a loop of its own, its
// environments spawned or (`with_zygote`) cloned from a zygote of its own.
struct Isolated {
  config::Kinds kinds;
  functions::RuntimeRegistry runtimes{kinds};
  TempDir dir;
  core::Loop loop;
  core::MetricsRegistry metrics;
  std::shared_ptr<environments::Zygote> zygote;
  functions::FunctionPtr function;

  Isolated(const std::string& name, const std::string& yaml, bool with_zygote = false) {
    functions::register_native_runtime(runtimes, environments::load_isolated_native);
    config::FunctionManifest manifest;
    auto errors = config::parse_manifest(yaml, dir.path() + "/" + name + ".yaml", kinds, manifest);
    REQUIRE(errors.empty());
    functions::LoadOptions options;
    options.loop = &loop;
    options.metrics = &metrics;
    options.environment_program = kProgram;
    if (with_zygote) {
      zygote = std::make_shared<environments::Zygote>(loop, kProgram);
      options.zygote = zygote;
    }
    auto loaded = functions::load(runtimes, manifest, options);
    REQUIRE_MESSAGE(loaded.ok(), loaded.error().message());
    function = std::move(loaded).value();
  }

  // Runs one invocation of `event` to its end.
  core::Outcome invoke(const core::Event& event, const std::string& request_id) {
    functions::InvocationContext ctx;
    ctx.request_id = request_id;
    ctx.function_name = function->name();
    std::optional<core::Outcome> outcome;
    function->start(event, ctx, [&](core::Outcome result) { outcome = std::move(result); });
    REQUIRE(run_until(
        loop, [&] { return outcome.has_value(); }, 20s));
    return std::move(*outcome);
  }
};

}  // namespace

TEST_CASE("isolation: process runs the library in an environment of its own") {
  Isolated isolated("echo-fn", std::string("name: echo-fn\nlibrary: ") + kEcho +
                                   "\nisolation: process\nenv: { MODE: test }\n");
  auto function = std::dynamic_pointer_cast<environments::EnvironmentFunction>(isolated.function);
  REQUIRE(function != nullptr);
  CHECK(function->finishes_later());
  core::Loop& loop = isolated.loop;

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
  std::optional<core::Outcome> outcome = isolated.invoke(event, "req-1");
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
  Isolated isolated(
      "probe", std::string("name: probe\nlibrary: ") + kProbe + "\nisolation: process\n", true);
  const environments::Zygote& zygote = *isolated.zygote;
  core::Event event;
  event.id = "event-1";
  event.data = "process";
  std::optional<core::Outcome> outcome = isolated.invoke(event, "req-1");
  REQUIRE_MESSAGE(outcome->ok(), outcome->error_type << ": " << outcome->error_message);
  int pid = 0;
  int ppid = 0;
  int pgid = 0;
  int own_thread_clock = -1;
  REQUIRE(std::sscanf(outcome->response.body.c_str(), "pid=%d ppid=%d pgid=%d own_thread_clock=%d",
                      &pid, &ppid, &pgid, &own_thread_clock) == 4);
  // Cloned from the zygote (a sanitizer build spawns it), yet this process's child, in a group
  // of its own; and the C library's idea of its thread is its own, not the zygote's.
  CHECK((zygote.pid() > 0) == !core::kShadowMemorySanitizer);
  CHECK(pid != zygote.pid());
  CHECK(ppid == ::getpid());
  CHECK(pgid == pid);
  CHECK(own_thread_clock == 1);
  // ps names the function's library, not the zygote it was copied from.
  std::string cmdline = switchyard::testing::read_proc_file(pid, "cmdline");
  CHECK(cmdline.find(kProbe) != std::string::npos);
  CHECK(cmdline.find("--zygote") == std::string::npos);
}
