#pragma once

// The kinds a manifest can name, each registered by the folder that implements it: trigger kinds
// (a key under `triggers:`), dead-letter destinations (a key under `dead_letter:`) and runtimes
// (the value of `runtime:`). config/ reads a manifest's common keys itself and hands each kind's
// part to the parser that kind registered, so adding a kind edits nothing here.
//
// Thread rules: filled once at start-up (daemon/kinds.h registers the built-in ones), then only
// read, from any thread.

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/error.h"

namespace switchyard::config {

class MapReader;

// `path` against `base_dir`: absolute and without "." or "..", but symlinks kept, so that the
// daemon reports the path the operator wrote.
std::filesystem::path resolve_path(const std::filesystem::path& base_dir,
                                   const std::filesystem::path& path);

// What a kind's parser may know of the manifest it reads.
struct ManifestScope {
  const std::string& function_name;
  const std::filesystem::path& manifest_path;
  // A path the manifest names, against the manifest's folder (resolve_path()).
  std::filesystem::path resolve(const std::string& text) const {
    return resolve_path(manifest_path.parent_path(), text);
  }
  // The manifest's runtime has RuntimeKind::lambda_events: a trigger without `payload:` gives
  // its function the event AWS Lambda would send it from the same source
  // (MapReader::read_payload).
  bool lambda_events = false;
};

// A trigger kind's manifest side.
struct TriggerKind {
  std::string key;  // "kafka": the key under `triggers:`.
  // Reads the trigger's mapping; every problem is reported through `body`. Returns the settings
  // as far as they could be read, never nullptr (they are dropped when the manifest has errors).
  std::function<std::shared_ptr<const Settings>(MapReader& body, const ManifestScope& scope)> parse;
  // What the trigger needs from the daemon config: "" when it is there, else the problem
  // ("kafka trigger needs kafka.brokers"). Optional.
  std::function<std::string(const Settings& settings, const DaemonConfig& daemon)> check;
  // The section of switchyard.yaml `check` reads ("kafka"): when that section has errors of its
  // own, the check is skipped rather than blame the manifest for what was written, only wrongly.
  std::string daemon_section;
};

// A dead-letter destination's manifest side: `dead_letter: { <key>: <target> }`.
struct DeadLetterKind {
  std::string key;           // "kafka_topic".
  std::string trigger_kind;  // The trigger kind whose factory installs the writer ("kafka").
  // What the destination needs from the daemon config, and the section it reads, as
  // TriggerKind::check and daemon_section. Optional. `where` is the manifest key that names it
  // ("dead_letter.kafka_topic", "async.on_failure.kafka_topic"), for the problem's wording.
  std::function<std::string(const DaemonConfig& daemon, std::string_view where)> check;
  std::string daemon_section;
};

// A runtime's manifest side: the keys it reads beside the common ones.
struct RuntimeKind {
  std::string key;                // "native": the value of `runtime:`.
  std::vector<std::string> keys;  // Its own manifest keys ("library").
  // Its handlers receive what AWS Lambda sends: triggers default to their Lambda payloads.
  bool lambda_events = false;
  // Reads its keys from the manifest's root mapping, as TriggerKind::parse (never nullptr).
  std::function<std::shared_ptr<const RuntimeSettings>(MapReader& root, const ManifestScope& scope)>
      parse;
};

// The `payload:` value of a trigger that names the native event (the one a native function
// gets). A kind stores it as "" in its settings: downstream, "" is the native event.
inline constexpr std::string_view kNativePayload = "native";

// Every kind the loader knows. Refuses a key registered twice.
class Kinds {
 public:
  core::Status add(TriggerKind kind);
  core::Status add(DeadLetterKind kind);
  core::Status add(RuntimeKind kind);

  const TriggerKind* trigger(std::string_view key) const;
  const DeadLetterKind* dead_letter(std::string_view key) const;
  const RuntimeKind* runtime(std::string_view key) const;

  // The keys in registration order, for messages ("expected http, kafka, redis or cron").
  std::vector<std::string_view> trigger_keys() const;
  std::vector<std::string_view> dead_letter_keys() const;
  std::vector<std::string_view> runtime_keys() const;

 private:
  std::vector<TriggerKind> triggers_;
  std::vector<DeadLetterKind> dead_letters_;
  std::vector<RuntimeKind> runtimes_;
};

}  // namespace switchyard::config
