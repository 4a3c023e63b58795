#include "daemon/admin.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "functions/native.h"

namespace switchyard::daemon {

namespace {

using http::Request;
using http::Response;
using http::ResponseSlot;

Response text(int status, std::string body, std::string content_type = "text/plain") {
  Response response;
  response.status = status;
  response.headers.push_back({"Content-Type", std::move(content_type)});
  response.body = std::move(body);
  return response;
}

}  // namespace

AdminListener::AdminListener(core::Loop& loop, const config::Snapshot& snapshot,
                             scheduler::Scheduler& scheduler, core::MetricsRegistry& metrics,
                             async::AsyncQueue* async_queue)
    : snapshot_(&snapshot),
      scheduler_(scheduler),
      metrics_(metrics),
      async_queue_(async_queue),
      process_metrics_(metrics),
      auth_(loop, metrics, snapshot.daemon.admin.address),
      lambda_api_(snapshot, scheduler, auth_, async_queue),
      server_(
          loop,
          [&] {
            http::ServerOptions options;
            options.address = snapshot.daemon.admin.address;
            options.port = snapshot.daemon.admin.port;
            options.max_body_bytes = snapshot.daemon.limits.max_body_bytes;
            options.max_header_bytes = snapshot.daemon.limits.max_header_bytes;
            options.max_target_bytes = snapshot.daemon.limits.max_target_bytes;
            options.header_timeout = snapshot.daemon.limits.header_timeout;
            options.idle_timeout = snapshot.daemon.limits.idle_timeout;
            options.max_connections = 1024;
            options.name = "admin";
            return options;
          }(),
          [this](Request&& request, ResponseSlot slot) {
            handle(std::move(request), std::move(slot));
          },
          metrics) {}

core::Status AdminListener::listen() {
  return server_.listen();
}

void AdminListener::handle(Request&& request, ResponseSlot slot) {
  const std::string& path = request.path;
  bool get = request.method == "GET" || request.method == "HEAD";
  if (path == "/healthz" && get) {
    slot.respond(text(200, "ok\n"));
  } else if (path == "/readyz" && get) {
    bool ready = ready_ && !draining_;
    slot.respond(text(ready ? 200 : 503, draining_ ? "draining\n"
                                         : ready   ? "ready\n"
                                                   : "starting\n"));
  } else if (path == "/metrics" && get) {
    process_metrics_.update();
    slot.respond(text(200, metrics_.render(), "text/plain; version=0.0.4; charset=utf-8"));
  } else if (path == "/functions" && get) {
    AdminCaller caller = auth_.check(request, snapshot_->daemon.admin, snapshot_->daemon.region);
    if (caller.refusal) {
      slot.respond(std::move(*caller.refusal));
      return;
    }
    slot.respond(text(200, functions_json(), "application/json"));
  } else if (path == "/healthz" || path == "/readyz" || path == "/metrics" ||
             path == "/functions") {
    Response response = text(405, "method not allowed\n");
    response.headers.push_back({"Allow", "GET, HEAD"});
    slot.respond(std::move(response));
  } else if (is_lambda_api_path(path)) {
    AdminCaller caller = auth_.check(request, snapshot_->daemon.admin, snapshot_->daemon.region);
    if (caller.refusal) {
      slot.respond(std::move(*caller.refusal));
      return;
    }
    lambda_api_.handle(std::move(request), std::move(slot), caller.key);
  } else {
    slot.respond(text(404,
                      "not found: try /healthz, /readyz, /metrics, /functions or the "
                      "Lambda API (/2015-03-31/functions/)\n"));
  }
}

std::string AdminListener::functions_json() const {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartArray();
  for (const auto& manifest : snapshot_->functions) {
    auto stats = scheduler_.stats(manifest.name);
    writer.StartObject();
    writer.Key("name");
    writer.String(manifest.name.c_str());
    writer.Key("runtime");
    writer.String(manifest.runtime.c_str());
    writer.Key("code");
    writer.String(manifest.code != nullptr ? manifest.code->describe().c_str() : "");
    if (std::filesystem::path library = functions::native_library(manifest); !library.empty()) {
      // Kept for the tools that read it before runtimes had their `code`.
      writer.Key("library");
      writer.String(library.c_str());
    }
    writer.Key("execution");
    writer.String(manifest.execution == config::Execution::kInline ? "inline" : "pool");
    writer.Key("concurrency");
    writer.Int(manifest.concurrency);
    writer.Key("queue");
    writer.Int(manifest.queue);
    writer.Key("timeout_ms");
    writer.Int64(manifest.timeout.count());
    writer.Key("retry_attempts");
    writer.Int(manifest.retry.attempts);
    writer.Key("in_flight");
    writer.Int(stats.in_flight);
    writer.Key("queued");
    writer.Uint64(stats.queued);
    writer.Key("retrying");
    writer.Uint64(stats.retrying);
    writer.Key("throttled");
    writer.Uint64(stats.throttled);
    writer.Key("retries");
    writer.Uint64(stats.retries);
    writer.Key("timeouts");
    writer.Uint64(stats.timeouts);
    writer.Key("dead_letters");
    writer.Uint64(stats.dead_letters);
    if (async_queue_ != nullptr) {
      // The function's asynchronous invocations in the durable queue.
      async::AsyncStats async = async_queue_->stats(manifest.name);
      writer.Key("async");
      writer.StartObject();
      writer.Key("queued");
      writer.Uint64(async.queued);
      writer.Key("queued_bytes");
      writer.Uint64(async.queued_bytes);
      writer.Key("oldest_age_ms");
      writer.Int64(async.oldest_age_ms);
      writer.Key("waiting");
      writer.Uint64(async.waiting);
      writer.Key("running");
      writer.Uint64(async.running);
      writer.Key("retrying");
      writer.Uint64(async.retrying);
      writer.Key("recovered");
      writer.Uint64(async.recovered);
      writer.Key("max_attempts");
      writer.Int(manifest.async.attempts(manifest.retry));
      writer.Key("max_event_age_ms");
      writer.Int64(manifest.async.max_event_age.count());
      writer.Key("max_queued");
      writer.Uint64(manifest.async.queue_events);
      writer.Key("max_queued_bytes");
      writer.Uint64(manifest.async.queue_bytes);
      if (manifest.async.shared.configured()) {
        writer.Key(manifest.async.shared.kind.c_str());
        writer.String(manifest.async.shared.target.c_str());
      }
      for (auto [key, destination] : {std::pair{"on_success", &manifest.async.on_success},
                                      std::pair{"on_failure", &manifest.async.on_failure}}) {
        if (destination->configured()) {
          writer.Key(key);
          writer.StartObject();
          writer.Key(destination->kind.c_str());
          writer.String(destination->target.c_str());
          writer.EndObject();
        }
      }
      writer.EndObject();
    }
    if (!stats.implementation.empty()) {
      writer.Key("environments");
      writer.RawValue(stats.implementation.data(), stats.implementation.size(),
                      rapidjson::kObjectType);
    }
    writer.EndObject();
  }
  writer.EndArray();
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace switchyard::daemon
