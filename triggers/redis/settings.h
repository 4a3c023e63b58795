#pragma once

// The settings of a redis trigger, as a manifest writes them (`- redis: { stream: s }`).

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/kinds.h"

namespace switchyard::triggers::redis {

struct RedisTriggerSettings final : config::SettingsOf<RedisTriggerSettings> {
  std::string stream;  // Exactly one of stream and list is set.
  std::string list;
  std::string group = "switchyard";  // Streams: the consumer group.
  std::string consumer;              // Default: derived from the instance name.
  int batch = 1;
  config::Duration batch_window{0};
  config::Duration block{2000};         // XREADGROUP BLOCK / BLMOVE timeout.
  config::Duration claim_after{60000};  // Streams: XAUTOCLAIM entries idle longer than this.
  std::string payload;                  // "" (native) or "lambda-sqs" (lambda_payload.h).

  // "stream jobs, group switchyard" or "list jobs".
  std::string describe() const override {
    return stream.empty() ? "list " + list : "stream " + stream + ", group " + group;
  }
  bool operator==(const RedisTriggerSettings&) const = default;
};

// Reads a redis trigger's mapping in a manifest (config::TriggerKind::parse).
std::shared_ptr<const config::Settings> parse_redis_trigger(config::MapReader& body,
                                                            const config::ManifestScope& scope);

}  // namespace switchyard::triggers::redis
