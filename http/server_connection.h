#pragma once

// The server's side of one HTTP/1.1 connection (internal to http/): its parser, the queue of
// responses owed in request order, its output buffers and its timer. server_connection.cc reads
// and parses requests and keeps the deadlines; server_connection_write.cc queues, serializes
// and writes the responses (and is where a ResponseSlot's answer lands); server.cc accepts the
// connections.
//
// Thread rules: loop thread only.

#include <http_parser.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/loop.h"
#include "http/chunked.h"
#include "http/header_lines.h"
#include "http/server.h"

namespace switchyard::http {

inline constexpr std::size_t kReadBufferSize = 64 * 1024;
// 100 Continue, written once the responses before it are.
inline constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

// Why a request was refused before it reached the handler (switchyard_http_bad_requests_total).
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

}  // namespace switchyard::http
