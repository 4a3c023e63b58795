#pragma once

// The settings of a cron trigger, as a manifest writes them (`- cron: { schedule: "..." }`).

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/kinds.h"

namespace switchyard::triggers::cron {

struct CronTriggerSettings final : config::SettingsOf<CronTriggerSettings> {
  std::string schedule;  // Checked by the cron trigger's own parser.
  std::string timezone = "UTC";
  std::string overlap = "allow";  // allow | skip | queue.
  std::string misfire = "skip";   // skip | run_once.
  config::Duration jitter{0};
  std::string lock;     // "" or "redis".
  std::string payload;  // Free text passed as data ("": none, the native event), or "eventbridge".

  // "*/5 * * * * (Europe/Paris)".
  std::string describe() const override { return schedule + " (" + timezone + ")"; }
  bool operator==(const CronTriggerSettings&) const = default;
};

// Reads a cron trigger's mapping in a manifest (config::TriggerKind::parse).
std::shared_ptr<const config::Settings> parse_cron_trigger(config::MapReader& body,
                                                           const config::ManifestScope& scope);

}  // namespace switchyard::triggers::cron
