#include "fake_runtime_api.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <stdexcept>

#include "core/text.h"

namespace switchyard::testing {
namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

bool wait_readable(int fd, Clock::time_point deadline) {
  for (;;) {
    pollfd watch{fd, POLLIN, 0};
    int ready = ::poll(&watch, 1, remaining_ms(deadline));
    if (ready < 0 && errno == EINTR) {
      continue;
    }
    return ready > 0;
  }
}

}  // namespace

std::string RuntimeApiRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (core::equals_ignore_case(key, name)) {
      return value;
    }
  }
  return {};
}

bool RuntimeApiRequest::has_header(std::string_view name) const {
  for (const auto& header : headers) {
    if (core::equals_ignore_case(header.first, name)) {
      return true;
    }
  }
  return false;
}

FakeRuntimeApi::FakeRuntimeApi() {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      ::listen(listener_, 8) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    throw std::runtime_error("cannot listen on 127.0.0.1:0");
  }
  port_ = ntohs(address.sin_port);
}

FakeRuntimeApi::~FakeRuntimeApi() {
  close_connection();
  if (listener_ >= 0) {
    ::close(listener_);
  }
}

std::string FakeRuntimeApi::address() const {
  return "127.0.0.1:" + std::to_string(port_);
}

bool FakeRuntimeApi::accept(std::chrono::milliseconds timeout) {
  close_connection();
  if (!wait_readable(listener_, Clock::now() + timeout)) {
    return false;
  }
  connection_ = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
  return connection_ >= 0;
}

bool FakeRuntimeApi::read_more(Clock::time_point deadline) {
  if (connection_ < 0 || !wait_readable(connection_, deadline)) {
    return false;
  }
  char chunk[16384];
  ssize_t got = ::recv(connection_, chunk, sizeof(chunk), 0);
  if (got <= 0) {
    return false;
  }
  buffer_.append(chunk, static_cast<std::size_t>(got));
  return true;
}

std::optional<RuntimeApiRequest> FakeRuntimeApi::read_request(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  std::size_t end;
  while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (!read_more(deadline)) {
      return std::nullopt;
    }
  }
  RuntimeApiRequest request;
  std::string_view head(buffer_.data(), end);
  std::size_t line_end = head.find("\r\n");
  std::string_view line = head.substr(0, line_end);
  std::size_t space = line.find(' ');
  std::size_t second = line.find(' ', space + 1);
  if (space == std::string_view::npos || second == std::string_view::npos ||
      line.substr(second + 1) != "HTTP/1.1") {
    return std::nullopt;
  }
  request.method = line.substr(0, space);
  request.path = line.substr(space + 1, second - space - 1);
  while (line_end != std::string_view::npos) {
    std::size_t start = line_end + 2;
    line_end = head.find("\r\n", start);
    std::string_view header = head.substr(
        start, line_end == std::string_view::npos ? std::string_view::npos : line_end - start);
    std::size_t colon = header.find(':');
    if (colon == std::string_view::npos) {
      return std::nullopt;
    }
    std::string_view value = header.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') {
      value.remove_prefix(1);
    }
    request.headers.emplace_back(header.substr(0, colon), value);
  }
  std::size_t length = std::strtoul(request.header("Content-Length").c_str(), nullptr, 10);
  buffer_.erase(0, end + 4);
  while (buffer_.size() < length) {
    if (!read_more(deadline)) {
      return std::nullopt;
    }
  }
  request.body = buffer_.substr(0, length);
  buffer_.erase(0, length);
  return request;
}

void FakeRuntimeApi::write(std::string_view bytes) {
  while (!bytes.empty() && connection_ >= 0) {
    ssize_t sent = ::send(connection_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) {
      continue;
    }
    if (sent <= 0) {
      return;
    }
    bytes.remove_prefix(static_cast<std::size_t>(sent));
  }
}

void FakeRuntimeApi::respond(int status, std::string_view body,
                             const std::vector<std::string>& headers) {
  std::string response = "HTTP/1.1 " + std::to_string(status) + " Status\r\n";
  for (const std::string& header : headers) {
    response += header + "\r\n";
  }
  response += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  response += body;
  write(response);
}

void FakeRuntimeApi::close_connection() {
  if (connection_ >= 0) {
    ::close(connection_);
    connection_ = -1;
  }
  buffer_.clear();
}

bool FakeRuntimeApi::client_closed(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (connection_ >= 0 && wait_readable(connection_, deadline)) {
    char chunk[4096];
    ssize_t got = ::recv(connection_, chunk, sizeof(chunk), 0);
    if (got == 0) {
      return true;
    }
    if (got < 0) {
      return errno == ECONNRESET;
    }
  }
  return false;
}

}  // namespace switchyard::testing
