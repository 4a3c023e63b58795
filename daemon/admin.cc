#include "daemon/admin.h"

#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include "core/codec.h"
#include "core/ids.h"
#include "core/log.h"
#include "functions/native.h"

namespace switchyard::daemon {

namespace {

using triggers::http::Request;
using triggers::http::Response;
using triggers::http::ResponseSlot;

constexpr std::string_view kInvokePrefix = "/2015-03-31/functions/";
constexpr std::string_view kInvokeSuffix = "/invocations";

Response text(int status, std::string body, std::string content_type = "text/plain") {
  Response response;
  response.status = status;
  response.headers.push_back({"Content-Type", std::move(content_type)});
  response.body = std::move(body);
  return response;
}

// An AWS REST-JSON error: the SDKs read the type from x-amzn-ErrorType and the message from
// the body.
Response aws_error(int status, std::string_view type, std::string_view message) {
  std::string body = "{\"Type\":\"User\",\"message\":\"";
  core::append_json_escaped(body, message);
  body += "\"}";
  Response response = text(status, std::move(body), "application/json");
  response.headers.push_back({"x-amzn-ErrorType", std::string(type)});
  return response;
}

// The Lambda API's paths start with its version, a date: "/2015-03-31/", "/2019-09-30/".
bool is_lambda_api_path(std::string_view path) {
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  return path.size() >= 12 && path[0] == '/' && path[5] == '-' && path[8] == '-' &&
         path[11] == '/' && digit(path[1]) && digit(path[2]) && digit(path[3]) && digit(path[4]) &&
         digit(path[6]) && digit(path[7]) && digit(path[9]) && digit(path[10]);
}

// A function as the Lambda API names it: "hello", "hello:$LATEST", a partial ARN
// ("123456789012:function:hello") or a full one ("arn:aws:lambda:eu-west-1:123456789012:
// function:hello:$LATEST"), percent-decoded; the `Qualifier` query parameter wins over one in
// the name.
struct FunctionReference {
  std::string name;
  std::string qualifier;  // "" when none was given.
};

FunctionReference parse_function_reference(std::string_view encoded, std::string_view query) {
  std::string decoded;
  if (!core::percent_decode(encoded, decoded)) {
    decoded = std::string(encoded);
  }
  std::string_view segment(decoded);
  auto marker = segment.find("function:");
  if (marker != std::string_view::npos) {
    segment.remove_prefix(marker + 9);
  }
  FunctionReference reference;
  auto colon = segment.find(':');
  reference.name = std::string(segment.substr(0, colon));
  if (colon != std::string_view::npos) {
    reference.qualifier = std::string(segment.substr(colon + 1));
  }
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.rfind("Qualifier=", 0) == 0) {
      std::string value;
      if (core::percent_decode(pair.substr(10), value, true)) {
        reference.qualifier = std::move(value);
      }
    }
  }
  return reference;
}

}  // namespace

AdminListener::AdminListener(core::Loop& loop, const config::Snapshot& snapshot,
                             scheduler::Scheduler& scheduler, core::MetricsRegistry& metrics)
    : snapshot_(&snapshot),
      scheduler_(scheduler),
      metrics_(metrics),
      process_metrics_(metrics),
      server_(
          loop,
          [&] {
            triggers::http::ServerOptions options;
            options.address = snapshot.daemon.admin.address;
            options.port = snapshot.daemon.admin.port;
            options.max_body_bytes = snapshot.daemon.limits.max_body_bytes;
            options.max_header_bytes = snapshot.daemon.limits.max_header_bytes;
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
    slot.respond(text(200, functions_json(), "application/json"));
  } else if (path.size() > kInvokePrefix.size() + kInvokeSuffix.size() &&
             path.compare(0, kInvokePrefix.size(), kInvokePrefix) == 0 &&
             path.compare(path.size() - kInvokeSuffix.size(), kInvokeSuffix.size(),
                          kInvokeSuffix) == 0) {
    if (request.method != "POST") {
      Response response = aws_error(405, "MethodNotAllowedException", "use POST to invoke");
      response.headers.push_back({"Allow", "POST"});
      slot.respond(std::move(response));
      return;
    }
    std::string segment = path.substr(kInvokePrefix.size(),
                                      path.size() - kInvokePrefix.size() - kInvokeSuffix.size());
    FunctionReference reference = parse_function_reference(segment, request.query);
    if (!reference.qualifier.empty() && reference.qualifier != "$LATEST") {
      // Versions and aliases do not exist here: only $LATEST, as AWS answers an unknown one.
      slot.respond(
          aws_error(404, "ResourceNotFoundException",
                    fmt::format("Function not found: arn:aws:lambda:{}:000000000000:function:{}:{}",
                                snapshot_->daemon.region, reference.name, reference.qualifier)));
      return;
    }
    invoke(reference.name, std::move(request), std::move(slot));
  } else if (path == "/healthz" || path == "/readyz" || path == "/metrics" ||
             path == "/functions") {
    Response response = text(405, "method not allowed\n");
    response.headers.push_back({"Allow", "GET, HEAD"});
    slot.respond(std::move(response));
  } else if (is_lambda_api_path(path)) {
    // Another operation of the Lambda API: an error every AWS SDK parses, not plain text.
    slot.respond(aws_error(404, "UnknownOperationException",
                           "switchyard serves Invoke of the Lambda API (POST "
                           "/2015-03-31/functions/NAME/invocations); not " +
                               request.method + " " + path));
  } else {
    slot.respond(text(404,
                      "not found: try /healthz, /readyz, /metrics, /functions or the "
                      "Lambda Invoke API\n"));
  }
}

void AdminListener::invoke(const std::string& function, Request&& request, ResponseSlot slot) {
  if (!scheduler_.has_function(function)) {
    slot.respond(aws_error(404, "ResourceNotFoundException",
                           fmt::format("Function not found: {}", function)));
    return;
  }
  const std::string* type_header =
      triggers::http::find_header(request.headers, "X-Amz-Invocation-Type");
  std::string type = type_header != nullptr ? *type_header : "RequestResponse";
  if (type == "DryRun") {
    Response response;
    response.status = 204;
    slot.respond(std::move(response));
    return;
  }
  if (type != "RequestResponse" && type != "Event") {
    slot.respond(aws_error(400, "InvalidParameterValueException",
                           "X-Amz-Invocation-Type must be RequestResponse, Event or DryRun"));
    return;
  }
  bool synchronous = type == "RequestResponse";
  std::string request_id = core::random_uuid();

  core::Event event;
  event.id = request_id;
  event.source = "switchyard/lambda-invoke";
  event.type = "switchyard.invoke";
  event.time = std::chrono::system_clock::now();
  event.datacontenttype = "application/json";
  event.data = std::move(request.body);
  event.synchronous = synchronous;
  event.wants_request_id = synchronous;
  if (const std::string* traceparent =
          triggers::http::find_header(request.headers, "traceparent")) {
    event.traceparent = *traceparent;
  }
  // ClientContext: base64 JSON, which a runtime gets decoded (Lambda-Runtime-Client-Context).
  if (const std::string* client_context =
          triggers::http::find_header(request.headers, "X-Amz-Client-Context")) {
    std::optional<std::string> decoded = core::base64_decode(*client_context);
    if (!decoded) {
      slot.respond(aws_error(400, "InvalidParameterValueException",
                             "X-Amz-Client-Context must be base64-encoded JSON"));
      return;
    }
    event.attributes.push_back({"lambda.client_context", std::move(*decoded)});
  }
  const std::string* log_type = triggers::http::find_header(request.headers, "X-Amz-Log-Type");
  const bool tail = synchronous && log_type != nullptr && *log_type == "Tail";

  // The slot is move-only and a completion must be copyable: it lives on the heap until the
  // outcome arrives (admin traffic is not the hot path).
  auto pending = std::make_shared<ResponseSlot>(std::move(slot));
  if (synchronous) {
    event.completion = [pending, request_id, tail](core::Event&, core::Outcome& outcome) {
      Response response;
      // The id the function saw as its request id, as Lambda answers.
      response.headers.push_back(
          {"x-amzn-RequestId", outcome.request_id.empty() ? request_id : outcome.request_id});
      response.headers.push_back({"X-Amz-Executed-Version", "$LATEST"});
      response.headers.push_back({"Content-Type", "application/json"});
      if (tail) {
        // LogType: Tail: the end of what the function wrote (up to 4 KiB), base64.
        response.headers.push_back({"X-Amz-Log-Result", core::base64_encode(outcome.log_tail)});
      }
      if (outcome.ok()) {
        response.body = std::move(outcome.response.body);
      } else if (outcome.kind == core::OutcomeKind::kRejected) {
        // The service gave up (shutting down), not the function.
        pending->respond(aws_error(503, "ServiceException", outcome.error_message));
        return;
      } else {
        // Lambda answers a failed invocation with 200 and says so in a header.
        response.headers.push_back({"X-Amz-Function-Error", "Unhandled"});
        if (!outcome.error_document.empty()) {
          // What the runtime posted, stack trace and all.
          response.body = std::move(outcome.error_document);
          pending->respond(std::move(response));
          return;
        }
        std::string body = "{\"errorMessage\":\"";
        core::append_json_escaped(body, outcome.error_message);
        body += "\",\"errorType\":\"";
        core::append_json_escaped(body, outcome.error_type);
        body += "\"}";
        response.body = std::move(body);
      }
      pending->respond(std::move(response));
    };
  }
  switch (scheduler_.dispatch(function, std::move(event))) {
    case scheduler::Admission::kStarted:
    case scheduler::Admission::kQueued:
      if (!synchronous) {
        Response response;
        response.status = 202;
        response.headers.push_back({"x-amzn-RequestId", request_id});
        pending->respond(std::move(response));
      }
      break;
    case scheduler::Admission::kThrottled: {
      Response response = aws_error(429, "TooManyRequestsException", "Rate Exceeded.");
      response.headers.push_back(
          {"Retry-After", std::to_string(scheduler_.retry_after(function).count())});
      pending->respond(std::move(response));
      break;
    }
    case scheduler::Admission::kRejected:
      pending->respond(aws_error(503, "ServiceException", "switchyard is shutting down"));
      break;
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
