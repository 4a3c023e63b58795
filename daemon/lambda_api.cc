#include "daemon/lambda_api.h"

#include <fmt/format.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <charconv>
#include <memory>
#include <vector>

#include "core/codec.h"
#include "core/ids.h"
#include "core/log.h"
#include "daemon/function_configuration.h"
#include "daemon/function_reference.h"

namespace switchyard::daemon {

namespace {

using http::Request;
using http::Response;
using http::ResponseSlot;

// The largest code a function may have unpacked (environments/code_package.h refuses more), as
// Lambda's own limit.
constexpr std::uint64_t kCodeSizeUnzipped = 262'144'000;
constexpr int kDefaultPageSize = 50;
constexpr int kMaxPageSize = 10000;

Response json(int status, std::string body) {
  Response response;
  response.status = status;
  response.headers.push_back({"Content-Type", "application/json"});
  response.body = std::move(body);
  return response;
}

std::string body_of(const rapidjson::StringBuffer& buffer) {
  return std::string(buffer.GetString(), buffer.GetSize());
}

// A request path split at '/': "/2015-03-31/functions/x/invocations" is
// {"2015-03-31", "functions", "x", "invocations"}; a trailing '/' adds nothing.
std::vector<std::string_view> segments_of(std::string_view path) {
  std::vector<std::string_view> segments;
  while (!path.empty()) {
    path.remove_prefix(1);
    auto slash = path.find('/');
    std::string_view segment = path.substr(0, slash);
    if (!segment.empty() || slash != std::string_view::npos) {
      segments.push_back(segment);
    }
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
  }
  if (!segments.empty() && segments.back().empty()) {
    segments.pop_back();
  }
  return segments;
}

}  // namespace

Response aws_error(int status, std::string_view type, std::string_view message) {
  std::string escaped;
  core::append_json_escaped(escaped, message);
  Response response = json(status, "{\"Type\":\"User\",\"Message\":\"" + escaped +
                                       "\",\"message\":\"" + escaped + "\"}");
  response.headers.push_back({"x-amzn-ErrorType", std::string(type)});
  response.headers.push_back({"x-amzn-RequestId", core::random_uuid()});
  return response;
}

bool is_lambda_api_path(std::string_view path) {
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  return path.size() >= 12 && path[0] == '/' && path[5] == '-' && path[8] == '-' &&
         path[11] == '/' && digit(path[1]) && digit(path[2]) && digit(path[3]) && digit(path[4]) &&
         digit(path[6]) && digit(path[7]) && digit(path[9]) && digit(path[10]);
}

const config::FunctionManifest* LambdaApi::find(const std::string& name) const {
  for (const config::FunctionManifest& manifest : snapshot_->functions) {
    if (manifest.name == name) {
      return &manifest;
    }
  }
  return nullptr;
}

void LambdaApi::handle(Request&& request, ResponseSlot slot, const config::AdminKey* caller) {
  std::vector<std::string_view> segments = segments_of(request.path);
  const bool get = request.method == "GET" || request.method == "HEAD";
  const std::string_view version = segments.empty() ? std::string_view() : segments[0];

  if (version == "2016-08-19" && segments.size() == 2 && segments[1] == "account-settings" && get) {
    slot.respond(get_account_settings());
    return;
  }
  if (version == "2015-03-31" && segments.size() == 2 && segments[1] == "functions" && get) {
    slot.respond(list_functions(request));
    return;
  }

  // The operations on one function: /{version}/functions/{name}[/{operation}].
  std::string_view operation = segments.size() == 4 ? segments[3] : std::string_view();
  const bool known =
      segments.size() >= 3 && segments.size() <= 4 && segments[1] == "functions" &&
      ((version == "2015-03-31" &&
        (operation.empty() || operation == "configuration" || operation == "invocations")) ||
       (version == "2019-09-30" && operation == "concurrency"));
  if (!known) {
    slot.respond(aws_error(404, "UnknownOperationException",
                           "switchyard serves Invoke, ListFunctions, GetFunction, "
                           "GetFunctionConfiguration, GetFunctionConcurrency and "
                           "GetAccountSettings of the Lambda API; not " +
                               request.method + " " + request.path));
    return;
  }
  if (operation == "invocations" && request.method != "POST") {
    Response response = aws_error(405, "MethodNotAllowedException", "use POST to invoke");
    response.headers.push_back({"Allow", "POST"});
    slot.respond(std::move(response));
    return;
  }
  if (operation != "invocations" && !get) {
    Response response =
        aws_error(405, "MethodNotAllowedException",
                  "use GET for " + std::string(operation.empty() ? "GetFunction" : operation));
    response.headers.push_back({"Allow", "GET, HEAD"});
    slot.respond(std::move(response));
    return;
  }

  FunctionReference reference = parse_function_reference(segments[2], request.query);
  const config::FunctionManifest* function = find(reference.name);
  if (function == nullptr || (!reference.qualifier.empty() && reference.qualifier != "$LATEST")) {
    // Versions and aliases do not exist here: only $LATEST, as AWS answers an unknown one.
    std::string arn =
        core::function_arn(snapshot_->daemon.region, snapshot_->daemon.account_id, reference.name);
    if (!reference.qualifier.empty()) {
      arn += ":" + reference.qualifier;
    }
    slot.respond(aws_error(404, "ResourceNotFoundException", "Function not found: " + arn));
    return;
  }
  if (operation == "invocations") {
    if (caller != nullptr && !caller->may_invoke(function->name)) {
      std::string arn = core::function_arn(snapshot_->daemon.region, snapshot_->daemon.account_id,
                                           function->name);
      auth_.count_refusal("not_allowed", request,
                          "key " + caller->access_key_id + " may not invoke " + function->name);
      slot.respond(aws_error(403, "AccessDeniedException",
                             "User: " + caller->access_key_id +
                                 " is not authorized to perform: lambda:InvokeFunction on "
                                 "resource: " +
                                 arn));
      return;
    }
    invoke(*function, std::move(request), std::move(slot));
  } else if (operation == "concurrency") {
    slot.respond(
        json(200, fmt::format(R"({{"ReservedConcurrentExecutions":{}}})", function->concurrency)));
  } else {
    slot.respond(get_function(*function, operation == "configuration"));
  }
}

Response LambdaApi::list_functions(const Request& request) {
  int page_size = kDefaultPageSize;
  if (std::optional<std::string> max_items = query_parameter(request.query, "MaxItems")) {
    auto [end, error] =
        std::from_chars(max_items->data(), max_items->data() + max_items->size(), page_size);
    if (error != std::errc() || end != max_items->data() + max_items->size() || page_size < 1 ||
        page_size > kMaxPageSize) {
      return aws_error(400, "InvalidParameterValueException",
                       fmt::format("MaxItems must be a number from 1 to {} (got \"{}\")",
                                   kMaxPageSize, *max_items));
    }
  }
  // Functions in name order; the marker is the last name of the previous page, so that paging
  // goes on correctly across a reload that adds or removes functions.
  std::string marker = query_parameter(request.query, "Marker").value_or("");
  std::vector<const config::FunctionManifest*> functions;
  for (const config::FunctionManifest& manifest : snapshot_->functions) {
    if (manifest.name > marker) {
      functions.push_back(&manifest);
    }
  }
  std::sort(functions.begin(), functions.end(),
            [](const auto* a, const auto* b) { return a->name < b->name; });
  const bool more = functions.size() > static_cast<std::size_t>(page_size);
  if (more) {
    functions.resize(static_cast<std::size_t>(page_size));
  }

  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartObject();
  writer.Key("Functions");
  writer.StartArray();
  for (const config::FunctionManifest* function : functions) {
    core::Result<CodeDigest> code = digests_.get(function->name, function->code->code_files());
    write_function_configuration(writer, *function, snapshot_->daemon, code ? *code : CodeDigest{});
  }
  writer.EndArray();
  if (more) {
    writer.Key("NextMarker");
    writer.String(functions.back()->name.c_str());
  }
  writer.EndObject();
  return json(200, body_of(buffer));
}

Response LambdaApi::get_function(const config::FunctionManifest& function,
                                 bool configuration_only) {
  core::Result<CodeDigest> code = digests_.get(function.name, function.code->code_files());
  if (!code) {
    return aws_error(500, "ServiceException",
                     "cannot read the code of " + function.name + ": " + code.error().message());
  }
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  if (configuration_only) {
    write_function_configuration(writer, function, snapshot_->daemon, *code);
    return json(200, body_of(buffer));
  }
  writer.StartObject();
  writer.Key("Configuration");
  write_function_configuration(writer, function, snapshot_->daemon, *code);
  writer.Key("Concurrency");
  writer.StartObject();
  writer.Key("ReservedConcurrentExecutions");
  writer.Int(function.concurrency);
  writer.EndObject();
  writer.Key("Tags");
  writer.StartObject();
  writer.EndObject();
  writer.EndObject();
  return json(200, body_of(buffer));
}

Response LambdaApi::get_account_settings() {
  std::uint64_t code_bytes = 0;
  std::int64_t concurrency = 0;
  for (const config::FunctionManifest& manifest : snapshot_->functions) {
    code_bytes += code_size(manifest.code->code_files());
    concurrency += manifest.concurrency;
  }
  // Code lives on the host's disk: the state directory's file system bounds it.
  struct statvfs disk {};
  std::uint64_t disk_bytes = 0;
  if (::statvfs(snapshot_->daemon.state_dir.c_str(), &disk) == 0) {
    disk_bytes = static_cast<std::uint64_t>(disk.f_blocks) * disk.f_frsize;
  }
  return json(
      200, fmt::format(
               R"({{"AccountLimit":{{"TotalCodeSize":{},"CodeSizeUnzipped":{},"CodeSizeZipped":{},)"
               R"("ConcurrentExecutions":{},"UnreservedConcurrentExecutions":0}},)"
               R"("AccountUsage":{{"TotalCodeSize":{},"FunctionCount":{}}}}})",
               disk_bytes, kCodeSizeUnzipped, kCodeSizeUnzipped, concurrency, code_bytes,
               snapshot_->functions.size()));
}

void LambdaApi::invoke(const config::FunctionManifest& manifest, Request&& request,
                       ResponseSlot slot) {
  const std::string& function = manifest.name;
  if (!scheduler_.has_function(function)) {
    slot.respond(aws_error(404, "ResourceNotFoundException",
                           fmt::format("Function not found: {}", function)));
    return;
  }
  const std::string* type_header = http::find_header(request.headers, "X-Amz-Invocation-Type");
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
  if (!synchronous && async_invocations_ == nullptr) {
    slot.respond(aws_error(503, "ServiceException", "asynchronous invocations are not available"));
    return;
  }
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
  if (const std::string* traceparent = http::find_header(request.headers, "traceparent")) {
    event.traceparent = *traceparent;
  }
  // ClientContext: base64 JSON, which a runtime gets decoded (Lambda-Runtime-Client-Context).
  if (const std::string* client_context =
          http::find_header(request.headers, "X-Amz-Client-Context")) {
    std::optional<std::string> decoded = core::base64_decode(*client_context);
    if (!decoded) {
      slot.respond(aws_error(400, "InvalidParameterValueException",
                             "X-Amz-Client-Context must be base64-encoded JSON"));
      return;
    }
    event.attributes.push_back({"lambda.client_context", std::move(*decoded)});
  }
  const std::string* log_type = http::find_header(request.headers, "X-Amz-Log-Type");
  const bool tail = synchronous && log_type != nullptr && *log_type == "Tail";

  // The slot is move-only and a completion must be copyable: it lives on the heap until the
  // outcome arrives (admin traffic is not the hot path).
  auto pending = std::make_shared<ResponseSlot>(std::move(slot));
  if (!synchronous) {
    // Answered 202 once the durable queue has written it.
    async_invocations_->invoke(
        function, request_id, std::move(event),
        [pending, request_id](const async::AcceptResult& result) {
          switch (result.kind) {
            case async::Acceptance::kAccepted: {
              Response response;
              response.status = 202;
              response.headers.push_back({"x-amzn-RequestId", request_id});
              pending->respond(std::move(response));
              return;
            }
            case async::Acceptance::kFull: {
              Response response = aws_error(429, "TooManyRequestsException", result.message);
              response.headers.push_back({"Retry-After", "1"});
              pending->respond(std::move(response));
              return;
            }
            case async::Acceptance::kFailed:
            case async::Acceptance::kRejected:
              pending->respond(aws_error(503, "ServiceException", result.message));
              return;
          }
        });
    return;
  }
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
  switch (scheduler_.dispatch(function, std::move(event))) {
    case scheduler::Admission::kStarted:
    case scheduler::Admission::kQueued:
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

}  // namespace switchyard::daemon
