#include "support/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <sstream>

namespace switchyard::testing {

namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// Parses one response at the front of `buffer`; returns the bytes it used, 0 if incomplete.
std::size_t parse_reply(const std::string& buffer, HttpReply& reply, bool at_eof) {
  auto end = buffer.find("\r\n\r\n");
  if (end == std::string::npos) {
    return 0;
  }
  HttpReply parsed;
  std::size_t line_end = buffer.find("\r\n");
  std::string status_line = buffer.substr(0, line_end);
  auto space = status_line.find(' ');
  if (space == std::string::npos) {
    return 0;
  }
  parsed.status = std::atoi(status_line.c_str() + space + 1);
  std::size_t pos = line_end + 2;
  while (pos < end) {
    std::size_t next = buffer.find("\r\n", pos);
    std::string line = buffer.substr(pos, next - pos);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      parsed.headers.emplace(lower(line.substr(0, colon)), value);
    }
    pos = next + 2;
  }
  std::size_t body_start = end + 4;
  auto length = parsed.headers.find("content-length");
  std::size_t body_length;
  if (length != parsed.headers.end()) {
    body_length = std::stoul(length->second);
  } else if (parsed.status == 100 || parsed.status == 204 || parsed.status == 304) {
    body_length = 0;
  } else if (at_eof) {
    body_length = buffer.size() - body_start;
  } else {
    return 0;
  }
  if (buffer.size() < body_start + body_length) {
    return 0;
  }
  parsed.body = buffer.substr(body_start, body_length);
  parsed.raw = buffer.substr(0, body_start + body_length);
  reply = std::move(parsed);
  return body_start + body_length;
}

}  // namespace

std::string HttpReply::header(const std::string& name) const {
  auto it = headers.find(lower(name));
  return it == headers.end() ? std::string() : it->second;
}

HttpConnection::HttpConnection(int port) {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd_);
    fd_ = -1;
    return;
  }
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

HttpConnection::~HttpConnection() {
  if (fd_ >= 0) {
    close(fd_);
  }
}

void HttpConnection::finish_sending() {
  if (fd_ >= 0) {
    ::shutdown(fd_, SHUT_WR);
  }
}

bool HttpConnection::send_raw(const std::string& bytes) {
  std::size_t sent = 0;
  while (fd_ >= 0 && sent < bytes.size()) {
    ssize_t n = send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      return false;
    }
    sent += static_cast<std::size_t>(n);
  }
  return fd_ >= 0;
}

HttpReply HttpConnection::read_reply(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  HttpReply reply;
  bool eof = false;
  while (true) {
    std::size_t used = parse_reply(buffer_, reply, eof);
    if (used > 0) {
      buffer_.erase(0, used);
      return reply;
    }
    if (eof || fd_ < 0) {
      reply.raw = buffer_;
      return reply;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      reply.raw = buffer_;
      return reply;
    }
    pollfd pfd{fd_, POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(left.count())) <= 0) {
      continue;
    }
    char chunk[65536];
    ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
    if (n > 0) {
      buffer_.append(chunk, static_cast<std::size_t>(n));
    } else {
      eof = true;
    }
  }
}

bool HttpConnection::closed_by_peer(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{fd_, POLLIN, 0};
    if (poll(&pfd, 1, 20) == 1) {
      char chunk[4096];
      ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
      if (n == 0 || (n < 0 && errno == ECONNRESET)) {
        return true;
      }
      if (n > 0) {
        buffer_.append(chunk, static_cast<std::size_t>(n));
      }
    }
  }
  return false;
}

HttpReply http_request(int port, const std::string& method, const std::string& path,
                       const std::string& body, const std::string& extra_headers,
                       std::chrono::milliseconds timeout) {
  HttpConnection connection(port);
  std::string request = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers;
  if (!body.empty() || method == "POST" || method == "PUT") {
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n" + body;
  if (!connection.send_raw(request)) {
    return {};
  }
  return connection.read_reply(timeout);
}

int port_from_log(const std::string& log, const std::string& prefix) {
  auto at = log.find(prefix);
  if (at == std::string::npos) {
    return 0;
  }
  auto line_end = log.find('\n', at);
  std::string line = log.substr(at + prefix.size(), line_end - at - prefix.size());
  auto colon = line.rfind(':');
  if (colon == std::string::npos) {
    return 0;
  }
  return std::atoi(line.c_str() + colon + 1);
}

double metric(const std::string& metrics, const std::string& series) {
  std::istringstream in(metrics);
  for (std::string line; std::getline(in, line);) {
    if (line.compare(0, series.size(), series) == 0 && line.size() > series.size() &&
        line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return -1;
}

}  // namespace switchyard::testing
