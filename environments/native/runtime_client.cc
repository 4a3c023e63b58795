#include "environments/native/runtime_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <http_parser.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <strings.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "core/codec.h"
#include "core/log.h"

namespace switchyard::environments {
namespace {

constexpr std::string_view kNextPath = "/2018-06-01/runtime/invocation/next";
constexpr std::string_view kInvocationPath = "/2018-06-01/runtime/invocation/";
constexpr std::string_view kInitErrorPath = "/2018-06-01/runtime/init/error";
constexpr std::size_t kReadSize = 64 * 1024;

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// A request id goes into a request path: it must be a plain token.
bool usable_request_id(std::string_view id) {
  if (id.empty()) {
    return false;
  }
  for (unsigned char c : id) {
    if (c <= 0x20 || c >= 0x7f || c == '/' || c == '?' || c == '#' || c == '%') {
      return false;
    }
  }
  return true;
}

// A header value must not end the header early: control characters become spaces.
void append_header_value(std::string& out, std::string_view value) {
  for (char c : value) {
    auto byte = static_cast<unsigned char>(c);
    out += (byte < 0x20 || byte == 0x7f) ? ' ' : c;
  }
}

void append_json_string(std::string& out, std::string_view value) {
  out += '"';
  if (core::is_valid_utf8(value)) {
    core::append_json_escaped(out, value);
  } else {
    core::append_json_escaped(out, core::to_valid_utf8(value));
  }
  out += '"';
}

core::Error io_error(int err, std::string_view what) {
  return core::Error::from_errno(err, what);
}

}  // namespace

// ---- Reading a response ---------------------------------------------------------------------

struct RuntimeClient::ResponseReader {
  struct Header {
    std::string name;
    std::string value;
  };

  http_parser parser{};
  int status = 0;
  std::vector<Header> headers;  // The first header_count are this response's.
  std::size_t header_count = 0;
  bool last_was_field = false;
  bool complete = false;
  std::string body;
  // Left uninitialised: zeroing it would touch all its pages at start-up (a cold start pays
  // for each page fault); a read touches only the pages it fills.
  std::unique_ptr<char[]> buffer{new char[kReadSize]};

  void reset() {
    http_parser_init(&parser, HTTP_RESPONSE);
    parser.data = this;
    status = 0;
    header_count = 0;
    last_was_field = false;
    complete = false;
    body.clear();
  }

  // The first value of header `name` (any case), or nullptr.
  const std::string* header(std::string_view name) const {
    for (std::size_t i = 0; i < header_count; ++i) {
      if (same_name(headers[i].name, name)) {
        return &headers[i].value;
      }
    }
    return nullptr;
  }

  static ResponseReader& of(http_parser* parser) {
    return *static_cast<ResponseReader*>(parser->data);
  }

  static const http_parser_settings kSettings;
};

const http_parser_settings RuntimeClient::ResponseReader::kSettings = [] {
  http_parser_settings settings{};
  // A name may arrive in pieces across reads: a new header starts at a name after a value.
  settings.on_header_field = [](http_parser* parser, const char* at, std::size_t length) {
    ResponseReader& reader = of(parser);
    if (!reader.last_was_field) {
      if (reader.header_count == reader.headers.size()) {
        reader.headers.emplace_back();
      }
      Header& header = reader.headers[reader.header_count++];
      header.name.clear();
      header.value.clear();
      reader.last_was_field = true;
    }
    reader.headers[reader.header_count - 1].name.append(at, length);
    return 0;
  };
  settings.on_header_value = [](http_parser* parser, const char* at, std::size_t length) {
    ResponseReader& reader = of(parser);
    reader.last_was_field = false;
    if (reader.header_count > 0) {
      reader.headers[reader.header_count - 1].value.append(at, length);
    }
    return 0;
  };
  settings.on_headers_complete = [](http_parser* parser) {
    of(parser).status = static_cast<int>(parser->status_code);
    return 0;
  };
  settings.on_body = [](http_parser* parser, const char* at, std::size_t length) {
    of(parser).body.append(at, length);
    return 0;
  };
  // Stops the parser at the end of the response: anything after it was not asked for.
  settings.on_message_complete = [](http_parser* parser) {
    of(parser).complete = true;
    http_parser_pause(parser, 1);
    return 0;
  };
  return settings;
}();

// ---- The connection -------------------------------------------------------------------------

RuntimeClient::RuntimeClient() : reader_(std::make_unique<ResponseReader>()) {}

RuntimeClient::~RuntimeClient() {
  close();
}

core::Status RuntimeClient::connect(std::string_view address) {
  std::size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) {
    return core::Error(core::ErrorCode::kInvalidArgument,
                       "runtime API address \"" + std::string(address) + "\" is not HOST:PORT");
  }
  std::string host(address.substr(0, colon));
  std::string_view port_text = address.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
      port > 65535) {
    return core::Error(core::ErrorCode::kInvalidArgument,
                       "runtime API address \"" + std::string(address) + "\" has no valid port");
  }
  if (host == "localhost") {
    host = "127.0.0.1";
  }
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  address_ = {};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&address_);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&address_);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(port));
    address_length_ = sizeof(sockaddr_in);
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(port));
    address_length_ = sizeof(sockaddr_in6);
  } else {
    return core::Error(core::ErrorCode::kInvalidArgument,
                       "runtime API address \"" + std::string(address) +
                           "\": the host must be an IP address or localhost");
  }
  host_.assign(address);
  close();
  return open();
}

core::Status RuntimeClient::adopt(int fd) {
  close();
  int type = 0;
  socklen_t length = sizeof(type);
  if (fd < 0 || ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) != 0 || type != SOCK_STREAM) {
    return core::Error(core::ErrorCode::kInvalidArgument,
                       "runtime API descriptor " + std::to_string(fd) + " is not a stream socket");
  }
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  fd_ = fd;
  address_length_ = 0;
  host_ = "localhost";
  return core::Status::ok_status();
}

core::Status RuntimeClient::open() {
  if (address_length_ == 0) {
    return core::Error(core::ErrorCode::kUnavailable,
                       "the runtime API closed its connection (an inherited socket)");
  }
  int fd = ::socket(address_.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return io_error(errno, "cannot create a socket for the runtime API");
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  int rc;
  do {
    rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&address_), address_length_);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    int err = errno;
    ::close(fd);
    return io_error(err, "cannot connect to the runtime API at " + host_);
  }
  fd_ = fd;
  return core::Status::ok_status();
}

void RuntimeClient::close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

bool RuntimeClient::peer_gone() const {
  pollfd watch{fd_, POLLIN | POLLRDHUP, 0};
  int ready = ::poll(&watch, 1, 0);
  // Readable while idle: either the end of the stream or bytes nobody asked for. Either way the
  // connection cannot carry the next exchange.
  return ready > 0 && watch.revents != 0;
}

core::Status RuntimeClient::send_all(std::string_view head, std::string_view body,
                                     std::string_view tail) {
  iovec parts[3];
  std::size_t count = 0;
  for (std::string_view part : {head, body, tail}) {
    if (!part.empty()) {
      parts[count++] = {const_cast<char*>(part.data()), part.size()};
    }
  }
  msghdr message{};
  message.msg_iov = parts;
  message.msg_iovlen = count;
  while (message.msg_iovlen > 0) {
    ssize_t sent = ::sendmsg(fd_, &message, MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) {
        continue;
      }
      return io_error(errno, "cannot write to the runtime API");
    }
    auto left = static_cast<std::size_t>(sent);
    while (message.msg_iovlen > 0 && left >= message.msg_iov->iov_len) {
      left -= message.msg_iov->iov_len;
      ++message.msg_iov;
      --message.msg_iovlen;
    }
    if (message.msg_iovlen > 0) {
      message.msg_iov->iov_base = static_cast<char*>(message.msg_iov->iov_base) + left;
      message.msg_iov->iov_len -= left;
    }
  }
  return core::Status::ok_status();
}

core::Status RuntimeClient::read_response() {
  ResponseReader& reader = *reader_;
  reader.reset();
  // What came after the previous response (a pipelined one) is read first.
  if (!unread_.empty()) {
    std::size_t parsed = http_parser_execute(&reader.parser, &ResponseReader::kSettings,
                                             unread_.data(), unread_.size());
    unread_.erase(0, parsed);
    if (reader.complete) {
      if (!http_should_keep_alive(&reader.parser)) {
        close();
      }
      return core::Status::ok_status();
    }
    if (HTTP_PARSER_ERRNO(&reader.parser) != HPE_OK) {
      close();
      return core::Error(core::ErrorCode::kIo,
                         std::string("the runtime API's response is not HTTP: ") +
                             http_errno_description(HTTP_PARSER_ERRNO(&reader.parser)));
    }
  }
  bool wait_first = true;
  for (;;) {
    // Wait in poll(), not in recv(): a Unix socket wakes a process blocked in recv() each time
    // the daemon reads what it wrote (the writer's "space" wake-up goes to the same queue),
    // while poll() sleeps through those. One wake-up per answer instead of two. The rest of a
    // response begun is read first and waited for only if it is not there yet.
    if (wait_first) {
      pollfd watch{fd_, POLLIN | POLLRDHUP, 0};
      if (::poll(&watch, 1, -1) < 0) {
        if (errno == EINTR) {
          continue;
        }
        int err = errno;
        close();
        return io_error(err, "cannot wait for the runtime API");
      }
    }
    ssize_t got = ::recv(fd_, reader.buffer.get(), kReadSize, MSG_DONTWAIT);
    wait_first = got < 0 && errno == EAGAIN;
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) {
        continue;
      }
      int err = errno;
      close();
      return io_error(err, "cannot read from the runtime API");
    }
    // A read of 0 bytes tells the parser the stream ended (a body read until the end).
    auto length = static_cast<std::size_t>(got);
    std::size_t parsed = http_parser_execute(&reader.parser, &ResponseReader::kSettings,
                                             reader.buffer.get(), length);
    if (reader.complete) {
      if (length == 0 || !http_should_keep_alive(&reader.parser)) {
        close();
      } else if (parsed < length) {
        // The start of the next response: kept for the read that wants it.
        unread_.assign(reader.buffer.get() + parsed, length - parsed);
      }
      return core::Status::ok_status();
    }
    if (length == 0) {
      close();
      return core::Error(core::ErrorCode::kUnavailable, "the runtime API closed the connection");
    }
    if (HTTP_PARSER_ERRNO(&reader.parser) != HPE_OK) {
      close();
      return core::Error(core::ErrorCode::kIo,
                         std::string("the runtime API's response is not HTTP: ") +
                             http_errno_description(HTTP_PARSER_ERRNO(&reader.parser)));
    }
  }
}

void RuntimeClient::append_request(std::string_view method, std::string_view path,
                                   std::string_view content_type, std::string_view extra_header,
                                   std::size_t body_size, std::string& out) const {
  out.append(method).append(" ").append(path).append(" HTTP/1.1\r\nHost: ").append(host_);
  out.append("\r\n");
  if (method == "POST") {
    out.append("Content-Type: ").append(content_type).append("\r\n");
    out.append("Content-Length: ").append(std::to_string(body_size)).append("\r\n");
  }
  out.append(extra_header).append("\r\n");
}

core::Status RuntimeClient::check_status(std::string_view method, std::string_view path) const {
  int status = reader_->status;
  if (status >= 200 && status <= 299) {
    return core::Status::ok_status();
  }
  std::string message = "the runtime API answered " + std::string(method) + " " +
                        std::string(path) + " with status " + std::to_string(status);
  if (!reader_->body.empty()) {
    message += ": " + core::to_valid_utf8(reader_->body.substr(0, 200));
  }
  return core::Error(core::ErrorCode::kIo, std::move(message));
}

core::Status RuntimeClient::exchange(std::string_view method, std::string_view path,
                                     std::string_view content_type, std::string_view extra_header,
                                     std::string_view body, Invocation* then_next) {
  head_.clear();
  append_request(method, path, content_type, extra_header, body.size(), head_);
  std::string_view tail;
  if (then_next != nullptr) {
    // Pipelined: the request for the next invocation goes in the same write, so that the
    // environment and the daemon wake once per invocation each, not twice.
    next_head_.clear();
    append_request("GET", kNextPath, {}, {}, 0, next_head_);
    tail = next_head_;
  }

  // The daemon may have closed the connection while it was idle: open it again, once. An
  // inherited socket cannot be opened again, so it is not asked (a system call per exchange).
  if (fd_ >= 0 && address_length_ != 0 && unread_.empty() && peer_gone()) {
    close();
  }
  if (fd_ < 0) {
    unread_.clear();
    if (auto opened = open(); !opened) {
      return opened;
    }
  }
  if (auto sent = send_all(head_, body, tail); !sent) {
    close();
    return sent;
  }
  if (auto read = read_response(); !read) {
    return read;
  }
  if (auto status = check_status(method, path); !status) {
    return status;
  }
  if (then_next == nullptr) {
    return core::Status::ok_status();
  }
  if (fd_ < 0) {
    return core::Error(core::ErrorCode::kUnavailable, "the runtime API closed the connection");
  }
  if (auto read = read_response(); !read) {
    return read;
  }
  if (auto status = check_status("GET", kNextPath); !status) {
    return status;
  }
  return take_invocation(*then_next);
}

// ---- The Runtime API ------------------------------------------------------------------------

core::Status RuntimeClient::next(Invocation& out) {
  if (auto status = exchange("GET", kNextPath, {}, {}, {}); !status) {
    return status;
  }
  return take_invocation(out);
}

core::Status RuntimeClient::take_invocation(Invocation& out) {
  const ResponseReader& reader = *reader_;
  const std::string* id = reader.header("Lambda-Runtime-Aws-Request-Id");
  if (id == nullptr || !usable_request_id(*id)) {
    return core::Error(core::ErrorCode::kIo,
                       "the runtime API's next invocation has no usable "
                       "Lambda-Runtime-Aws-Request-Id");
  }
  out.request_id = *id;
  out.deadline.reset();
  if (const std::string* deadline = reader.header("Lambda-Runtime-Deadline-Ms")) {
    std::int64_t ms = 0;
    auto [end, ec] = std::from_chars(deadline->data(), deadline->data() + deadline->size(), ms);
    if (ec != std::errc() || end != deadline->data() + deadline->size()) {
      return core::Error(
          core::ErrorCode::kIo,
          "the runtime API's Lambda-Runtime-Deadline-Ms is not a number: \"" + *deadline + "\"");
    }
    out.deadline = ms;
  }
  const std::string* trace = reader.header("Lambda-Runtime-Trace-Id");
  out.trace_id = trace != nullptr ? *trace : std::string();
  const std::string* content_type = reader.header("Content-Type");
  out.content_type = content_type != nullptr ? *content_type : std::string();
  // The body's storage goes to the caller, and the caller's old one is read into next time.
  std::swap(out.body, reader_->body);
  return core::Status::ok_status();
}

core::Status RuntimeClient::respond(std::string_view request_id, std::string_view body,
                                    std::string_view content_type, Invocation* then_next) {
  path_.clear();
  path_.append(kInvocationPath).append(request_id).append("/response");
  return exchange("POST", path_, content_type, {}, body, then_next);
}

core::Status RuntimeClient::post_error(std::string_view path, std::string_view error_type,
                                       std::string_view message, Invocation* then_next) {
  error_body_.assign("{\"errorMessage\":");
  append_json_string(error_body_, message);
  error_body_.append(",\"errorType\":");
  append_json_string(error_body_, error_type);
  error_body_.append("}");
  std::string header = "Lambda-Runtime-Function-Error-Type: ";
  append_header_value(header, error_type);
  header.append("\r\n");
  return exchange("POST", path, "application/json", header, error_body_, then_next);
}

core::Status RuntimeClient::fail(std::string_view request_id, std::string_view error_type,
                                 std::string_view message, Invocation* then_next) {
  std::string path;
  path.append(kInvocationPath).append(request_id).append("/error");
  return post_error(path, error_type, message, then_next);
}

core::Status RuntimeClient::init_error(std::string_view error_type, std::string_view message) {
  return post_error(kInitErrorPath, error_type, message);
}

}  // namespace switchyard::environments
