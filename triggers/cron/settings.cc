#include "triggers/cron/settings.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "config/reader.h"

namespace switchyard::triggers::cron {
namespace {

void read_cron(config::MapReader& body, CronTriggerSettings& out) {
  body.allow_keys({"schedule", "timezone", "overlap", "misfire", "jitter", "lock", "payload"});
  if (body.require("schedule")) {
    body.read_string("schedule", out.schedule, false);
  }
  body.read_string("timezone", out.timezone, false);
  body.read_choice("overlap", {"allow", "skip", "queue"}, out.overlap);
  body.read_choice("misfire", {"skip", "run_once"}, out.misfire);
  body.read_duration("jitter", config::Duration(0), config::kMaxDelay, out.jitter);
  body.read_choice("lock", {"", "redis"}, out.lock);
  body.read_string("payload", out.payload);
}

}  // namespace

std::shared_ptr<const config::Settings> parse_cron_trigger(config::MapReader& body,
                                                           const config::ManifestScope& scope) {
  (void)scope;
  auto settings = std::make_shared<CronTriggerSettings>();
  read_cron(body, *settings);
  return settings;
}

}  // namespace switchyard::triggers::cron
