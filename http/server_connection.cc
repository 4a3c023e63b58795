// A ServerConnection (server_connection.h): set-up and tear-down, reading and parsing requests,
// deadlines.

#include "http/server_connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <string_view>

#include "core/log.h"
#include "core/text.h"
#include "http/framing.h"

namespace switchyard::http {

namespace {

// How long a closing connection keeps reading (and discarding) after its last response, so
// that unread request bytes do not turn the close into a reset that loses that response.
constexpr std::uint64_t kLingerMs = 2000;

void trim_trailing_whitespace(std::string& value) {
  std::size_t end = value.size();
  while (end > 0 && (value[end - 1] == ' ' || value[end - 1] == '\t')) {
    --end;
  }
  value.resize(end);
}

}  // namespace

const http_parser_settings ServerConnection::kSettings = [] {
  http_parser_settings settings{};
  settings.on_message_begin = &ServerConnection::on_message_begin_cb;
  settings.on_url = &ServerConnection::on_url_cb;
  settings.on_header_field = &ServerConnection::on_header_field_cb;
  settings.on_header_value = &ServerConnection::on_header_value_cb;
  settings.on_headers_complete = &ServerConnection::on_headers_complete_cb;
  settings.on_body = &ServerConnection::on_body_cb;
  settings.on_message_complete = &ServerConnection::on_message_complete_cb;
  return settings;
}();
// ---- ServerConnection: set-up and tear-down ----

bool ServerConnection::start(uv_stream_t* listener) {
  if (uv_tcp_init(loop_, &tcp_.get()->tcp) != 0) {
    return false;
  }
  tcp_.get()->tcp.data = this;
  auto* stream = reinterpret_cast<uv_stream_t*>(tcp_.get());
  int rc = uv_accept(listener, stream);
  if (rc != 0) {
    spdlog::debug("{}: accept failed: {}", server_->options_.name, uv_strerror(rc));
    return false;
  }
  if (server_->options_.admit) {
    uv_os_fd_t fd = -1;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(tcp_.get()), &fd) != 0 ||
        !server_->options_.admit(fd)) {
      server_->rejected_.inc_unshared();
      return false;
    }
  }
  uv_tcp_nodelay(&tcp_.get()->tcp, 1);
  sockaddr_storage peer{};
  int peer_length = sizeof(peer);
  if (uv_tcp_getpeername(&tcp_.get()->tcp, reinterpret_cast<sockaddr*>(&peer), &peer_length) == 0) {
    char name[INET6_ADDRSTRLEN] = {0};
    if (peer.ss_family == AF_INET) {
      const auto* in4 = reinterpret_cast<const sockaddr_in*>(&peer);
      uv_ip4_name(in4, name, sizeof(name));
      remote_port_ = ntohs(in4->sin_port);
    } else if (peer.ss_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&peer);
      uv_ip6_name(in6, name, sizeof(name));
      remote_port_ = ntohs(in6->sin6_port);
    }
    remote_address_ = name;
  }
  return begin();
}

bool ServerConnection::adopt(int fd) {
  if (uv_pipe_init(loop_, &tcp_.get()->pipe, 0) != 0) {
    ::close(fd);
    return false;
  }
  tcp_.get()->pipe.data = this;
  if (uv_pipe_open(&tcp_.get()->pipe, fd) != 0) {
    ::close(fd);
    return false;
  }
  remote_address_ = "unix";
  return begin();
}

bool ServerConnection::begin() {
  if (uv_timer_init(loop_, timer_.get()) != 0) {
    return false;
  }
  timer_.get()->data = this;
  http_parser_init(&parser_, HTTP_REQUEST);
  parser_.data = this;
  // A fresh connection gets the header timeout to send its first request; silence until then
  // ends it without an answer.
  set_deadline(uv_now(loop_) +
               static_cast<std::uint64_t>(server_->options_.header_timeout.count()));
  update_reading();
  return state_ == State::kOpen;
}

void ServerConnection::hard_close() {
  if (state_ == State::kClosed) {
    return;
  }
  state_ = State::kClosed;
  // Closing the handle cancels a pending write or shutdown; their callbacks still run and find
  // this object alive through write_hold_ / shutdown_hold_.
  tcp_.close();
  timer_.close();
  reading_ = false;
  ring_.clear();
  ring_count_ = 0;
  backlog_ = std::string();
  out_ = std::string();
  request_ = Request();
  Server* server = server_;
  server_ = nullptr;
  if (server != nullptr) {
    // Last: this may drop the final reference when the caller holds none (callers hold one).
    server->remove(*this);
  }
}

void ServerConnection::linger_close() {
  state_ = State::kLingering;
  ring_.clear();
  ring_count_ = 0;
  backlog_ = std::string();
  auto* stream = reinterpret_cast<uv_stream_t*>(tcp_.get());
  shutdown_req_.data = this;
  int rc = uv_shutdown(&shutdown_req_, stream, [](uv_shutdown_t* request, int) {
    auto* connection = static_cast<ServerConnection*>(request->data);
    std::shared_ptr<ServerConnection> hold = std::move(connection->shutdown_hold_);
  });
  if (rc != 0) {
    hard_close();
    return;
  }
  shutdown_hold_ = shared_from_this();
  set_deadline(uv_now(loop_) + kLingerMs);
  // Keep reading (to discard) until the client closes its side or the linger time ends.
  if (!reading_) {
    update_reading();
  }
}

void ServerConnection::drain() {
  if (state_ != State::kOpen) {
    return;
  }
  if (ring_count_ == 0 && !in_message_ && !writing_ && out_.empty()) {
    hard_close();
    return;
  }
  if (!in_message_) {
    // The requests already received are answered; the last answer says Connection: close.
    no_more_requests_ = true;
    if (ring_count_ > 0) {
      at(head_sequence_ + ring_count_ - 1).keep_alive = false;
    }
  }
  if (!in_input_) {
    kick();  // Inside the parser (a handler called stop_accepting) the parser's caller kicks.
  }
}

// ---- ServerConnection: reading and parsing ----

void ServerConnection::update_reading() {
  auto* stream = reinterpret_cast<uv_stream_t*>(tcp_.get());
  bool want = false;
  if (state_ == State::kLingering) {
    want = true;
  } else if (state_ == State::kOpen) {
    want = !parser_paused_ && !no_more_requests_ && !peer_done_ && !writing_ &&
           ring_count_ < server_->options_.max_pipelined;
  }
  if (want && !reading_) {
    int rc = uv_read_start(
        stream,
        [](uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
          auto* connection = static_cast<ServerConnection*>(handle->data);
          if (connection == nullptr || connection->server_ == nullptr) {
            *buf = uv_buf_init(nullptr, 0);
            return;
          }
          *buf = uv_buf_init(connection->server_->read_buffer_.get(), kReadBufferSize);
        },
        [](uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
          auto* connection = static_cast<ServerConnection*>(stream->data);
          if (connection != nullptr) {
            connection->on_read(nread, buf);
          }
        });
    if (rc != 0) {
      hard_close();
      return;
    }
    reading_ = true;
  } else if (!want && reading_) {
    uv_read_stop(stream);
    reading_ = false;
  }
}

void ServerConnection::on_read(ssize_t nread, const uv_buf_t* buf) {
  std::shared_ptr<ServerConnection> self = shared_from_this();
  if (nread == UV_EOF && state_ == State::kOpen && (ring_count_ > 0 || !backlog_.empty())) {
    // The client sent its requests and shut down its sending side (`shutdown(SHUT_WR)`,
    // `nc -N`, health checks): the answers owed are still written, then the connection closes.
    peer_done_ = true;
    no_more_requests_ = backlog_.empty();
    update_reading();
    kick();
    return;
  }
  if (nread < 0) {
    // EOF or a reset: the client is gone, and with it every answer owed to it.
    if (nread != UV_EOF && nread != UV_ECONNRESET) {
      spdlog::debug("{}: read from {}:{} failed: {}",
                    server_ != nullptr ? server_->options_.name : "", remote_address_, remote_port_,
                    uv_strerror(static_cast<int>(nread)));
    }
    hard_close();
    return;
  }
  if (nread == 0 || state_ != State::kOpen) {
    return;  // Lingering: the bytes are discarded.
  }
  if (parser_paused_) {
    backlog_.append(buf->base, static_cast<std::size_t>(nread));
    update_reading();
    return;
  }
  if (in_message_ && headers_done_) {
    // A body that keeps arriving is not stalled.
    set_deadline(uv_now(loop_) +
                 static_cast<std::uint64_t>(server_->options_.idle_timeout.count()));
  }
  in_input_ = true;
  process_input(buf->base, static_cast<std::size_t>(nread));
  in_input_ = false;
  kick();
}

void ServerConnection::process_input(const char* data, std::size_t length) {
  while (length > 0) {
    if (decoding_) {
      std::size_t used = decode_chunked(data, length);
      if (state_ != State::kOpen || decoding_ || chunked_.error()) {
        return;
      }
      // The chunked request was handed over; the parser, paused at its end, takes the rest.
      data += used;
      length -= used;
      if (must_wait()) {
        parser_paused_ = true;
        if (!no_more_requests_) {
          backlog_.append(data, length);
        }
        return;
      }
      http_parser_pause(&parser_, 0);
      continue;
    }
    input_begin_ = data;
    input_end_ = data + length;
    std::size_t parsed = http_parser_execute(&parser_, &kSettings, data, length);
    if (state_ != State::kOpen) {
      return;  // A handler closed the server.
    }
    auto error = static_cast<http_errno>(HTTP_PARSER_ERRNO(&parser_));
    if (error == HPE_PAUSED && decoding_) {
      data += parsed;
      length -= parsed;
      continue;
    }
    if (error == HPE_PAUSED) {
      parser_paused_ = true;
      if (!no_more_requests_) {
        backlog_.append(data + parsed, length - parsed);
      }
      return;
    }
    if (error == HPE_OK && parsed == length) {
      if (in_message_ && !headers_done_ && target_seen_) {
        // The header section goes on in the next input: scan this part of it now.
        const char* from = scan_from_ != nullptr ? scan_from_ : data;
        scan_from_ = nullptr;
        HeaderLineScanner::Result lines =
            lines_.scan(std::string_view(from, static_cast<std::size_t>(input_end_ - from)));
        if (lines == HeaderLineScanner::Result::kBareCr ||
            lines == HeaderLineScanner::Result::kFolded) {
          fail_request(400, BadRequest::kMalformed, describe(lines));
        }
      }
      return;
    }
    report_parse_error(error);
    return;
  }
}

void ServerConnection::report_parse_error(http_errno error) {
  if (error_status_ != 0) {
    fail_request(error_status_, error_reason_, error_message_);
    return;
  }
  switch (error) {
    case HPE_HEADER_OVERFLOW:
      fail_request(431, BadRequest::kHeaderTooLarge, "request header block too large");
      break;
    case HPE_INVALID_VERSION:
      fail_request(400, BadRequest::kMalformed, "invalid HTTP version");
      break;
    case HPE_INVALID_CHUNK_SIZE:
      fail_request(400, BadRequest::kMalformed, "invalid chunk size");
      break;
    case HPE_INVALID_CONTENT_LENGTH:
      fail_request(400, BadRequest::kMalformed, "invalid Content-Length");
      break;
    case HPE_UNEXPECTED_CONTENT_LENGTH:
      fail_request(400, BadRequest::kMalformed,
                   "conflicting Content-Length or Transfer-Encoding headers");
      break;
    case HPE_INVALID_TRANSFER_ENCODING:
      fail_request(400, BadRequest::kMalformed, "invalid Transfer-Encoding");
      break;
    case HPE_INVALID_METHOD:
      fail_request(400, BadRequest::kMalformed, "invalid method");
      break;
    case HPE_INVALID_URL:
      fail_request(400, BadRequest::kMalformed, "invalid request target");
      break;
    default:
      fail_request(400, BadRequest::kMalformed, "malformed request");
      break;
  }
}

std::size_t ServerConnection::decode_chunked(const char* data, std::size_t length) {
  std::size_t used = chunked_.decode(std::string_view(data, length), request_.body);
  if (const auto& error = chunked_.error()) {
    BadRequest reason = error->status == 413   ? BadRequest::kBodyTooLarge
                        : error->status == 431 ? BadRequest::kHeaderTooLarge
                                               : BadRequest::kMalformed;
    fail_request(error->status, reason, error->message);
    return used;
  }
  if (chunked_.done()) {
    decoding_ = false;
    chunked_body_ = false;
    finish_request();
  }
  return used;
}

void ServerConnection::resume_parsing() {
  resume_scheduled_ = false;
  if (state_ != State::kOpen || !parser_paused_ || no_more_requests_ || writing_ ||
      ring_count_ >= server_->options_.max_pipelined) {
    return;
  }
  http_parser_pause(&parser_, 0);
  parser_paused_ = false;
  std::string input;
  input.swap(backlog_);
  in_input_ = true;
  process_input(input.data(), input.size());
  in_input_ = false;
  kick();
}

int ServerConnection::reject(int status, BadRequest reason, std::string_view message) {
  error_status_ = status;
  error_reason_ = reason;
  error_message_ = message;
  return -1;
}

bool ServerConnection::add_header_bytes(std::size_t length) {
  header_bytes_ += length;
  return header_bytes_ <= server_->options_.max_header_bytes;
}

int ServerConnection::on_message_begin_cb(http_parser* parser) {
  return of(parser).on_message_begin();
}

int ServerConnection::on_message_begin() {
  in_message_ = true;
  headers_done_ = false;
  last_was_value_ = false;
  continue_owed_ = false;
  header_bytes_ = 0;
  target_seen_ = false;
  scan_from_ = nullptr;
  lines_.reset();
  chunked_body_ = false;
  decoding_ = false;
  request_ = Request();
  request_.headers.reserve(8);
  // The header timeout counts from the first byte of the request.
  set_deadline(uv_now(loop_) +
               static_cast<std::uint64_t>(server_->options_.header_timeout.count()));
  return 0;
}

int ServerConnection::on_url_cb(http_parser* parser, const char* at, std::size_t length) {
  ServerConnection& self = of(parser);
  // RFC 9112 §3: a target longer than the server will parse is 414, not 431.
  if (self.request_.target.size() + length > self.server_->options_.max_target_bytes) {
    return self.reject(414, BadRequest::kTargetTooLong, "request target too long");
  }
  if (!self.add_header_bytes(length)) {
    return self.reject(431, BadRequest::kHeaderTooLarge, "request header block too large");
  }
  if (!self.target_seen_) {
    self.target_seen_ = true;
    self.scan_from_ = at;
  }
  self.request_.target.append(at, length);
  return 0;
}

int ServerConnection::on_header_field_cb(http_parser* parser, const char* at, std::size_t length) {
  ServerConnection& self = of(parser);
  // Each header line adds ": " and CRLF around what the callbacks see.
  std::size_t overhead = self.last_was_value_ || self.request_.headers.empty() ? 4 : 0;
  if (!self.add_header_bytes(length + overhead)) {
    return self.reject(431, BadRequest::kHeaderTooLarge, "request header block too large");
  }
  Headers& headers = self.request_.headers;
  if (self.last_was_value_ || headers.empty()) {
    if (!headers.empty()) {
      trim_trailing_whitespace(headers.back().value);
    }
    headers.push_back(Header{std::string(at, length), std::string()});
  } else {
    headers.back().name.append(at, length);
  }
  self.last_was_value_ = false;
  return 0;
}

int ServerConnection::on_header_value_cb(http_parser* parser, const char* at, std::size_t length) {
  ServerConnection& self = of(parser);
  if (!self.add_header_bytes(length)) {
    return self.reject(431, BadRequest::kHeaderTooLarge, "request header block too large");
  }
  if (self.request_.headers.empty()) {
    return self.reject(400, BadRequest::kMalformed, "header value without a name");
  }
  // More of the same value is a value split across reads, or an obs-fold that the line scan
  // refuses when the header section is complete.
  self.request_.headers.back().value.append(at, length);
  self.last_was_value_ = true;
  return 0;
}

int ServerConnection::on_headers_complete_cb(http_parser* parser) {
  return of(parser).on_headers_complete();
}

int ServerConnection::on_headers_complete() {
  headers_done_ = true;
  if (!target_seen_) {
    return reject(400, BadRequest::kMalformed, "empty request target");
  }
  const char* from = scan_from_ != nullptr ? scan_from_ : input_begin_;
  scan_from_ = nullptr;
  HeaderLineScanner::Result lines =
      lines_.scan(std::string_view(from, static_cast<std::size_t>(input_end_ - from)));
  if (lines != HeaderLineScanner::Result::kDone) {
    return reject(400, BadRequest::kMalformed, describe(lines));
  }
  Headers& headers = request_.headers;
  if (!headers.empty()) {
    trim_trailing_whitespace(headers.back().value);
  }
  if (parser_.http_major != 1) {
    return reject(505, BadRequest::kUnsupportedVersion, "unsupported HTTP version");
  }
  if (auto error = check_framing(headers, parser_.http_major, parser_.http_minor)) {
    return reject(error->status, BadRequest::kMalformed, error->message);
  }
  request_.version_major = parser_.http_major;
  request_.version_minor = parser_.http_minor;
  request_.method = http_method_str(static_cast<http_method>(parser_.method));
  // Upgrade (and CONNECT tunnels) are not offered: answer as a plain request, so the parser
  // keeps treating what follows as HTTP.
  parser_.upgrade = 0;

  const ServerOptions& options = server_->options_;
  bool chunked = (parser_.flags & F_CHUNKED) != 0;
  chunked_body_ = chunked;
  if (chunked) {
    chunked_.reset();
  }
  bool has_length = (parser_.flags & F_CONTENTLENGTH) != 0;
  if (has_length && parser_.content_length > options.max_body_bytes) {
    return reject(413, BadRequest::kBodyTooLarge, "request body too large");
  }
  if (has_length && parser_.content_length > 0) {
    request_.body.reserve(static_cast<std::size_t>(parser_.content_length));
  }

  // The request-target: origin form (/path?query) is the usual one; absolute form
  // (http://host/path?query) is parsed for its path and query.
  const std::string& target = request_.target;
  if (target.empty()) {
    return reject(400, BadRequest::kMalformed, "empty request target");
  }
  if (target[0] == '/' || target == "*") {
    std::size_t end = target.find('#');
    std::string_view view(target.data(), end == std::string::npos ? target.size() : end);
    std::size_t question = view.find('?');
    if (question == std::string_view::npos) {
      request_.path.assign(view);
    } else {
      request_.path.assign(view.substr(0, question));
      request_.query.assign(view.substr(question + 1));
    }
  } else {
    http_parser_url url;
    http_parser_url_init(&url);
    bool is_connect = parser_.method == HTTP_CONNECT;
    if (http_parser_parse_url(target.data(), target.size(), is_connect ? 1 : 0, &url) != 0) {
      return reject(400, BadRequest::kMalformed, "invalid request target");
    }
    if ((url.field_set & (1 << UF_PATH)) != 0) {
      request_.path.assign(target, url.field_data[UF_PATH].off, url.field_data[UF_PATH].len);
    } else {
      request_.path = is_connect ? target : "/";
    }
    if ((url.field_set & (1 << UF_QUERY)) != 0) {
      request_.query.assign(target, url.field_data[UF_QUERY].off, url.field_data[UF_QUERY].len);
    }
  }

  if (const std::string* expect = find_header(headers, "Expect"); expect != nullptr) {
    if (!core::equals_ignore_case(*expect, "100-continue")) {
      return reject(417, BadRequest::kExpectation, "unsupported Expect value");
    }
    bool body_expected = chunked || (has_length && parser_.content_length > 0);
    if (parser_.http_minor >= 1 && body_expected) {
      if (ring_count_ == 0) {
        // Nothing is owed before it: the interim answer goes out with the next write.
        out_.append(kContinue);
      } else {
        continue_owed_ = true;
      }
    }
  }
  // From here a stalled body is what the timer watches.
  set_deadline(uv_now(loop_) + static_cast<std::uint64_t>(options.idle_timeout.count()));
  // 1: http-parser ends the request here; a chunked body goes to chunked_ (on_message_complete).
  return chunked ? 1 : 0;
}

int ServerConnection::on_body_cb(http_parser* parser, const char* at, std::size_t length) {
  ServerConnection& self = of(parser);
  if (self.request_.body.size() + length > self.server_->options_.max_body_bytes) {
    return self.reject(413, BadRequest::kBodyTooLarge, "request body too large");
  }
  self.request_.body.append(at, length);
  return 0;
}

int ServerConnection::on_message_complete_cb(http_parser* parser) {
  return of(parser).on_message_complete();
}

int ServerConnection::on_message_complete() {
  if (chunked_body_) {
    // The header section of a chunked request ended: stop the parser, the body is decoded by
    // process_input.
    decoding_ = true;
    http_parser_pause(&parser_, 1);
    return 0;
  }
  finish_request();
  if (state_ != State::kOpen) {
    return -1;  // The handler closed the server; stop parsing.
  }
  if (must_wait()) {
    // Leave the rest of the input for later (or for nobody, when closing).
    http_parser_pause(&parser_, 1);
  }
  return 0;
}

void ServerConnection::finish_request() {
  in_message_ = false;
  headers_done_ = false;
  continue_owed_ = false;
  deadline_ms_ = 0;  // While the handler works nothing times out here; idle starts once answered.
  bool keep_alive = http_should_keep_alive(&parser_) != 0;
  request_.keep_alive = keep_alive;
  request_.remote_address = remote_address_;
  request_.remote_port = remote_port_;
  Pending& pending = push();
  pending.head = parser_.method == HTTP_HEAD;
  pending.keep_alive = keep_alive && !server_->draining_;
  pending.http10 = parser_.http_minor == 0;
  if (!pending.keep_alive) {
    no_more_requests_ = true;
  }
  std::uint64_t sequence = head_sequence_ + ring_count_ - 1;
  server_->handler_(std::move(request_), ResponseSlot(shared_from_this(), sequence));
}

void ServerConnection::fail_request(int status, BadRequest reason, std::string_view message) {
  if (state_ != State::kOpen) {
    return;
  }
  Server& server = *server_;
  switch (reason) {
    case BadRequest::kMalformed:
      server.bad_malformed_.inc_unshared();
      break;
    case BadRequest::kTargetTooLong:
      server.bad_target_too_long_.inc_unshared();
      break;
    case BadRequest::kHeaderTooLarge:
      server.bad_header_too_large_.inc_unshared();
      break;
    case BadRequest::kBodyTooLarge:
      server.bad_body_too_large_.inc_unshared();
      if (server.options_.body_too_large) {
        server.options_.body_too_large(request_.method, request_.target);
      }
      break;
    case BadRequest::kHeaderTimeout:
      server.bad_header_timeout_.inc_unshared();
      break;
    case BadRequest::kBodyTimeout:
      server.bad_body_timeout_.inc_unshared();
      break;
    case BadRequest::kUnsupportedVersion:
      server.bad_unsupported_version_.inc_unshared();
      break;
    case BadRequest::kExpectation:
      server.bad_expectation_.inc_unshared();
      break;
  }
  spdlog::debug("{}: {} from {}:{}: {}", server.options_.name, status, remote_address_,
                remote_port_, message);
  in_message_ = false;
  headers_done_ = false;
  continue_owed_ = false;
  chunked_body_ = false;
  decoding_ = false;
  no_more_requests_ = true;
  deadline_ms_ = 0;
  backlog_.clear();
  Response response;
  response.status = status;
  response.headers.push_back(Header{"Content-Type", "application/json"});
  response.body = "{\"message\":\"";
  core::append_json_escaped(response.body, message);
  response.body += "\"}";
  Pending& pending = push();
  pending.keep_alive = false;
  pending.head = false;
  std::uint64_t sequence = head_sequence_ + ring_count_ - 1;
  respond(sequence, std::move(response));
}

// ---- ServerConnection: timeouts ----

void ServerConnection::set_deadline(std::uint64_t deadline_ms) {
  deadline_ms_ = deadline_ms;
  if (timer_due_ms_ != 0 && timer_due_ms_ <= deadline_ms) {
    return;  // The timer fires in time and re-arms itself for the rest.
  }
  std::uint64_t now = uv_now(loop_);
  std::uint64_t delay = deadline_ms > now ? deadline_ms - now : 0;
  // Never arm further ahead than the header timeout, so that the next request's header
  // deadline (the earliest one a busy connection sets) never needs a restart.
  auto longest = static_cast<std::uint64_t>(std::max<std::int64_t>(
      1, static_cast<std::int64_t>(server_->options_.header_timeout.count())));
  delay = std::min(delay, longest);
  // Loop time is whole milliseconds, rounded down: one more keeps "no earlier than".
  delay += 1;
  timer_due_ms_ = now + delay;
  uv_timer_start(
      timer_.get(),
      [](uv_timer_t* timer) {
        auto* connection = static_cast<ServerConnection*>(timer->data);
        if (connection != nullptr) {
          connection->on_timer();
        }
      },
      delay, 0);
}

void ServerConnection::on_timer() {
  std::shared_ptr<ServerConnection> self = shared_from_this();
  timer_due_ms_ = 0;
  if (state_ == State::kClosed || deadline_ms_ == 0) {
    return;
  }
  std::uint64_t now = uv_now(loop_);
  if (now < deadline_ms_) {
    set_deadline(deadline_ms_);
    return;
  }
  deadline_ms_ = 0;
  if (state_ == State::kLingering || writing_) {
    if (writing_) {
      spdlog::debug("{}: {}:{} took no response bytes for idle_timeout; closing",
                    server_->options_.name, remote_address_, remote_port_);
    }
    hard_close();
    return;
  }
  if (in_message_ && !headers_done_) {
    fail_request(408, BadRequest::kHeaderTimeout, "request header timeout");
    kick();
    return;
  }
  if (in_message_) {
    fail_request(408, BadRequest::kBodyTimeout, "request body timeout");
    kick();
    return;
  }
  if (ring_count_ == 0 && !writing_ && out_.empty()) {
    hard_close();  // Idle keep-alive connection (or a new one that never sent a request).
  }
}

}  // namespace switchyard::http
