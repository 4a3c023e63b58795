// What every environment runtime shares: the plan a manifest makes (program, arguments,
// Lambda's variables and nothing else), and the load errors a user sees.

#include "environments/plan.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/loop.h"
#include "core/metrics.h"
#include "environments/codec.h"

using namespace switchyard;
using environments::EnvironmentPlan;
using environments::LambdaCodec;

namespace {

bool has(const std::vector<std::string>& list, const std::string& entry) {
  return std::find(list.begin(), list.end(), entry) != list.end();
}

std::size_t count_named(const std::vector<std::string>& environment, const std::string& name) {
  return static_cast<std::size_t>(
      std::count_if(environment.begin(), environment.end(),
                    [&](const std::string& entry) { return entry.rfind(name + "=", 0) == 0; }));
}

config::FunctionManifest manifest_named(const std::string& name) {
  config::FunctionManifest manifest;
  manifest.name = name;
  manifest.runtime = "provided";
  return manifest;
}

}  // namespace

TEST_CASE("make_plan: the program, its launch options, and Lambda's variables") {
  auto manifest = manifest_named("thumb");
  manifest.env = {{"FROM_MANIFEST", "yes"}, {"TZ", "Europe/Paris"}};
  functions::LoadOptions options;
  options.region = "eu-west-3";
  options.environment_program = "/opt/switchyard/switchyard-environment";
  functions::EnvironmentSettings settings;
  settings.memory_bytes = 256ULL * 1024 * 1024;
  EnvironmentPlan plan =
      environments::make_plan(manifest, options, settings, "/srv/thumb", "index.handler",
                              {"--exec", "/srv/thumb/bootstrap"}, std::make_shared<LambdaCodec>());
  CHECK(plan.function_name == "thumb");
  CHECK(plan.function_arn == "arn:aws:lambda:eu-west-3:000000000000:function:thumb");
  CHECK(plan.spawn.program == "/opt/switchyard/switchyard-environment");
  CHECK(plan.spawn.working_directory == "/srv/thumb");
  CHECK(plan.spawn.arguments == std::vector<std::string>{"--parent-pid", std::to_string(::getpid()),
                                                         "--memory-bytes",
                                                         std::to_string(256ULL * 1024 * 1024),
                                                         "--exec", "/srv/thumb/bootstrap"});
  const auto& environment = plan.spawn.environment;
  CHECK(has(environment, "AWS_LAMBDA_FUNCTION_NAME=thumb"));
  CHECK(has(environment, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256"));
  CHECK(has(environment, "AWS_REGION=eu-west-3"));
  CHECK(has(environment, "_HANDLER=index.handler"));
  CHECK(has(environment, "LAMBDA_TASK_ROOT=/srv/thumb"));
  CHECK(has(environment, "FROM_MANIFEST=yes"));
  // The manifest overrides Lambda's own, and each variable is there once.
  CHECK(has(environment, "TZ=Europe/Paris"));
  CHECK(count_named(environment, "TZ") == 1);
  // Each environment adds its own; nothing of the daemon's is passed on.
  CHECK(count_named(environment, "AWS_LAMBDA_RUNTIME_API") == 0);
  CHECK(count_named(environment, "HOME") == 0);
  CHECK(plan.codec != nullptr);
}

TEST_CASE("environment_program defaults to the one next to the running executable") {
  functions::LoadOptions options;
  auto self = std::filesystem::read_symlink("/proc/self/exe");
  CHECK(environments::environment_program(options) ==
        self.parent_path() / "switchyard-environment");
  options.environment_program = "/elsewhere/switchyard-environment";
  CHECK(environments::environment_program(options) == "/elsewhere/switchyard-environment");
}

TEST_CASE("load_environment_function says why it cannot load") {
  auto manifest = manifest_named("thumb");
  functions::LoadOptions options;
  options.environment_program = "/nonexistent/switchyard-environment";
  functions::EnvironmentSettings settings;
  SUBCASE("no loop: a command that cannot run environments") {
    auto plan = environments::make_plan(manifest, options, settings, "/tmp", "", {},
                                        std::make_shared<LambdaCodec>());
    auto loaded = environments::load_environment_function(manifest, options, std::move(plan));
    REQUIRE_FALSE(loaded.ok());
    CHECK(loaded.error().code() == core::ErrorCode::kLoad);
    CHECK(loaded.error().message().find("cannot start") != std::string::npos);
  }
  SUBCASE("the environment program is missing") {
    core::Loop loop;
    core::MetricsRegistry metrics;
    options.loop = &loop;
    options.metrics = &metrics;
    auto plan = environments::make_plan(manifest, options, settings, "/tmp", "", {},
                                        std::make_shared<LambdaCodec>());
    auto loaded = environments::load_environment_function(manifest, options, std::move(plan));
    REQUIRE_FALSE(loaded.ok());
    CHECK(loaded.error().code() == core::ErrorCode::kLoad);
    CHECK(loaded.error().message().find("/nonexistent/switchyard-environment is missing") !=
          std::string::npos);
  }
}
