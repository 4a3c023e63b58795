#include "triggers/kafka/settings.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "config/reader.h"

namespace switchyard::triggers::kafka {
namespace {

void read_kafka(config::MapReader& body, const config::ManifestScope& scope,
                KafkaTriggerSettings& out) {
  body.allow_keys({"topic", "group_id", "ordering", "batch", "batch_window", "payload", "start"});
  if (body.require("topic")) {
    body.read_string("topic", out.topic, false);
  }
  out.group_id = "switchyard." + scope.function_name;
  body.read_string("group_id", out.group_id, false);
  body.read_choice("ordering", {"partition", "key", "none"}, out.ordering);
  body.read_int("batch", 1, 10000, out.batch);
  body.read_duration("batch_window", config::Duration(0), config::kMaxDelay, out.batch_window);
  body.read_payload(scope, {"lambda-kafka"}, "lambda-kafka", out.payload);
  body.read_choice("start", {"earliest", "latest"}, out.start);
}

}  // namespace

std::shared_ptr<const config::Settings> parse_kafka_trigger(config::MapReader& body,
                                                            const config::ManifestScope& scope) {
  auto settings = std::make_shared<KafkaTriggerSettings>();
  read_kafka(body, scope, *settings);
  return settings;
}

}  // namespace switchyard::triggers::kafka
