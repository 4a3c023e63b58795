#pragma once

// The settings of a kafka trigger, as a manifest writes them (`- kafka: { topic: t }`).

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/kinds.h"

namespace switchyard::triggers::kafka {

// The dead-letter destination the Kafka writer serves: `dead_letter: { kafka_topic: T }`.
inline constexpr std::string_view kTopicDestination = "kafka_topic";

struct KafkaTriggerSettings final : config::SettingsOf<KafkaTriggerSettings> {
  std::string topic;
  std::string group_id;                // Default: "switchyard.<function>".
  std::string ordering = "partition";  // partition | key | none.
  int batch = 1;
  config::Duration batch_window{0};
  std::string payload;             // "" (native) or "lambda-kafka".
  std::string start = "earliest";  // earliest | latest: where a new group starts.

  // "topic orders, group switchyard.thumb".
  std::string describe() const override { return "topic " + topic + ", group " + group_id; }
  bool operator==(const KafkaTriggerSettings&) const = default;
};

// Reads a kafka trigger's mapping in a manifest (config::TriggerKind::parse).
std::shared_ptr<const config::Settings> parse_kafka_trigger(config::MapReader& body,
                                                            const config::ManifestScope& scope);

}  // namespace switchyard::triggers::kafka
