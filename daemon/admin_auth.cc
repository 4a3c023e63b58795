#include "daemon/admin_auth.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "config/admin.h"
#include "daemon/lambda_api.h"
#include "daemon/sigv4.h"

namespace switchyard::daemon {

AdminCaller AdminAuth::check(const http::Request& request, const config::AdminListenerConfig& admin,
                             const std::string& region) {
  AdminCaller caller;
  if (!admin.authenticated()) {
    if (!admin.insecure && !config::is_loopback(bound_address_)) {
      count_refusal("no_keys", request, "admin.keys were removed by a reload");
      caller.refusal = aws_error(403, "AccessDeniedException",
                                 "the admin listener lost its keys at a reload; restart it on "
                                 "loopback, or give admin.keys or admin.insecure: true");
    }
    return caller;
  }
  const config::AdminKey* signer = nullptr;
  auto secrets = [&](std::string_view id) -> std::optional<std::string> {
    for (const config::AdminKey& key : admin.keys) {
      if (key.access_key_id == id) {
        signer = &key;
        return key.secret;
      }
    }
    return std::nullopt;
  };
  sigv4::Options options;
  options.region = region;
  sigv4::Result result = sigv4::verify(sigv4::RequestView::of(request), secrets,
                                       std::chrono::system_clock::now(), options);
  if (result.valid()) {
    caller.key = signer;
    return caller;
  }
  count_refusal(sigv4::verdict_name(result.verdict), request,
                result.access_key_id.empty()
                    ? result.message
                    : "key " + result.access_key_id + ": " + result.message);
  caller.refusal = aws_error(result.http_status, result.error_type, result.message);
  return caller;
}

void AdminAuth::count_refusal(std::string_view reason, const http::Request& request,
                              std::string_view detail) {
  auto found = refused_.find(reason);
  if (found == refused_.end()) {
    core::Counter& counter =
        metrics_.counter("switchyard_admin_refused_total",
                         "Admin API requests refused: not signed, badly signed, or by a key not "
                         "allowed to do what it asked.",
                         {{"reason", std::string(reason)}});
    found = refused_.emplace(std::string(reason), &counter).first;
  }
  found->second->inc();
  // A flood of bad requests must not flood the log: one line a second at most.
  std::uint64_t now = loop_.now_ms();
  if (last_log_ms_ != 0 && now - last_log_ms_ < 1000) {
    ++unlogged_;
    return;
  }
  spdlog::warn("admin: refused {} {} from {} ({}): {}{}", request.method, request.path,
               request.remote_address, reason, detail,
               unlogged_ == 0 ? std::string()
                              : fmt::format(" ({} more refused since the last line)", unlogged_));
  last_log_ms_ = now;
  unlogged_ = 0;
}

}  // namespace switchyard::daemon
