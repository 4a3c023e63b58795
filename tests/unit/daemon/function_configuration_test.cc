#include "daemon/function_configuration.h"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

using namespace switchyard;
using namespace switchyard::daemon;

namespace {

struct TestRuntime final : config::SettingsOf<TestRuntime, config::RuntimeSettings> {
  std::vector<std::filesystem::path> code_files() const override { return {}; }
  std::string describe() const override { return "/srv/fn (app.handler)"; }
  config::RuntimeSummary summary() const override { return {"app.handler", 256ULL * 1024 * 1024}; }
  bool operator==(const TestRuntime&) const = default;
};

struct TestTrigger final : config::SettingsOf<TestTrigger> {
  std::string describe() const override { return "topic orders"; }
  bool operator==(const TestTrigger&) const = default;
};

rapidjson::Document configuration_of(const config::FunctionManifest& manifest) {
  config::DaemonConfig daemon;
  daemon.region = "eu-west-3";
  daemon.account_id = "123456789012";
  CodeDigest code;
  code.sha256_base64 = "abc=";
  code.size = 42;
  code.last_modified =
      std::chrono::system_clock::time_point(std::chrono::milliseconds(1'764'921'794'123));
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  write_function_configuration(writer, manifest, daemon, code);
  rapidjson::Document document;
  document.Parse(buffer.GetString(), buffer.GetSize());
  REQUIRE(!document.HasParseError());
  return document;
}

}  // namespace

TEST_CASE("FunctionConfiguration: Lambda's fields, then switchyard's extension") {
  config::FunctionManifest manifest;
  manifest.name = "thumb";
  manifest.runtime = "python3";
  manifest.code = std::make_shared<TestRuntime>();
  manifest.timeout = config::Duration(2500);
  manifest.concurrency = 3;
  manifest.env = {{"STAGE", "prod"}};
  manifest.dead_letter = {"redis_list", "thumb-dead"};
  manifest.triggers.push_back({"kafka", std::make_shared<TestTrigger>(), {}});
  auto json = configuration_of(manifest);
  CHECK(std::string(json["FunctionName"].GetString()) == "thumb");
  CHECK(std::string(json["FunctionArn"].GetString()) ==
        "arn:aws:lambda:eu-west-3:123456789012:function:thumb");
  CHECK(std::string(json["Runtime"].GetString()) == "python3");
  CHECK(std::string(json["Handler"].GetString()) == "app.handler");
  CHECK(json["MemorySize"].GetInt() == 256);
  // Whole seconds, rounded up: a 2.5 s limit is not reported as 2.
  CHECK(json["Timeout"].GetInt() == 3);
  CHECK(json["CodeSize"].GetInt() == 42);
  CHECK(std::string(json["CodeSha256"].GetString()) == "abc=");
  // The code's time, or the manifest's when newer (there is none here).
  CHECK(std::string(json["LastModified"].GetString()) == "2025-12-05T08:03:14.123+0000");
  CHECK(std::string(json["Version"].GetString()) == "$LATEST");
  CHECK(std::string(json["State"].GetString()) == "Active");
  CHECK(std::string(json["Environment"]["Variables"]["STAGE"].GetString()) == "prod");
  const auto& extension = json["Switchyard"];
  CHECK(extension["TimeoutMs"].GetInt() == 2500);
  CHECK(extension["Concurrency"].GetInt() == 3);
  CHECK(std::string(extension["DeadLetter"]["Target"].GetString()) == "thumb-dead");
  CHECK(std::string(extension["Triggers"][0]["Kind"].GetString()) == "kafka");
  CHECK(std::string(extension["Triggers"][0]["Source"].GetString()) == "topic orders");
}

TEST_CASE("a function in the daemon's process has no Handler and no MemorySize") {
  struct InProcess final : config::SettingsOf<InProcess, config::RuntimeSettings> {
    std::vector<std::filesystem::path> code_files() const override { return {}; }
    std::string describe() const override { return "/srv/libfn.so"; }
    bool operator==(const InProcess&) const = default;
  };
  config::FunctionManifest manifest;
  manifest.name = "fn";
  manifest.code = std::make_shared<InProcess>();
  manifest.timeout = config::Duration(100);
  auto json = configuration_of(manifest);
  CHECK(!json.HasMember("Handler"));
  CHECK(!json.HasMember("MemorySize"));
  CHECK(json["Timeout"].GetInt() == 1);
  CHECK(!json["Switchyard"].HasMember("DeadLetter"));
}

TEST_CASE("Lambda's timestamps: milliseconds and +0000") {
  using namespace std::chrono;
  CHECK(lambda_timestamp(system_clock::time_point(milliseconds(0))) ==
        "1970-01-01T00:00:00.000+0000");
  CHECK(lambda_timestamp(system_clock::time_point(milliseconds(1'764'921'794'005))) ==
        "2025-12-05T08:03:14.005+0000");
}
