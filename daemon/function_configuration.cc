#include "daemon/function_configuration.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <ctime>
#include <filesystem>

#include "core/ids.h"

namespace switchyard::daemon {

namespace {

void key(JsonWriter& writer, const char* name) {
  writer.Key(name);
}

void string(JsonWriter& writer, const std::string& value) {
  writer.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

// The manifest's own modification time: a change of settings is a new version too.
std::chrono::system_clock::time_point modified(const std::filesystem::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    return {};
  }
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
}

}  // namespace

std::string lambda_timestamp(std::chrono::system_clock::time_point time) {
  auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
  std::time_t seconds = static_cast<std::time_t>(millis / 1000);
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+0000", utc.tm_year + 1900,
                     utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                     millis % 1000);
}

void write_function_configuration(JsonWriter& writer, const config::FunctionManifest& manifest,
                                  const config::DaemonConfig& daemon, const CodeDigest& code) {
  config::RuntimeSummary summary =
      manifest.code != nullptr ? manifest.code->summary() : config::RuntimeSummary{};
  writer.StartObject();
  key(writer, "FunctionName");
  string(writer, manifest.name);
  key(writer, "FunctionArn");
  string(writer, core::function_arn(daemon.region, daemon.account_id, manifest.name));
  key(writer, "Runtime");
  string(writer, manifest.runtime);
  if (!summary.handler.empty()) {
    key(writer, "Handler");
    string(writer, summary.handler);
  }
  key(writer, "CodeSize");
  writer.Uint64(code.size);
  key(writer, "CodeSha256");
  string(writer, code.sha256_base64);
  key(writer, "Description");
  writer.String("");
  // Lambda's Timeout is in whole seconds; the exact value is in the extension.
  key(writer, "Timeout");
  writer.Int64(std::max<std::int64_t>(1, (manifest.timeout.count() + 999) / 1000));
  if (summary.memory_bytes != 0) {
    key(writer, "MemorySize");
    writer.Uint64(summary.memory_bytes / (1024 * 1024));
  }
  key(writer, "LastModified");
  string(writer, lambda_timestamp(std::max(code.last_modified, modified(manifest.manifest_path))));
  key(writer, "Version");
  writer.String("$LATEST");
  key(writer, "Environment");
  writer.StartObject();
  key(writer, "Variables");
  writer.StartObject();
  for (const auto& [name, value] : manifest.env) {
    string(writer, name);
    string(writer, value);
  }
  writer.EndObject();
  writer.EndObject();
  key(writer, "TracingConfig");
  writer.StartObject();
  key(writer, "Mode");
  writer.String("PassThrough");
  writer.EndObject();
  key(writer, "State");
  writer.String("Active");
  key(writer, "LastUpdateStatus");
  writer.String("Successful");
  key(writer, "PackageType");
  writer.String("Zip");
  key(writer, "Architectures");
  writer.StartArray();
  writer.String("x86_64");
  writer.EndArray();

  key(writer, "Switchyard");
  writer.StartObject();
  key(writer, "Code");
  string(writer, manifest.code != nullptr ? manifest.code->describe() : std::string());
  key(writer, "Manifest");
  string(writer, manifest.manifest_path.string());
  key(writer, "TimeoutMs");
  writer.Int64(manifest.timeout.count());
  key(writer, "Concurrency");
  writer.Int(manifest.concurrency);
  key(writer, "Queue");
  writer.Int(manifest.queue);
  key(writer, "RetryAttempts");
  writer.Int(manifest.retry.attempts);
  if (manifest.dead_letter.configured()) {
    key(writer, "DeadLetter");
    writer.StartObject();
    key(writer, "Kind");
    string(writer, manifest.dead_letter.kind);
    key(writer, "Target");
    string(writer, manifest.dead_letter.target);
    writer.EndObject();
  }
  key(writer, "Triggers");
  writer.StartArray();
  for (const config::TriggerSpec& trigger : manifest.triggers) {
    writer.StartObject();
    key(writer, "Kind");
    string(writer, trigger.kind);
    key(writer, "Source");
    string(writer, trigger.settings != nullptr ? trigger.settings->describe() : std::string());
    writer.EndObject();
  }
  writer.EndArray();
  writer.EndObject();

  writer.EndObject();
}

}  // namespace switchyard::daemon
