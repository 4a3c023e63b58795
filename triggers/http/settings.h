#pragma once

// The settings of an http trigger, as a manifest writes them (`- http: { path: /x }`).

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/kinds.h"

namespace switchyard::triggers::http {

struct HttpTriggerSettings final : config::SettingsOf<HttpTriggerSettings> {
  std::string path;                  // Template: /users/{id}, /files/{path+}.
  std::vector<std::string> methods;  // Upper-case; empty means any method.
  std::string payload;               // "" (native) or "apigw-v2".

  // "GET,POST /users/{id}"; "* /x" for any method.
  std::string describe() const override;
  bool operator==(const HttpTriggerSettings&) const = default;
};

// Reads a http trigger's mapping in a manifest (config::TriggerKind::parse).
std::shared_ptr<const config::Settings> parse_http_trigger(config::MapReader& body,
                                                           const config::ManifestScope& scope);

}  // namespace switchyard::triggers::http
