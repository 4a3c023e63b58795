#pragma once

// Who may use the admin listener's Lambda API: with `admin.keys` configured, every request to
// it (and to /functions) must carry an AWS Signature Version 4 signature (daemon/sigv4.h) by
// one of those keys, in the daemon's region, for the service "lambda", as the AWS tools sign.
// Refused requests get AWS's error (403 InvalidSignatureException, UnrecognizedClientException,
// MissingAuthenticationTokenException), are counted by reason, and are logged (at most one
// line a second, with the number left out).
//
// Thread rules: loop thread only.

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "config/config.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "http/message.h"

namespace switchyard::daemon {

// The outcome of checking one request.
struct AdminCaller {
  // The key that signed it; nullptr when the listener has no keys (everyone may do anything).
  const config::AdminKey* key = nullptr;
  // Set when the request is refused: the answer to send.
  std::optional<http::Response> refusal;
};

class AdminAuth {
 public:
  // `bound_address` is where the listener was started: a reload that removes every key while it
  // listens beyond loopback (and is not `insecure`) closes the API rather than open it.
  AdminAuth(core::Loop& loop, core::MetricsRegistry& metrics, std::string bound_address)
      : loop_(loop), metrics_(metrics), bound_address_(std::move(bound_address)) {}

  // Checks `request` against `admin`'s keys (none: every request passes). The caller's key
  // points into `admin`, which must outlive its use.
  AdminCaller check(const http::Request& request, const config::AdminListenerConfig& admin,
                    const std::string& region);

  // Counts and logs a refusal decided elsewhere (a key not allowed to invoke a function).
  void count_refusal(std::string_view reason, const http::Request& request,
                     std::string_view detail);

 private:
  core::Loop& loop_;
  core::MetricsRegistry& metrics_;
  std::string bound_address_;
  std::map<std::string, core::Counter*, std::less<>> refused_;
  std::uint64_t last_log_ms_ = 0;
  std::uint64_t unlogged_ = 0;
};

}  // namespace switchyard::daemon
