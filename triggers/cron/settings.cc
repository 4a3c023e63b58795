#include "triggers/cron/settings.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "config/reader.h"

namespace switchyard::triggers::cron {
namespace {

void read_cron(config::MapReader& body, const config::ManifestScope& scope,
               CronTriggerSettings& out) {
  body.allow_keys({"schedule", "timezone", "overlap", "misfire", "jitter", "lock", "payload"});
  if (body.require("schedule")) {
    body.read_string("schedule", out.schedule, false);
  }
  body.read_string("timezone", out.timezone, false);
  body.read_choice("overlap", {"allow", "skip", "queue"}, out.overlap);
  body.read_choice("misfire", {"skip", "run_once"}, out.misfire);
  body.read_duration("jitter", config::Duration(0), config::kMaxDelay, out.jitter);
  body.read_choice("lock", {"", "redis"}, out.lock);
  // Free text, so `native` (the native event with no data) is checked by hand rather than as a
  // choice.
  if (body.read_string("payload", out.payload)) {
    if (out.payload == config::kNativePayload) {
      out.payload.clear();
    }
  } else if (!body.has("payload") && scope.lambda_events) {
    out.payload = "eventbridge";
  }
}

}  // namespace

std::shared_ptr<const config::Settings> parse_cron_trigger(config::MapReader& body,
                                                           const config::ManifestScope& scope) {
  auto settings = std::make_shared<CronTriggerSettings>();
  read_cron(body, scope, *settings);
  return settings;
}

}  // namespace switchyard::triggers::cron
