// The responses of a ServerConnection (server_connection.h): queued in request order,
// serialized, written.

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <string_view>

#include "core/log.h"
#include "core/text.h"
#include "http/server_connection.h"

namespace switchyard::http {

namespace {

// Output buffers keep their capacity between responses, up to this; a larger one is freed.
constexpr std::size_t kKeptBufferCapacity = 256 * 1024;

// Whether `value` contains a character that would end the header line it is written into.
bool has_line_break(std::string_view value) {
  return value.find_first_of("\r\n") != std::string_view::npos;
}

void append_number(std::string& out, std::uint64_t value) {
  char digits[24];
  auto result = std::to_chars(digits, digits + sizeof(digits), value);
  out.append(digits, result.ptr);
}

}  // namespace

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
    if (core::equals_ignore_case(header.name, "Connection") &&
        core::equals_ignore_case(header.value, "close")) {
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
    if (core::equals_ignore_case(header.name, "Content-Length") ||
        core::equals_ignore_case(header.name, "Transfer-Encoding") ||
        core::equals_ignore_case(header.name, "Connection") || header.name.empty() ||
        has_line_break(header.name) || has_line_break(header.value)) {
      continue;
    }
    if (core::equals_ignore_case(header.name, "Date")) {
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

}  // namespace switchyard::http
