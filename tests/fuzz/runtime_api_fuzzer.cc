// libFuzzer target over the Runtime API: the bytes a runtime sends go through a real RuntimeApi
// (its server, routing, error parsing, the 413 hook) on a loopback socket, to a handler that
// answers as an Environment does (one invocation at a time, AWS's refusals for misuse). The API
// must answer or close without crashing, leaking or hanging.

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "connection_driver.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "environments/runtime_api.h"

using namespace switchyard;
using environments::RuntimeApi;
using environments::RuntimeError;

namespace {

// The invocation every input's `next` hands out; the seeds answer it by this id.
constexpr std::string_view kRequestId = "fuzz-request";

// Answers like environments::Environment: starting until the first `next`, then an invocation
// handed out at each `next` (busy) until it is answered (returning).
class EnvironmentLikeHandler final : public environments::RuntimeApiHandler {
 public:
  void reset() { state_ = State::kStarting; }

  void on_next(http::ResponseSlot slot) override {
    if (state_ == State::kBusy) {
      return RuntimeApi::invalid_state(slot);
    }
    state_ = State::kBusy;
    http::Response response;
    response.status = 200;
    response.headers.push_back({"Content-Type", "application/json"});
    response.headers.push_back({"Lambda-Runtime-Aws-Request-Id", std::string(kRequestId)});
    response.headers.push_back({"Lambda-Runtime-Deadline-Ms", "4102444800000"});
    response.body = R"({"fuzz":true})";
    slot.respond(std::move(response));
  }
  void on_response(std::string_view request_id, std::string&& body, std::string_view content_type,
                   http::ResponseSlot slot) override {
    if (answerable(request_id, slot)) {
      last_.assign(body.data(), std::min<std::size_t>(body.size(), 64));
      last_.append(content_type);
      RuntimeApi::accepted(slot);
    }
  }
  void on_error(std::string_view request_id, RuntimeError&& error,
                http::ResponseSlot slot) override {
    if (answerable(request_id, slot)) {
      last_ = error.type + error.message;
      RuntimeApi::accepted(slot);
    }
  }
  void on_init_error(RuntimeError&& error, http::ResponseSlot slot) override {
    if (state_ != State::kStarting) {
      return RuntimeApi::invalid_state(slot);
    }
    last_ = error.type + error.message;
    RuntimeApi::accepted(slot);
  }
  void on_response_too_large(std::string_view request_id) override {
    if (state_ == State::kBusy && request_id == kRequestId) {
      state_ = State::kReturning;
    }
  }

 private:
  enum class State { kStarting, kBusy, kReturning };

  bool answerable(std::string_view request_id, http::ResponseSlot& slot) {
    if (request_id != kRequestId) {
      RuntimeApi::unknown_request(slot);
      return false;
    }
    if (state_ != State::kBusy) {
      RuntimeApi::invalid_state(slot);
      return false;
    }
    state_ = State::kReturning;
    return true;
  }

  State state_ = State::kStarting;
  std::string last_;
};

struct Harness {
  core::Loop loop;
  core::MetricsRegistry metrics;
  EnvironmentLikeHandler handler;
  std::unique_ptr<RuntimeApi> api;
  int port = 0;
};

Harness* harness = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  harness = new Harness();
  harness->api = std::make_unique<RuntimeApi>(harness->loop, harness->metrics, harness->handler,
                                              [](int) { return true; });
  if (!harness->api->listen().ok()) {
    std::abort();
  }
  std::string address = harness->api->address();
  harness->port = std::atoi(address.substr(address.rfind(':') + 1).c_str());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  harness->handler.reset();
  fuzz::drive_connection(harness->loop, harness->port, data, size);
  return 0;
}
