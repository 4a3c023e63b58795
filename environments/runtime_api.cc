#include "environments/runtime_api.h"

#include <rapidjson/document.h>

#include <utility>

#include "core/codec.h"
#include "core/log.h"

namespace switchyard::environments {
namespace {

constexpr std::string_view kNext = "/2018-06-01/runtime/invocation/next";
constexpr std::string_view kInvocationPrefix = "/2018-06-01/runtime/invocation/";
constexpr std::string_view kInitError = "/2018-06-01/runtime/init/error";
constexpr std::string_view kResponseSuffix = "/response";
constexpr std::string_view kErrorSuffix = "/error";

const std::string* content_type_of(const http::Headers& headers) {
  return http::find_header(headers, "Content-Type");
}

// The id in "<prefix><id><suffix>", or "" when `path` is not that.
std::string_view id_between(std::string_view path, std::string_view suffix) {
  if (path.size() <= kInvocationPrefix.size() + suffix.size() ||
      path.substr(0, kInvocationPrefix.size()) != kInvocationPrefix ||
      path.substr(path.size() - suffix.size()) != suffix) {
    return {};
  }
  std::string_view id =
      path.substr(kInvocationPrefix.size(), path.size() - kInvocationPrefix.size() - suffix.size());
  return id.find('/') == std::string_view::npos ? id : std::string_view();
}

}  // namespace

std::string_view response_request_id(std::string_view target) {
  std::size_t query = target.find('?');
  return id_between(target.substr(0, query), kResponseSuffix);
}

RuntimeError parse_runtime_error(std::string_view body, const http::Headers& headers) {
  RuntimeError error;
  rapidjson::Document document;
  document.Parse(body.data(), body.size());
  if (!document.HasParseError() && document.IsObject()) {
    error.document = core::to_valid_utf8(body);
    auto type = document.FindMember("errorType");
    if (type != document.MemberEnd() && type->value.IsString()) {
      error.type = core::to_valid_utf8(
          std::string_view(type->value.GetString(), type->value.GetStringLength()));
    }
    auto message = document.FindMember("errorMessage");
    if (message != document.MemberEnd() && message->value.IsString()) {
      error.message = core::to_valid_utf8(
          std::string_view(message->value.GetString(), message->value.GetStringLength()));
    }
  } else if (!body.empty()) {
    error.message = core::to_valid_utf8(body);
  }
  if (error.type.empty()) {
    if (const std::string* header =
            http::find_header(headers, "Lambda-Runtime-Function-Error-Type")) {
      error.type = core::to_valid_utf8(*header);
    }
  }
  if (error.type.empty()) {
    error.type = "Unhandled";
  }
  return error;
}

RuntimeApi::RuntimeApi(core::Loop& loop, core::MetricsRegistry& metrics, RuntimeApiHandler& handler,
                       std::function<bool(int fd)> admit)
    : handler_(handler) {
  http::ServerOptions options;
  options.address = "127.0.0.1";
  options.port = 0;
  options.name = "runtime-api";
  options.max_body_bytes = kMaxResponseBytes;
  options.max_header_bytes = 64 * 1024;
  options.max_connections = 64;
  options.max_pipelined = 4;
  // A runtime waits in `next` for as long as there is nothing to do.
  options.idle_timeout = std::chrono::hours(24);
  options.admit = std::move(admit);
  options.body_too_large = [this](std::string_view method, std::string_view target) {
    std::string_view id = response_request_id(target);
    if (method == "POST" && !id.empty()) {
      handler_.on_response_too_large(id);
    }
  };
  server_ = std::make_unique<http::Server>(
      loop, std::move(options),
      [this](http::Request&& request, http::ResponseSlot slot) {
        on_request(std::move(request), std::move(slot));
      },
      metrics);
}

RuntimeApi::~RuntimeApi() {
  close();
}

core::Status RuntimeApi::listen() {
  return server_->listen();
}

core::Status RuntimeApi::adopt(int fd) {
  if (!server_->adopt(fd)) {
    return core::Error(core::ErrorCode::kIo, "cannot serve the runtime API's socket");
  }
  return core::Status::ok_status();
}

std::string RuntimeApi::address() const {
  return "127.0.0.1:" + std::to_string(server_->port());
}

void RuntimeApi::close() {
  if (server_) {
    server_->close_all();
  }
}

void RuntimeApi::accepted(http::ResponseSlot& slot) {
  http::Response response;
  response.status = 202;
  response.headers.push_back({"Content-Type", "application/json"});
  response.body = "{\"status\":\"OK\"}\n";
  slot.respond(std::move(response));
}

void RuntimeApi::refuse(http::ResponseSlot& slot, int status, std::string_view type,
                        std::string_view message) {
  http::Response response;
  response.status = status;
  response.headers.push_back({"Content-Type", "application/json"});
  response.body = "{\"errorMessage\":\"";
  core::append_json_escaped(response.body, message);
  response.body += "\",\"errorType\":\"";
  core::append_json_escaped(response.body, type);
  response.body += "\"}";
  slot.respond(std::move(response));
}

void RuntimeApi::unknown_request(http::ResponseSlot& slot) {
  refuse(slot, 400, "InvalidRequestID", "Invalid request ID");
}

void RuntimeApi::invalid_state(http::ResponseSlot& slot) {
  refuse(slot, 403, "InvalidStateTransition", "State transition is not allowed");
}

void RuntimeApi::on_request(http::Request&& request, http::ResponseSlot slot) {
  const std::string_view path = request.path;
  const bool get = request.method == "GET";
  const bool post = request.method == "POST";
  if (path == kNext) {
    if (!get) {
      return refuse(slot, 405, "MethodNotAllowed", "Method Not Allowed");
    }
    return handler_.on_next(std::move(slot));
  }
  if (path == kInitError) {
    if (!post) {
      return refuse(slot, 405, "MethodNotAllowed", "Method Not Allowed");
    }
    return handler_.on_init_error(parse_runtime_error(request.body, request.headers),
                                  std::move(slot));
  }
  if (std::string_view id = id_between(path, kResponseSuffix); !id.empty()) {
    if (!post) {
      return refuse(slot, 405, "MethodNotAllowed", "Method Not Allowed");
    }
    const std::string* type = content_type_of(request.headers);
    std::string content_type = type != nullptr ? *type : std::string();
    return handler_.on_response(id, std::move(request.body), content_type, std::move(slot));
  }
  if (std::string_view id = id_between(path, kErrorSuffix); !id.empty()) {
    if (!post) {
      return refuse(slot, 405, "MethodNotAllowed", "Method Not Allowed");
    }
    return handler_.on_error(id, parse_runtime_error(request.body, request.headers),
                             std::move(slot));
  }
  refuse(slot, 404, "NotFound", "Not Found");
}

}  // namespace switchyard::environments
