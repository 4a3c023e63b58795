#pragma once

// What an environment's runtime is handed for an event (the `next` body) and what its answer
// becomes. A Lambda runtime (`provided`) is handed the event's data as its source made it (API
// Gateway, the Kafka event, the Invoke payload, ...) and its response is the response body; a
// native function in its own process (`isolation: process`) is handed the whole native event
// and answers a whole response (the envelope of environments/native).
//
// Thread rules: immutable once made; any thread.

#include <string>

#include "core/event.h"
#include "environments/environment.h"

namespace switchyard::environments {

class Codec {
 public:
  virtual ~Codec() = default;
  // The `next` body for `event`, and its Content-Type.
  virtual void encode(const core::Event& event, std::string& payload,
                      std::string& content_type) const = 0;
  // The outcome of an invocation answered through /response.
  virtual core::Outcome decode(Answer&& answer) const = 0;
};

// The event's data as it is; the response body as the runtime sent it.
class LambdaCodec final : public Codec {
 public:
  void encode(const core::Event& event, std::string& payload,
              std::string& content_type) const override;
  core::Outcome decode(Answer&& answer) const override;
};

// The native envelope (environments/native/envelope.h): the whole event goes to
// switchyard-environment, which runs a native library; its answer is a whole response.
class NativeCodec final : public Codec {
 public:
  void encode(const core::Event& event, std::string& payload,
              std::string& content_type) const override;
  core::Outcome decode(Answer&& answer) const override;
};

}  // namespace switchyard::environments
