#pragma once

// The Lambda Runtime API (2018-06-01) as one execution environment sees it: an HTTP/1.1 server
// on a loopback port of its own (AWS_LAMBDA_RUNTIME_API), which only the environment's own
// processes may connect to (peer.h). This file is the protocol: routing, request parsing and
// the answers AWS gives for misuse. What a request means for the environment (which invocation
// it answers, whether that is allowed now) is its Handler's business (environment.h).
//
//   GET  /2018-06-01/runtime/invocation/next            the next invocation (a long poll)
//   POST /2018-06-01/runtime/invocation/{id}/response   its result           -> 202
//   POST /2018-06-01/runtime/invocation/{id}/error      its failure          -> 202
//   POST /2018-06-01/runtime/init/error                 the init failed      -> 202
//
// Thread rules: loop thread only.

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/error.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "http/server.h"

namespace switchyard::environments {

// What Lambda allows a function to answer: 6 MiB plus a little (AWS's own figure).
inline constexpr std::size_t kMaxResponseBytes = 6291556;

// A failure a runtime reported (`/error`, `/init/error`).
struct RuntimeError {
  std::string type;        // errorType, else the Lambda-Runtime-Function-Error-Type header.
  std::string message;     // errorMessage.
  std::string document{};  // The whole body, when it is a JSON object.
};

class RuntimeApiHandler {
 public:
  virtual ~RuntimeApiHandler() = default;
  // The runtime asks for its next invocation; answer `slot` when there is one.
  virtual void on_next(http::ResponseSlot slot) = 0;
  virtual void on_response(std::string_view request_id, std::string&& body,
                           std::string_view content_type, http::ResponseSlot slot) = 0;
  virtual void on_error(std::string_view request_id, RuntimeError&& error,
                        http::ResponseSlot slot) = 0;
  virtual void on_init_error(RuntimeError&& error, http::ResponseSlot slot) = 0;
  // A response over kMaxResponseBytes was refused (413) for `request_id`.
  virtual void on_response_too_large(std::string_view request_id) = 0;
};

class RuntimeApi {
 public:
  // `owner` is asked, for each connection, whether the process at its other end may use this
  // API (an environment's process tree).
  RuntimeApi(core::Loop& loop, core::MetricsRegistry& metrics, RuntimeApiHandler& handler,
             std::function<bool(int fd)> admit);
  ~RuntimeApi();
  RuntimeApi(const RuntimeApi&) = delete;
  RuntimeApi& operator=(const RuntimeApi&) = delete;

  // Listens on 127.0.0.1 on a free port.
  core::Status listen();
  // Serves `fd`, the daemon's end of a socketpair whose other end the environment inherits
  // (switchyard-environment's SWITCHYARD_RUNTIME_API_FD), instead of or beside the port.
  core::Status adopt(int fd);
  // "127.0.0.1:<port>": AWS_LAMBDA_RUNTIME_API.
  std::string address() const;
  // Closes the listener and every connection; pending slots become no-ops.
  void close();

  // The answers, with AWS's status codes and bodies.
  static void accepted(http::ResponseSlot& slot);
  static void refuse(http::ResponseSlot& slot, int status, std::string_view type,
                     std::string_view message);
  // The misuses a handler refuses.
  static void unknown_request(http::ResponseSlot& slot);
  static void invalid_state(http::ResponseSlot& slot);

 private:
  void on_request(http::Request&& request, http::ResponseSlot slot);

  RuntimeApiHandler& handler_;
  std::unique_ptr<http::Server> server_;
};

// The request id in a Runtime API target ("/2018-06-01/runtime/invocation/<id>/response"), or
// "" when the target is not one; for the server's 413 hook.
std::string_view response_request_id(std::string_view target);

// Reads a runtime's error report: the JSON body's errorType and errorMessage, the
// Lambda-Runtime-Function-Error-Type header when the body has no type, and the body's text
// as the message when it is not JSON. Untrusted input: never fails.
RuntimeError parse_runtime_error(std::string_view body, const http::Headers& headers);

}  // namespace switchyard::environments
