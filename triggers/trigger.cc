#include "triggers/trigger.h"

#include "triggers/cron/cron_trigger.h"
#include "triggers/http/http_trigger.h"
#include "triggers/kafka/kafka_trigger.h"
#include "triggers/redis/redis_trigger.h"

#include <algorithm>
#include <type_traits>

namespace switchyard::triggers {

core::Status TriggerRegistry::add(std::string kind, TriggerFactory factory) {
  if (find(kind) != nullptr) {
    return core::Error(core::ErrorCode::kInternal,
                       "trigger kind \"" + kind + "\" is registered twice");
  }
  factories_.emplace_back(std::move(kind), std::move(factory));
  return {};
}

const TriggerFactory* TriggerRegistry::find(std::string_view kind) const {
  for (const auto& [name, factory] : factories_) {
    if (name == kind) {
      return &factory;
    }
  }
  return nullptr;
}

std::vector<std::string> TriggerRegistry::kinds() const {
  std::vector<std::string> kinds;
  for (const auto& [name, factory] : factories_) {
    kinds.push_back(name);
  }
  return kinds;
}

void register_builtin_triggers(TriggerRegistry& registry) {
  http::register_http_trigger(registry);
  cron::register_cron_trigger(registry);
  kafka::register_kafka_trigger(registry);
  redis::register_redis_trigger(registry);
}

std::string_view trigger_kind(const config::TriggerSpec& spec) {
  return std::visit(
      [](const auto& value) -> std::string_view {
        using T = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<T, config::HttpTriggerSpec>) {
          return "http";
        } else if constexpr (std::is_same_v<T, config::KafkaTriggerSpec>) {
          return "kafka";
        } else if constexpr (std::is_same_v<T, config::RedisTriggerSpec>) {
          return "redis";
        } else {
          return "cron";
        }
      },
      spec.spec);
}

}  // namespace switchyard::triggers
