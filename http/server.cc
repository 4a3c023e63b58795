#include "http/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <csignal>
#include <string_view>
#include <vector>

#include "core/log.h"
#include "http/server_connection.h"

namespace switchyard::http {

namespace {

constexpr int kListenBacklog = 1024;

}  // namespace

// ---- Server ----

namespace {

core::Labels server_labels(const std::string& name) {
  return {{"server", name}};
}

core::Counter& bad_request_counter(core::MetricsRegistry& metrics, const std::string& name,
                                   const char* reason) {
  return metrics.counter("switchyard_http_bad_requests_total",
                         "HTTP requests refused before reaching a handler, by reason",
                         {{"server", name}, {"reason", reason}});
}

}  // namespace

Server::Server(core::Loop& loop, ServerOptions options, RequestHandler handler,
               core::MetricsRegistry& metrics)
    : loop_(loop),
      options_(std::move(options)),
      handler_(std::move(handler)),
      metrics_(metrics),
      read_buffer_(new char[kReadBufferSize]),
      open_gauge_(metrics.gauge("switchyard_http_connections", "Open HTTP connections",
                                server_labels(options_.name))),
      accepted_(metrics.counter("switchyard_http_connections_total", "HTTP connections accepted",
                                server_labels(options_.name))),
      rejected_(metrics.counter("switchyard_http_connections_rejected_total",
                                "HTTP connections closed at once for exceeding max_connections",
                                server_labels(options_.name))),
      bad_malformed_(bad_request_counter(metrics, options_.name, "malformed")),
      bad_target_too_long_(bad_request_counter(metrics, options_.name, "target_too_long")),
      bad_header_too_large_(bad_request_counter(metrics, options_.name, "header_too_large")),
      bad_body_too_large_(bad_request_counter(metrics, options_.name, "body_too_large")),
      bad_header_timeout_(bad_request_counter(metrics, options_.name, "header_timeout")),
      bad_body_timeout_(bad_request_counter(metrics, options_.name, "body_timeout")),
      bad_unsupported_version_(bad_request_counter(metrics, options_.name, "unsupported_version")),
      bad_expectation_(bad_request_counter(metrics, options_.name, "expectation_failed")) {
  if (options_.max_pipelined == 0) {
    options_.max_pipelined = 1;
  }
}

Server::~Server() {
  close_all();
}

core::Status Server::listen() {
  if (listener_ != nullptr) {
    return core::Error(core::ErrorCode::kInvalidArgument,
                       "HTTP server '" + options_.name + "' is already listening");
  }
  if (options_.port < 0 || options_.port > 65535) {
    return core::Error(core::ErrorCode::kInvalidArgument,
                       "HTTP server '" + options_.name + "': port " +
                           std::to_string(options_.port) + " is out of range");
  }
  sockaddr_storage address{};
  if (uv_ip4_addr(options_.address.c_str(), options_.port,
                  reinterpret_cast<sockaddr_in*>(&address)) != 0 &&
      uv_ip6_addr(options_.address.c_str(), options_.port,
                  reinterpret_cast<sockaddr_in6*>(&address)) != 0) {
    return core::Error(core::ErrorCode::kInvalidArgument, "HTTP server '" + options_.name + "': '" +
                                                              options_.address +
                                                              "' is not an IPv4 or IPv6 address");
  }
  // A write to a connection the peer has reset raises SIGPIPE, whose default action ends the
  // process; libuv writes with write(2), which has no per-call opt-out. Ignore it unless the
  // program installed a handler of its own.
  struct sigaction current {};
  if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
    std::signal(SIGPIPE, SIG_IGN);
  }
  std::string where = "HTTP server '" + options_.name + "' on " + options_.address + ":" +
                      std::to_string(options_.port);
  auto listener = std::make_unique<core::Handle<uv_tcp_t>>();
  int rc = uv_tcp_init(loop_.raw(), listener->get());
  if (rc != 0) {
    return core::Error::from_uv(rc, where);
  }
  listener->get()->data = this;
  rc = uv_tcp_bind(listener->get(), reinterpret_cast<const sockaddr*>(&address), 0);
  if (rc != 0) {
    return core::Error::from_uv(rc, "cannot bind " + where);
  }
  rc = uv_listen(reinterpret_cast<uv_stream_t*>(listener->get()), kListenBacklog,
                 [](uv_stream_t* stream, int status) {
                   auto* server = static_cast<Server*>(stream->data);
                   if (server != nullptr) {
                     server->on_connection(status);
                   }
                 });
  if (rc != 0) {
    return core::Error::from_uv(rc, "cannot listen " + where);
  }
  sockaddr_storage bound{};
  int bound_length = sizeof(bound);
  rc = uv_tcp_getsockname(listener->get(), reinterpret_cast<sockaddr*>(&bound), &bound_length);
  if (rc != 0) {
    return core::Error::from_uv(rc, where);
  }
  port_ = bound.ss_family == AF_INET6
              ? ntohs(reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port)
              : ntohs(reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
  listener_ = std::move(listener);
  spdlog::debug("{}: listening on {}:{}", options_.name, options_.address, port_);
  return core::Status::ok_status();
}

void Server::on_connection(int status) {
  if (status < 0) {
    spdlog::warn("{}: accepting a connection failed: {}", options_.name, uv_strerror(status));
    return;
  }
  auto* listener = reinterpret_cast<uv_stream_t*>(listener_->get());
  if (connections_.size() >= static_cast<std::size_t>(std::max(0, options_.max_connections))) {
    // Accept and close at once: leaving it in the backlog would only make the client wait.
    core::Handle<uv_tcp_t> rejected;
    if (uv_tcp_init(loop_.raw(), rejected.get()) == 0) {
      uv_accept(listener, reinterpret_cast<uv_stream_t*>(rejected.get()));
    }
    rejected_.inc_unshared();
    spdlog::debug("{}: connection refused: {} open (max_connections)", options_.name,
                  connections_.size());
    return;
  }
  auto connection = std::make_shared<ServerConnection>(*this);
  connection->index_ = connections_.size();
  connections_.push_back(connection);
  if (!connection->start(listener)) {
    connection->hard_close();
    return;
  }
  accepted_.inc_unshared();
  open_gauge_.set(static_cast<double>(connections_.size()));
}

bool Server::adopt(int fd) {
  auto connection = std::make_shared<ServerConnection>(*this);
  connection->index_ = connections_.size();
  connections_.push_back(connection);
  if (!connection->adopt(fd)) {
    connection->hard_close();
    return false;
  }
  accepted_.inc_unshared();
  open_gauge_.set(static_cast<double>(connections_.size()));
  return true;
}

void Server::remove(ServerConnection& connection) {
  std::size_t index = connection.index_;
  if (index >= connections_.size() || connections_[index].get() != &connection) {
    return;
  }
  // Keep the object alive until this function is done with the vector.
  std::shared_ptr<ServerConnection> keep = std::move(connections_[index]);
  if (index + 1 != connections_.size()) {
    connections_[index] = std::move(connections_.back());
    connections_[index]->index_ = index;
  }
  connections_.pop_back();
  open_gauge_.set(static_cast<double>(connections_.size()));
}

void Server::stop_accepting() {
  listener_.reset();
  draining_ = true;
  std::vector<std::shared_ptr<ServerConnection>> connections = connections_;
  for (const auto& connection : connections) {
    connection->drain();
  }
}

void Server::close_all() {
  listener_.reset();
  std::vector<std::shared_ptr<ServerConnection>> connections = connections_;
  for (const auto& connection : connections) {
    connection->hard_close();
  }
  connections_.clear();
  open_gauge_.set(0);
}

core::Counter& Server::responses_counter(int status) {
  core::Counter** slot = nullptr;
  if (status >= 100 && status <= 599) {
    slot = &responses_by_code_[static_cast<std::size_t>(status - 100)];
    if (*slot != nullptr) {
      return **slot;
    }
  } else {
    for (auto& [code, counter] : responses_other_) {
      if (code == status) {
        return *counter;
      }
    }
  }
  core::Counter& counter =
      metrics_.counter("switchyard_http_responses_total", "HTTP responses written, by status code",
                       {{"server", options_.name}, {"code", std::to_string(status)}});
  if (slot != nullptr) {
    *slot = &counter;
  } else {
    responses_other_.emplace_back(status, &counter);
  }
  return counter;
}

const std::string& Server::date_line() {
  std::time_t now = std::time(nullptr);
  if (now == date_second_) {
    return date_line_;
  }
  date_second_ = now;
  std::tm utc{};
  gmtime_r(&now, &utc);
  // Formatted by hand: strftime's %a and %b follow the locale, HTTP wants English.
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buffer[64];
  int length =
      std::snprintf(buffer, sizeof(buffer), "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n",
                    kDays[utc.tm_wday % 7], utc.tm_mday, kMonths[utc.tm_mon % 12],
                    utc.tm_year + 1900, utc.tm_hour, utc.tm_min, utc.tm_sec);
  date_line_.assign(buffer, length > 0 ? static_cast<std::size_t>(length) : 0);
  return date_line_;
}

}  // namespace switchyard::http
