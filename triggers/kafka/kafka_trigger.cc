// The "kafka" trigger kind: the factory that makes one consumer trigger per Kafka trigger of
// the configuration snapshot (and the dead-letter writer when a function wants one), and the
// check of the daemon's Kafka settings. The trigger itself is in consumer_trigger*.cc.

#include "triggers/kafka/kafka_trigger.h"

#include <fmt/format.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "triggers/kafka/async_topic.h"
#include "triggers/kafka/client.h"
#include "triggers/kafka/consumer_trigger.h"
#include "triggers/kafka/dead_letter_producer.h"
#include "triggers/kafka/settings.h"

namespace switchyard::triggers::kafka {

namespace {

core::Result<ConfHolder> consumer_conf(const config::KafkaConfig& kafka,
                                       const KafkaTriggerSettings& spec, const std::string& who) {
  std::map<std::string, std::string> forced = consumer_forced();
  auto conf = make_conf(kafka, RD_KAFKA_CONSUMER, consumer_defaults(), forced, who);
  if (!conf.ok()) {
    return conf.error();
  }
  // The trigger's own settings win over the daemon-wide properties.
  char errstr[512];
  for (const auto& [name, value] : std::map<std::string, std::string>{
           {"group.id", spec.group_id}, {"auto.offset.reset", spec.start}}) {
    if (rd_kafka_conf_set(conf.value().get(), name.c_str(), value.c_str(), errstr,
                          sizeof(errstr)) != RD_KAFKA_CONF_OK) {
      return core::Error(core::ErrorCode::kInvalidArgument, fmt::format("{}: {}", name, errstr));
    }
  }
  return conf;
}

core::Result<std::vector<TriggerPtr>> build(const config::Snapshot& snapshot,
                                            TriggerContext& context) {
  std::vector<TriggerPtr> triggers;
  bool wants_dead_letters = false;
  for (const auto& manifest : snapshot.functions) {
    for (const config::DeadLetterSpec* destination : manifest.written_destinations()) {
      wants_dead_letters |= destination->kind == kTopicDestination;
    }
    for (const auto& trigger : manifest.triggers) {
      const auto* spec = trigger.as<KafkaTriggerSettings>();
      if (spec == nullptr) {
        continue;
      }
      std::string who = fmt::format("kafka {} ({})", spec->topic, manifest.name);
      auto conf = consumer_conf(snapshot.daemon.kafka, *spec, who);
      if (!conf.ok()) {
        return core::Error(
            core::ErrorCode::kInvalidArgument,
            fmt::format("{}:{}:{}: function {}: {}", trigger.location.file, trigger.location.line,
                        trigger.location.column, manifest.name, conf.error().message()));
      }
      triggers.push_back(
          make_consumer_trigger(context, manifest.name, *spec, std::move(conf).value()));
    }
  }
  if (!wants_dead_letters) {
    return triggers;
  }
  auto sink = DeadLetterProducer::create(context.loop, context.metrics, snapshot.daemon.kafka);
  if (!sink.ok()) {
    return sink.error();
  }
  std::shared_ptr<DeadLetterProducer> producer = std::move(sink).value();
  context.dead_letters.install(kTopicDestination, producer);
  // Shared asynchronous queues: each function's writer (on the same producer), and its reader.
  for (const auto& manifest : snapshot.functions) {
    if (manifest.async.shared.kind != kTopicDestination) {
      continue;
    }
    if (context.shared_async == nullptr) {
      return core::Error(core::ErrorCode::kInvalidArgument,
                         "function " + manifest.name +
                             ": async.queue.kafka_topic needs the asynchronous queue, which this "
                             "daemon does not run");
    }
    KafkaTriggerSettings spec;
    spec.topic = manifest.async.shared.target;
    spec.group_id = async_group(spec.topic);
    spec.ordering = "none";
    spec.start = "earliest";
    const std::string who =
        fmt::format("kafka asynchronous queue {} ({})", spec.topic, manifest.name);
    auto conf = consumer_conf(snapshot.daemon.kafka, spec, who);
    if (!conf.ok()) {
      return core::Error(conf.error().code(),
                         "function " + manifest.name + ": " + conf.error().message());
    }
    auto writer = make_async_writer(producer, snapshot.daemon.kafka, manifest.name, spec.topic);
    if (!writer.ok()) {
      return writer.error();
    }
    context.shared_async->attach(manifest.name, std::move(writer).value());
    triggers.push_back(make_async_reader(context, *context.shared_async, manifest.name, spec,
                                         std::move(conf).value()));
  }
  return triggers;
}

}  // namespace

core::Status check_kafka_config(const config::KafkaConfig& kafka) {
  KafkaTriggerSettings spec;
  spec.group_id = "switchyard.validate";
  auto consumer = consumer_conf(kafka, spec, "validate");
  if (!consumer.ok()) {
    return consumer.error();
  }
  auto producer =
      make_conf(kafka, RD_KAFKA_PRODUCER, DeadLetterProducer::defaults(), {}, "validate");
  if (!producer.ok()) {
    return producer.error();
  }
  return {};
}

void register_kafka_trigger(TriggerRegistry& registry) {
  auto needs_brokers = [](const config::DaemonConfig& daemon, std::string_view what) {
    return daemon.kafka.brokers.empty() ? std::string(what) + " needs kafka.brokers"
                                        : std::string();
  };
  TriggerKind kind;
  kind.manifest.key = "kafka";
  kind.manifest.parse = parse_kafka_trigger;
  kind.manifest.check = [needs_brokers](const config::Settings&,
                                        const config::DaemonConfig& daemon) {
    return needs_brokers(daemon, "kafka trigger");
  };
  kind.manifest.daemon_section = "kafka";
  kind.factory = build;
  kind.dead_letters.push_back(config::DeadLetterKind{
      std::string(kTopicDestination), "",
      [needs_brokers](const config::DaemonConfig& daemon, std::string_view where) {
        return needs_brokers(daemon, where);
      },
      "kafka"});
  kind.same_daemon_settings = [](const config::DaemonConfig& a, const config::DaemonConfig& b) {
    return a.kafka == b.kafka;
  };
  // librdkafka checks property names and values without connecting: a typo fails `switchyard
  // validate` and a reload rather than the start of a consumer.
  kind.check = [](const config::Snapshot& snapshot) {
    std::vector<std::string> problems;
    if (!snapshot.daemon.kafka.brokers.empty()) {
      if (auto checked = check_kafka_config(snapshot.daemon.kafka); !checked.ok()) {
        problems.push_back(snapshot.daemon.config_path.string() + ": " + checked.error().message());
      }
    }
    return problems;
  };
  auto status = registry.add(std::move(kind));
  (void)status;  // Registered once, at start: a duplicate is a programming error caught in tests.
}

}  // namespace switchyard::triggers::kafka
