#include "triggers/redis/settings.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "config/reader.h"

namespace switchyard::triggers::redis {
namespace {

void read_redis(config::MapReader& body, const config::ManifestScope& scope,
                RedisTriggerSettings& out) {
  body.allow_keys({"stream", "list", "group", "consumer", "batch", "batch_window", "block",
                   "claim_after", "payload"});
  body.read_string("stream", out.stream, false);
  body.read_string("list", out.list, false);
  bool stream = body.has("stream");
  bool list = body.has("list");
  if (body.valid() && stream == list) {
    body.file_reader().fail(body.node(), body.prefix() +
                                             " needs exactly one of stream or list (got " +
                                             (stream ? "both" : "neither") + ")");
  }
  if (list) {
    // These only mean something for a stream's consumer group; ignoring them would hide a typo'd
    // "list:" that was meant to be "stream:".
    for (std::string_view key : {"group", "consumer", "claim_after"}) {
      if (body.has(key)) {
        body.file_reader().fail(body.get(key),
                                body.name(key) + " applies only to redis streams, not lists");
      }
    }
  }
  body.read_string("group", out.group, false);
  body.read_string("consumer", out.consumer, false);
  body.read_int("batch", 1, 10000, out.batch);
  body.read_duration("batch_window", config::Duration(0), config::kMaxDelay, out.batch_window);
  body.read_duration("block", config::Duration(1), std::chrono::minutes(10), out.block);
  body.read_duration("claim_after", config::Duration(1), config::kMaxDelay, out.claim_after);
  body.read_payload(scope, {"lambda-sqs"}, "lambda-sqs", out.payload);
}

}  // namespace

std::shared_ptr<const config::Settings> parse_redis_trigger(config::MapReader& body,
                                                            const config::ManifestScope& scope) {
  auto settings = std::make_shared<RedisTriggerSettings>();
  read_redis(body, scope, *settings);
  return settings;
}

}  // namespace switchyard::triggers::redis
