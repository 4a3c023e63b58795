#include "triggers/http/http_trigger.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <array>
#include <memory>

#include "core/ids.h"
#include "core/log.h"
#include "http/message.h"
#include "http/server.h"
#include "triggers/http/payload.h"
#include "triggers/http/router.h"
#include "triggers/http/settings.h"

namespace switchyard::triggers::http {

namespace {

using switchyard::http::ResponseSlot;
using switchyard::http::Server;
using switchyard::http::ServerOptions;

struct Route {
  std::string function;
  std::string path_template;
  bool apigw_v2 = false;
  // switchyard_trigger_events_total{trigger="http",function,outcome}, by core::OutcomeKind.
  std::array<core::Counter*, 5> outcomes{};
};

constexpr std::array<core::OutcomeKind, 5> kOutcomeKinds = {
    core::OutcomeKind::kOk, core::OutcomeKind::kFunctionError, core::OutcomeKind::kTimeout,
    core::OutcomeKind::kThrottled, core::OutcomeKind::kRejected};

Response json_response(int status, std::string body) {
  Response response;
  response.status = status;
  response.headers.push_back({"Content-Type", "application/json"});
  response.body = std::move(body);
  return response;
}

Response message_response(int status, std::string_view message) {
  std::string body = "{\"message\":\"";
  core::append_json_escaped(body, message);
  body += "\"}";
  return json_response(status, std::move(body));
}

Response error_response(int status, const core::Outcome& outcome) {
  std::string body = "{\"errorType\":\"";
  core::append_json_escaped(body, outcome.error_type);
  body += "\",\"errorMessage\":\"";
  core::append_json_escaped(body, outcome.error_message);
  body += "\"}";
  return json_response(status, std::move(body));
}

// Builds the route table of every function's http triggers; conflicting routes are errors that
// point at the trigger in its manifest.
std::vector<std::string> build_routes(const config::Snapshot& snapshot, std::vector<Route>& routes,
                                      Router& router) {
  std::vector<std::string> errors;
  for (const auto& manifest : snapshot.functions) {
    for (const auto& trigger : manifest.triggers) {
      const auto* spec = trigger.as<HttpTriggerSettings>();
      if (spec == nullptr) {
        continue;
      }
      auto added = router.add(spec->path, spec->methods, routes.size());
      if (!added.ok()) {
        errors.push_back(fmt::format("{}:{}:{}: function {}: {}", trigger.location.file,
                                     trigger.location.line, trigger.location.column, manifest.name,
                                     added.error().message()));
        continue;
      }
      routes.push_back(Route{manifest.name, spec->path, spec->payload == "apigw-v2", {}});
    }
  }
  return errors;
}

class HttpTrigger final : public Trigger {
 public:
  HttpTrigger(TriggerContext& context, std::vector<Route> routes, Router router)
      : context_(context),
        router_(std::move(router)),
        server_(
            context.loop, server_options(context.daemon),
            [this](Request&& request, ResponseSlot slot) {
              handle(std::move(request), std::move(slot));
            },
            context.metrics),
        request_ids_("http") {
    set_routes(std::move(routes));
  }

  std::string describe() const override {
    return fmt::format("http {}:{} ({} route(s))", context_.daemon.http.address, server_.port(),
                       routes_->size());
  }

  bool update(const config::Snapshot& snapshot) override {
    if (!snapshot.daemon.http.enabled) {
      return false;
    }
    std::vector<Route> routes;
    Router router;
    if (!build_routes(snapshot, routes, router).empty() || routes.empty()) {
      // Conflicts are refused before a reload applies; no routes at all: stop listening.
      return false;
    }
    const config::HttpListenerConfig& listener = snapshot.daemon.http;
    if (listener.address != context_.daemon.http.address ||
        listener.port != context_.daemon.http.port) {
      spdlog::warn(
          "http listener changed to {}:{}: it takes effect at the next restart; still "
          "listening on {}:{}",
          listener.address, listener.port, context_.daemon.http.address, server_.port());
    }
    // The listener and every connection stay; requests from now on use the new routes.
    set_routes(std::move(routes));
    router_ = std::move(router);
    spdlog::info("http routes updated: {} route(s)", routes_->size());
    return true;
  }

  core::Status start() override {
    auto status = server_.listen();
    if (status.ok()) {
      spdlog::info("http listening on {}:{}", context_.daemon.http.address, server_.port());
    }
    return status;
  }

  void stop(std::function<void()> done) override {
    draining_ = true;
    server_.stop_accepting();
    on_stopped_ = std::move(done);
    maybe_stopped();
  }

 private:
  static ServerOptions server_options(const config::DaemonConfig& daemon) {
    ServerOptions options;
    options.address = daemon.http.address;
    options.port = daemon.http.port;
    options.max_body_bytes = daemon.limits.max_body_bytes;
    options.max_header_bytes = daemon.limits.max_header_bytes;
    options.max_target_bytes = daemon.limits.max_target_bytes;
    options.header_timeout = daemon.limits.header_timeout;
    options.idle_timeout = daemon.limits.idle_timeout;
    options.max_connections = daemon.limits.max_connections;
    options.name = "http";
    return options;
  }

  void set_routes(std::vector<Route> routes) {
    for (Route& route : routes) {
      for (std::size_t i = 0; i < kOutcomeKinds.size(); ++i) {
        route.outcomes[i] = &context_.metrics.counter(
            "switchyard_trigger_events_total",
            "Events answered by a trigger, by function and outcome.",
            {{"trigger", "http"},
             {"function", route.function},
             {"outcome", std::string(core::to_string(kOutcomeKinds[i]))}});
      }
    }
    if (routes_ != nullptr) {
      // Completions of requests in flight point into the old table: it stays (reloads are rare
      // and a table is small).
      old_routes_.push_back(std::move(routes_));
    }
    routes_ = std::make_unique<std::vector<Route>>(std::move(routes));
  }

  void handle(Request&& request, ResponseSlot slot) {
    if (draining_) {
      slot.respond(message_response(503, "switchyard is shutting down"));
      return;
    }
    RouteMatch match;
    allow_.clear();
    switch (router_.match(request.method, request.path, match, allow_)) {
      case Router::Result::kNotFound:
        slot.respond(message_response(404, "no route for " + request.path));
        return;
      case Router::Result::kMethodNotAllowed: {
        Response response = message_response(405, request.method + " is not allowed here");
        response.headers.push_back({"Allow", allow_});
        slot.respond(std::move(response));
        return;
      }
      case Router::Result::kMatched:
        break;
    }
    const Route& route = (*routes_)[match.route_index];
    request_ids_.next(request_id_);

    core::Event event;
    const std::string* invocation_type = find_header(request.headers, "X-Amz-Invocation-Type");
    bool asynchronous = invocation_type != nullptr && *invocation_type == "Event";
    if (route.apigw_v2) {
      std::string payload = build_apigw_v2_event(request, match, route.path_template, request_id_,
                                                 std::chrono::system_clock::now());
      fill_event(request, match, request_id_, std::chrono::system_clock::now(), event);
      event.data = std::move(payload);
      event.datacontenttype = "application/json";
    } else {
      fill_event(request, match, request_id_, std::chrono::system_clock::now(), event);
      auto status = apply_cloudevents(request.headers, event);
      if (!status.ok()) {
        slot.respond(message_response(400, status.error().message()));
        return;
      }
    }
    if (asynchronous) {
      invoke_async(route, std::move(event), std::move(slot));
      return;
    }
    event.synchronous = true;

    const std::size_t index = park(std::move(slot));
    const Route* answered_route = &route;
    event.completion = [this, index, answered_route](core::Event&, core::Outcome& outcome) {
      answered_route->outcomes[static_cast<std::size_t>(outcome.kind)]->inc_unshared();
      answer(index, answered_route->apigw_v2, outcome);
    };
    auto admission = context_.dispatcher.dispatch(route.function, std::move(event));
    switch (admission) {
      case scheduler::Admission::kStarted:
      case scheduler::Admission::kQueued:
        return;
      case scheduler::Admission::kThrottled: {
        route.outcomes[static_cast<std::size_t>(core::OutcomeKind::kThrottled)]->inc_unshared();
        Response response = message_response(429, "Too Many Requests");
        response.headers.push_back(
            {"Retry-After",
             std::to_string(context_.dispatcher.retry_after(route.function).count())});
        respond_parked(index, std::move(response));
        return;
      }
      case scheduler::Admission::kRejected:
        route.outcomes[static_cast<std::size_t>(core::OutcomeKind::kRejected)]->inc_unshared();
        respond_parked(index,
                       message_response(503, "function " + route.function + " is not serving"));
        return;
    }
  }

  // X-Amz-Invocation-Type: Event: answered 202 once the durable queue has written it (the
  // slot waits for the group commit), 429 when the function's queue is full, 503 when it
  // could not be written.
  void invoke_async(const Route& route, core::Event&& event, ResponseSlot slot) {
    if (context_.async_invocations == nullptr) {
      slot.respond(message_response(503, "asynchronous invocations are not available"));
      return;
    }
    const std::size_t index = park(std::move(slot));
    const Route* answered_route = &route;
    context_.async_invocations->invoke(
        route.function, request_id_, std::move(event),
        [this, index, answered_route, id = request_id_](const async::AcceptResult& result) {
          switch (result.kind) {
            case async::Acceptance::kAccepted: {
              Response response = json_response(202, "{\"requestId\":\"" + id + "\"}");
              response.headers.push_back({"x-amzn-RequestId", id});
              respond_parked(index, std::move(response));
              return;
            }
            case async::Acceptance::kFull: {
              answered_route->outcomes[static_cast<std::size_t>(core::OutcomeKind::kThrottled)]
                  ->inc_unshared();
              Response response = message_response(429, result.message);
              response.headers.push_back({"Retry-After", "1"});
              respond_parked(index, std::move(response));
              return;
            }
            case async::Acceptance::kFailed:
            case async::Acceptance::kRejected:
              answered_route->outcomes[static_cast<std::size_t>(core::OutcomeKind::kRejected)]
                  ->inc_unshared();
              respond_parked(index, message_response(503, result.message));
              return;
          }
        });
  }

  // Answers a parked slot whose event's completion will never run (refused, or asynchronous).
  void respond_parked(std::size_t index, Response response) {
    ResponseSlot parked = unpark(index);
    parked.respond(std::move(response));
    maybe_stopped();
  }

  void answer(std::size_t index, bool apigw, core::Outcome& outcome) {
    ResponseSlot slot = unpark(index);
    switch (outcome.kind) {
      case core::OutcomeKind::kOk:
        if (apigw) {
          auto parsed = parse_apigw_v2_response(outcome.response.body);
          if (parsed.ok()) {
            slot.respond(std::move(parsed).value());
          } else {
            slot.respond(message_response(502, parsed.error().message()));
          }
        } else {
          Response response;
          response.status = outcome.response.status;
          response.headers.reserve(outcome.response.headers.size());
          for (auto& header : outcome.response.headers) {
            response.headers.push_back({std::move(header.key), std::move(header.value)});
          }
          response.body = std::move(outcome.response.body);
          slot.respond(std::move(response));
        }
        break;
      case core::OutcomeKind::kTimeout:
        slot.respond(error_response(504, outcome));
        break;
      case core::OutcomeKind::kThrottled:
        slot.respond(error_response(429, outcome));
        break;
      case core::OutcomeKind::kRejected:
        slot.respond(error_response(503, outcome));
        break;
      case core::OutcomeKind::kFunctionError:
        slot.respond(error_response(502, outcome));
        break;
    }
    maybe_stopped();
  }

  // Slots waiting for an outcome live in a slab, so that a completion captures an index rather
  // than owning a move-only slot (no allocation per request).
  std::size_t park(ResponseSlot slot) {
    std::size_t index;
    if (free_.empty()) {
      index = parked_.size();
      parked_.push_back(std::move(slot));
    } else {
      index = free_.back();
      free_.pop_back();
      parked_[index] = std::move(slot);
    }
    ++in_flight_;
    return index;
  }

  ResponseSlot unpark(std::size_t index) {
    ResponseSlot slot = std::move(parked_[index]);
    free_.push_back(index);
    --in_flight_;
    return slot;
  }

  void maybe_stopped() {
    if (draining_ && in_flight_ == 0 && on_stopped_) {
      auto done = std::move(on_stopped_);
      on_stopped_ = nullptr;
      done();
    }
  }

  TriggerContext& context_;
  std::unique_ptr<std::vector<Route>> routes_;
  std::vector<std::unique_ptr<std::vector<Route>>> old_routes_;
  Router router_;
  Server server_;
  std::vector<ResponseSlot> parked_;
  std::vector<std::size_t> free_;
  std::size_t in_flight_ = 0;
  bool draining_ = false;
  std::function<void()> on_stopped_;
  std::string allow_;
  core::IdGenerator request_ids_;
  std::string request_id_;
};

core::Result<std::vector<TriggerPtr>> build(const config::Snapshot& snapshot,
                                            TriggerContext& context) {
  std::vector<Route> routes;
  Router router;
  auto errors = build_routes(snapshot, routes, router);
  if (!errors.empty()) {
    std::string message;
    for (const auto& error : errors) {
      message += (message.empty() ? "" : "; ") + error;
    }
    return core::Error(core::ErrorCode::kInvalidArgument, message);
  }
  std::vector<TriggerPtr> triggers;
  if (!routes.empty() && snapshot.daemon.http.enabled) {
    triggers.push_back(
        std::make_unique<HttpTrigger>(context, std::move(routes), std::move(router)));
  }
  return triggers;
}

}  // namespace

std::vector<std::string> check_http_routes(const config::Snapshot& snapshot) {
  std::vector<Route> routes;
  Router router;
  return build_routes(snapshot, routes, router);
}

void register_http_trigger(TriggerRegistry& registry) {
  TriggerKind kind;
  kind.manifest.key = "http";
  kind.manifest.parse = parse_http_trigger;
  kind.manifest.check = [](const config::Settings&, const config::DaemonConfig& daemon) {
    return std::string(daemon.http.enabled
                           ? ""
                           : "http trigger needs the HTTP listener, but http.enabled is false");
  };
  kind.manifest.daemon_section = "http";
  kind.factory = build;
  kind.same_daemon_settings = [](const config::DaemonConfig& a, const config::DaemonConfig& b) {
    return a.http.enabled == b.http.enabled;
  };
  kind.check = check_http_routes;
  auto status = registry.add(std::move(kind));
  (void)status;  // Registered once, at start: a duplicate is a programming error caught in tests.
}

}  // namespace switchyard::triggers::http
