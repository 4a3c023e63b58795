#include "triggers/redis/redis_trigger.h"

#include <string>
#include <utility>
#include <vector>

#include "triggers/redis/async_stream.h"
#include "triggers/redis/connection.h"
#include "triggers/redis/dead_letter_sink.h"
#include "triggers/redis/list_source.h"
#include "triggers/redis/probe.h"
#include "triggers/redis/redis_source.h"
#include "triggers/redis/settings.h"
#include "triggers/redis/stream_source.h"
#include "triggers/redis/url.h"

namespace switchyard::triggers::redis {

namespace {

core::Result<std::vector<TriggerPtr>> build(const config::Snapshot& snapshot,
                                            TriggerContext& context) {
  std::vector<TriggerPtr> triggers;
  const config::RedisConfig& redis = snapshot.daemon.redis;
  bool any_dead_letter = false;
  bool any_trigger = false;
  for (const auto& manifest : snapshot.functions) {
    for (const config::DeadLetterSpec* destination : manifest.written_destinations()) {
      any_dead_letter |= is_redis_destination(*destination);
    }
    for (const auto& trigger : manifest.triggers) {
      any_trigger |= trigger.as<RedisTriggerSettings>() != nullptr;
    }
  }
  if (!any_dead_letter && !any_trigger) {
    return triggers;
  }
  auto endpoint = parse_redis_url(redis.url);
  if (!endpoint.ok()) {
    return endpoint.error();
  }

  if (any_dead_letter) {
    // A dead-letter key of the wrong type would fail every dead letter: refuse to start.
    auto client =
        BlockingClient::connect(endpoint.value(), redis.connect_timeout, redis.command_timeout);
    if (!client.ok()) {
      return core::Error(client.error().code(),
                         "redis dead-letter writer: " + client.error().message());
    }
    for (const auto& manifest : snapshot.functions) {
      for (const config::DeadLetterSpec* destination : manifest.written_destinations()) {
        if (!is_redis_destination(*destination)) {
          continue;
        }
        core::Status status =
            expect_type(client.value(), destination->target,
                        destination->kind == kStreamDestination ? "stream" : "list",
                        (destination == &manifest.dead_letter ? "dead letters of function "
                         : destination == &manifest.async.shared
                             ? "asynchronous queue of function "
                             : "asynchronous invocation records of function ") +
                            manifest.name);
        if (!status.ok()) {
          return status.error();
        }
      }
    }
    ConnectionOptions options;
    options.endpoint = endpoint.value();
    options.connect_timeout = redis.connect_timeout;
    options.command_timeout = redis.command_timeout;
    options.name = "redis dead-letter writer";
    auto sink = start_dead_letter_sink(
        context.loop, std::move(options),
        context.metrics.counter("switchyard_redis_dead_letters_written_total",
                                "Dead letters written to Redis streams and lists."));
    context.dead_letters.install(kStreamDestination, sink);
    context.dead_letters.install(kListDestination, sink);
  }

  for (const auto& manifest : snapshot.functions) {
    for (const auto& trigger : manifest.triggers) {
      const auto* spec = trigger.as<RedisTriggerSettings>();
      if (spec == nullptr) {
        continue;
      }
      SourceSettings settings;
      settings.function = manifest.name;
      settings.spec = *spec;
      settings.endpoint = endpoint.value();
      settings.key = spec->stream.empty() ? spec->list : spec->stream;
      settings.consumer =
          spec->consumer.empty() ? snapshot.daemon.instance + "-" + manifest.name : spec->consumer;
      settings.connect_timeout = redis.connect_timeout;
      settings.command_timeout = redis.command_timeout;
      if (!spec->stream.empty()) {
        triggers.push_back(make_stream_source(context, std::move(settings)));
      } else {
        triggers.push_back(make_list_source(context, std::move(settings)));
      }
    }
  }
  // Shared asynchronous queues: each function's writer, and its reader.
  for (const auto& manifest : snapshot.functions) {
    if (manifest.async.shared.kind != kStreamDestination) {
      continue;
    }
    if (context.shared_async == nullptr) {
      return core::Error(core::ErrorCode::kInvalidArgument,
                         "function " + manifest.name +
                             ": async.queue.redis_stream needs the asynchronous queue, which "
                             "this daemon does not run");
    }
    SourceSettings settings;
    settings.function = manifest.name;
    settings.spec.stream = manifest.async.shared.target;
    settings.spec.group = std::string(kAsyncGroup);
    settings.spec.claim_after = manifest.async.claim_after;
    settings.endpoint = endpoint.value();
    settings.key = settings.spec.stream;
    settings.consumer = snapshot.daemon.instance + "-" + manifest.name;
    settings.connect_timeout = redis.connect_timeout;
    settings.command_timeout = redis.command_timeout;
    settings.removes_settled = true;
    context.shared_async->attach(manifest.name, make_async_writer(context.loop, settings));
    triggers.push_back(make_async_reader(context, *context.shared_async, std::move(settings)));
  }
  return triggers;
}

}  // namespace

void register_redis_trigger(TriggerRegistry& registry) {
  auto needs_url = [](const config::DaemonConfig& daemon, std::string_view what) {
    return daemon.redis.url.empty() ? std::string(what) + " needs redis.url" : std::string();
  };
  TriggerKind kind;
  kind.manifest.key = "redis";
  kind.manifest.parse = parse_redis_trigger;
  kind.manifest.check = [needs_url](const config::Settings&, const config::DaemonConfig& daemon) {
    return needs_url(daemon, "redis trigger");
  };
  kind.manifest.daemon_section = "redis";
  kind.factory = build;
  for (std::string_view destination : {kStreamDestination, kListDestination}) {
    kind.dead_letters.push_back(config::DeadLetterKind{
        std::string(destination), "",
        [needs_url](const config::DaemonConfig& daemon, std::string_view where) {
          return needs_url(daemon, where);
        },
        "redis"});
  }
  kind.same_daemon_settings = [](const config::DaemonConfig& a, const config::DaemonConfig& b) {
    return a.redis == b.redis;
  };
  auto status = registry.add(std::move(kind));
  (void)status;  // Registered once, at start: a duplicate is a programming error caught in tests.
}

}  // namespace switchyard::triggers::redis
