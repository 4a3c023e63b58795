#include "http/server.h"

#include <arpa/inet.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <strings.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <csignal>
#include <cstring>
#include <limits>
#include <string_view>
#include <vector>

#include "core/log.h"
#include "http/chunked.h"
#include "http/framing.h"
#include "http/header_lines.h"

namespace switchyard::http {

namespace {

constexpr std::size_t kReadBufferSize = 64 * 1024;
constexpr int kListenBacklog = 1024;
// How long a closing connection keeps reading (and discarding) after its last response, so
// that unread request bytes do not turn the close into a reset that loses that response.
constexpr std::uint64_t kLingerMs = 2000;
// Output buffers keep their capacity between responses, up to this; a larger one is freed.
constexpr std::size_t kKeptBufferCapacity = 256 * 1024;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

bool equals_ignore_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// Whether `value` contains a character that would end the header line it is written into.
bool has_line_break(std::string_view value) {
  return value.find_first_of("\r\n") != std::string_view::npos;
}

void trim_trailing_whitespace(std::string& value) {
  std::size_t end = value.size();
  while (end > 0 && (value[end - 1] == ' ' || value[end - 1] == '\t')) {
    --end;
  }
  value.resize(end);
}

void append_number(std::string& out, std::uint64_t value) {
  char digits[24];
  auto result = std::to_chars(digits, digits + sizeof(digits), value);
  out.append(digits, result.ptr);
}

enum class BadRequest {
  kMalformed,
  kTargetTooLong,
  kHeaderTooLarge,
  kBodyTooLarge,
  kHeaderTimeout,
  kBodyTimeout,
  kUnsupportedVersion,
  kExpectation,
};

}  // namespace

// One accepted connection: its parser, the queue of responses owed in request order, and the
// output buffers. Owned by the Server while open; ResponseSlots keep it alive (closed) after
// that, so that a late respond() finds a closed connection rather than freed memory.
class ServerConnection : public std::enable_shared_from_this<ServerConnection> {
 public:
  explicit ServerConnection(Server& server)
      : server_(&server),
        loop_(server.loop_.raw()),
        chunked_(server.options_.max_body_bytes, server.options_.max_header_bytes) {}
  ~ServerConnection() = default;
  ServerConnection(const ServerConnection&) = delete;
  ServerConnection& operator=(const ServerConnection&) = delete;

  // Accepts the pending connection of `listener` and starts reading; false when that fails.
  bool start(uv_stream_t* listener);
  // Takes `fd`, a connected Unix stream socket, and starts reading; false when that fails.
  bool adopt(int fd);
  // Answers request `sequence`, or stores the answer until those before it are written.
  void respond(std::uint64_t sequence, Response&& response);
  // A slot was dropped without an answer.
  void abandon(std::uint64_t sequence);
  bool open() const { return state_ == State::kOpen; }
  // The server stops: close now when idle, else after the requests already begun.
  void drain();
  // Closes the socket at once; pending slots become no-ops.
  void hard_close();

  std::size_t index_ = 0;  // Position in Server::connections_.

 private:
  // Starts reading a connection whose handle is set up (start(), adopt()).
  bool begin();
  enum class State { kOpen, kLingering, kClosed };

  // What a queued response needs to know about its request.
  struct Pending {
    Response response;
    bool ready = false;
    bool head = false;       // A HEAD request: no body written.
    bool keep_alive = true;  // False: the connection closes after this response.
    bool http10 = false;     // An HTTP/1.0 request kept alive says so in its response.
  };

  static const http_parser_settings kSettings;

  static int on_message_begin_cb(http_parser* parser);
  static int on_url_cb(http_parser* parser, const char* at, std::size_t length);
  static int on_header_field_cb(http_parser* parser, const char* at, std::size_t length);
  static int on_header_value_cb(http_parser* parser, const char* at, std::size_t length);
  static int on_headers_complete_cb(http_parser* parser);
  static int on_body_cb(http_parser* parser, const char* at, std::size_t length);
  static int on_message_complete_cb(http_parser* parser);
  static ServerConnection& of(http_parser* parser) {
    return *static_cast<ServerConnection*>(parser->data);
  }

  int on_message_begin();
  int on_headers_complete();
  int on_message_complete();
  // Hands the complete request to the handler.
  void finish_request();
  // Feeds `length` bytes to the chunked body in progress; returns the bytes it used.
  std::size_t decode_chunked(const char* data, std::size_t length);
  // Whether the parser must stop before the next request: the connection closes after the
  // answers owed, or max_pipelined of them are owed.
  bool must_wait() const {
    return no_more_requests_ || ring_count_ >= server_->options_.max_pipelined;
  }
  // Records why the request in progress is refused; the parser callback then returns -1.
  int reject(int status, BadRequest reason, std::string_view message);
  bool add_header_bytes(std::size_t length);

  void on_read(ssize_t nread, const uv_buf_t* buf);
  void on_write(int status);
  void on_timer();
  void process_input(const char* data, std::size_t length);
  // Answers what made http_parser_execute stop.
  void report_parse_error(http_errno error);
  void resume_parsing();
  // Queues an error response after those owed and stops taking requests.
  void fail_request(int status, BadRequest reason, std::string_view message);
  // After any event: write what is ready, resume or pause reading, finish a close.
  void kick();
  void flush();
  void update_reading();
  void linger_close();
  void set_deadline(std::uint64_t deadline_ms);

  Pending& push();
  Pending& at(std::uint64_t sequence) {
    return ring_[(ring_head_ + (sequence - head_sequence_)) % ring_.size()];
  }
  void pop();
  // Writes every ready response at the head of the queue into the output buffer.
  void write_ready();
  void serialize(const Pending& pending, Response& response);

  Server* server_;
  uv_loop_t* loop_;
  State state_ = State::kOpen;
  // A TCP connection, or a Unix socket handed over whole (Server::adopt): uv_tcp_t or
  // uv_pipe_t, used as a uv_stream_t.
  core::Handle<uv_any_handle> tcp_;
  core::Handle<uv_timer_t> timer_;
  std::string remote_address_;
  std::uint16_t remote_port_ = 0;

  http_parser parser_{};
  Request request_;
  std::size_t header_bytes_ = 0;
  bool in_message_ = false;      // Bytes of a request have arrived; it is not complete yet.
  bool headers_done_ = false;    // ... and its header block is complete.
  bool last_was_value_ = false;  // The last header callback was a value.
  bool peer_done_ = false;       // The client shut down its sending side (EOF) after full requests.
  // The input http_parser_execute is working on.
  const char* input_begin_ = nullptr;
  const char* input_end_ = nullptr;
  // The header section's line structure, which http-parser does not check: scanned from the
  // request-target on. scan_from_ is where the section's bytes start in the current input
  // (nullptr: at its start, or not begun when !target_seen_).
  HeaderLineScanner lines_;
  const char* scan_from_ = nullptr;
  bool target_seen_ = false;
  // A chunked body is decoded here rather than by http-parser (see chunked.h): the parser ends
  // the request at its header section, pauses, and the bytes go to chunked_ until it is done.
  ChunkedDecoder chunked_;
  bool chunked_body_ = false;      // The request in progress has a chunked body.
  bool decoding_ = false;          // ... and chunked_ is taking the input.
  bool parser_paused_ = false;     // Unparsed input waits in backlog_.
  bool no_more_requests_ = false;  // Close once the responses owed are written.
  bool continue_owed_ = false;     // 100 Continue is due once the responses before are written.
  bool in_input_ = false;          // Inside process_input: writing waits until it returns.
  bool reading_ = false;
  bool writing_ = false;
  bool resume_scheduled_ = false;
  int error_status_ = 0;
  BadRequest error_reason_ = BadRequest::kMalformed;
  std::string_view error_message_;
  std::string backlog_;

  // The responses owed, oldest first, as a ring that grows up to max_pipelined (plus one error).
  std::vector<Pending> ring_;
  std::size_t ring_head_ = 0;
  std::size_t ring_count_ = 0;
  std::uint64_t head_sequence_ = 0;  // The request sequence number of the ring's head.

  std::string out_;        // Responses serialized, not yet handed to the socket.
  std::string write_buf_;  // The bytes of the uv_write in flight.
  uv_write_t write_req_{};
  uv_shutdown_t shutdown_req_{};
  // Keep this object alive while libuv holds a request that points into it.
  std::shared_ptr<ServerConnection> write_hold_;
  std::shared_ptr<ServerConnection> shutdown_hold_;

  // One timer per connection, re-armed lazily: deadline_ms_ is what counts; the timer fires at
  // or before it and re-arms itself for the rest, so that moving a deadline costs no timer call.
  std::uint64_t deadline_ms_ = 0;   // 0: none.
  std::uint64_t timer_due_ms_ = 0;  // 0: the timer is not running.
};

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

// ---- ResponseSlot ----

ResponseSlot::~ResponseSlot() {
  if (connection_ != nullptr) {
    std::shared_ptr<ServerConnection> connection = std::move(connection_);
    connection->abandon(sequence_);
  }
}

ResponseSlot::ResponseSlot(ResponseSlot&& other) noexcept
    : connection_(std::move(other.connection_)), sequence_(other.sequence_) {}

ResponseSlot& ResponseSlot::operator=(ResponseSlot&& other) noexcept {
  if (this != &other) {
    if (connection_ != nullptr) {
      std::shared_ptr<ServerConnection> connection = std::move(connection_);
      connection->abandon(sequence_);
    }
    connection_ = std::move(other.connection_);
    sequence_ = other.sequence_;
  }
  return *this;
}

void ResponseSlot::respond(Response&& response) {
  if (connection_ == nullptr) {
    return;
  }
  std::shared_ptr<ServerConnection> connection = std::move(connection_);
  connection->respond(sequence_, std::move(response));
}

bool ResponseSlot::connected() const {
  return connection_ != nullptr && connection_->open();
}

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
    if (!equals_ignore_case(*expect, "100-continue")) {
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

// ---- ServerConnection: the response queue ----

ServerConnection::Pending& ServerConnection::push() {
  if (ring_count_ == ring_.size()) {
    std::vector<Pending> grown(std::max<std::size_t>(4, ring_.size() * 2));
    for (std::size_t i = 0; i < ring_count_; ++i) {
      grown[i] = std::move(ring_[(ring_head_ + i) % ring_.size()]);
    }
    ring_.swap(grown);
    ring_head_ = 0;
  }
  Pending& pending = ring_[(ring_head_ + ring_count_) % ring_.size()];
  pending = Pending();
  ++ring_count_;
  return pending;
}

void ServerConnection::pop() {
  ring_[ring_head_].response = Response();
  ring_head_ = (ring_head_ + 1) % ring_.size();
  --ring_count_;
  ++head_sequence_;
  if (ring_count_ == 0) {
    if (continue_owed_) {
      continue_owed_ = false;
      out_.append(kContinue);
    }
    if (!in_message_ && !no_more_requests_) {
      set_deadline(uv_now(loop_) +
                   static_cast<std::uint64_t>(server_->options_.idle_timeout.count()));
    }
  }
}

void ServerConnection::respond(std::uint64_t sequence, Response&& response) {
  if (state_ != State::kOpen || sequence < head_sequence_ ||
      sequence >= head_sequence_ + ring_count_) {
    return;
  }
  Pending& pending = at(sequence);
  if (pending.ready) {
    return;
  }
  if (sequence != head_sequence_) {
    pending.response = std::move(response);
    pending.ready = true;
    return;
  }
  serialize(pending, response);
  pop();
  write_ready();
  if (!in_input_) {
    std::shared_ptr<ServerConnection> self = shared_from_this();
    kick();
  }
}

void ServerConnection::abandon(std::uint64_t sequence) {
  if (state_ != State::kOpen) {
    return;
  }
  spdlog::warn("{}: a request handler dropped its response slot; answering 500",
               server_->options_.name);
  Response response;
  response.status = 500;
  response.headers.push_back(Header{"Content-Type", "application/json"});
  response.body = "{\"message\":\"the request was dropped without a response\"}";
  respond(sequence, std::move(response));
}

void ServerConnection::write_ready() {
  while (state_ == State::kOpen && ring_count_ > 0 && ring_[ring_head_].ready) {
    Pending& pending = ring_[ring_head_];
    serialize(pending, pending.response);
    pop();
  }
}

void ServerConnection::serialize(const Pending& pending, Response& response) {
  Server& server = *server_;
  int status = response.status;
  if (status < 100 || status > 999) {
    spdlog::warn("{}: a handler answered with status {}; sending 500", server.options_.name,
                 status);
    status = 500;
  }
  // The last response owed by a draining server, or one to a request that asked for it, closes.
  bool close = !pending.keep_alive || (server.draining_ && ring_count_ == 1 && !in_message_);
  bool has_date = false;
  std::size_t headers_size = 0;
  for (const Header& header : response.headers) {
    headers_size += header.name.size() + header.value.size() + 4;
    if (equals_ignore_case(header.name, "Connection") &&
        equals_ignore_case(header.value, "close")) {
      close = true;
    }
  }
  // 1xx, 204 and 304 responses have no body by definition.
  bool bodyless_status = status < 200 || status == 204 || status == 304;
  bool write_body = !bodyless_status && !pending.head;

  out_.reserve(out_.size() + 128 + headers_size + (write_body ? response.body.size() : 0));
  out_.append("HTTP/1.1 ");
  append_number(out_, static_cast<std::uint64_t>(status));
  out_.push_back(' ');
  out_.append(reason_phrase(status));
  out_.append("\r\n");
  for (const Header& header : response.headers) {
    // These are the server's to write; and a line break in a name or value (from a function's
    // output) would let it inject headers or a whole response.
    if (equals_ignore_case(header.name, "Content-Length") ||
        equals_ignore_case(header.name, "Transfer-Encoding") ||
        equals_ignore_case(header.name, "Connection") || header.name.empty() ||
        has_line_break(header.name) || has_line_break(header.value)) {
      continue;
    }
    if (equals_ignore_case(header.name, "Date")) {
      has_date = true;
    }
    out_.append(header.name);
    out_.append(": ");
    out_.append(header.value);
    out_.append("\r\n");
  }
  if (!bodyless_status) {
    out_.append("Content-Length: ");
    append_number(out_, response.body.size());
    out_.append("\r\n");
  }
  if (!has_date) {
    out_.append(server.date_line());
  }
  if (close) {
    out_.append("Connection: close\r\n");
  } else if (pending.http10) {
    out_.append("Connection: keep-alive\r\n");
  }
  out_.append("\r\n");
  if (write_body) {
    out_.append(response.body);
  }
  server.responses_counter(status).inc_unshared();
  if (close) {
    no_more_requests_ = true;
    // Requests pipelined behind a closing response are never answered; their slots go quiet.
    if (ring_count_ > 1) {
      for (std::size_t i = 1; i < ring_count_; ++i) {
        ring_[(ring_head_ + i) % ring_.size()] = Pending();
      }
      head_sequence_ += ring_count_ - 1;
      ring_count_ = 1;
    }
  }
}

// ---- ServerConnection: writing ----

void ServerConnection::kick() {
  if (state_ != State::kOpen) {
    return;
  }
  flush();
  if (state_ != State::kOpen) {
    return;
  }
  if (parser_paused_ && !resume_scheduled_ && !no_more_requests_ && !writing_ &&
      ring_count_ < server_->options_.max_pipelined) {
    // Parsing the rest may call the handler; do it from the loop, not from inside whatever
    // respond() call (possibly the handler's own caller) got us here.
    resume_scheduled_ = true;
    server_->loop_.defer([self = shared_from_this()] { self->resume_parsing(); });
  }
  update_reading();
  if (state_ == State::kOpen && (no_more_requests_ || (peer_done_ && !parser_paused_)) &&
      ring_count_ == 0 && !writing_ && out_.empty()) {
    linger_close();
  }
}

void ServerConnection::flush() {
  if (writing_ || out_.empty()) {
    return;
  }
  auto* stream = reinterpret_cast<uv_stream_t*>(tcp_.get());
  uv_buf_t buf = uv_buf_init(out_.data(), static_cast<unsigned int>(out_.size()));
  int written = uv_try_write(stream, &buf, 1);
  if (written >= 0 && static_cast<std::size_t>(written) == out_.size()) {
    out_.clear();
    if (out_.capacity() > kKeptBufferCapacity) {
      out_ = std::string();
    }
    return;
  }
  if (written < 0 && written != UV_EAGAIN) {
    spdlog::debug("{}: write to {}:{} failed: {}", server_->options_.name, remote_address_,
                  remote_port_, uv_strerror(written));
    hard_close();
    return;
  }
  std::size_t offset = written > 0 ? static_cast<std::size_t>(written) : 0;
  // The socket is full: the rest goes through uv_write from write_buf_, which stays untouched
  // until the callback; new responses gather in out_ meanwhile.
  write_buf_.swap(out_);
  out_.clear();
  buf = uv_buf_init(write_buf_.data() + offset,
                    static_cast<unsigned int>(write_buf_.size() - offset));
  write_req_.data = this;
  int rc = uv_write(&write_req_, stream, &buf, 1, [](uv_write_t* request, int status) {
    static_cast<ServerConnection*>(request->data)->on_write(status);
  });
  if (rc != 0) {
    hard_close();
    return;
  }
  write_hold_ = shared_from_this();
  writing_ = true;
  // Reading pauses while the client is not taking what it is sent; a client that takes
  // nothing for idle_timeout is dropped.
  set_deadline(uv_now(loop_) + static_cast<std::uint64_t>(server_->options_.idle_timeout.count()));
  update_reading();
}

void ServerConnection::on_write(int status) {
  std::shared_ptr<ServerConnection> self = std::move(write_hold_);
  writing_ = false;
  write_buf_.clear();
  if (write_buf_.capacity() > kKeptBufferCapacity) {
    write_buf_ = std::string();
  }
  if (state_ != State::kOpen) {
    return;
  }
  if (status < 0) {
    spdlog::debug("{}: write to {}:{} failed: {}", server_->options_.name, remote_address_,
                  remote_port_, uv_strerror(status));
    hard_close();
    return;
  }
  if (ring_count_ == 0 && !in_message_) {
    set_deadline(uv_now(loop_) +
                 static_cast<std::uint64_t>(server_->options_.idle_timeout.count()));
  }
  kick();
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
