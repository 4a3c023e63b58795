// A Lambda custom runtime in C++ with no SDK: the `bootstrap` executable of a `provided`
// function. It speaks the Lambda Runtime API (2018-06-01) over one keep-alive HTTP/1.1
// connection to AWS_LAMBDA_RUNTIME_API, written by hand on POSIX sockets:
//
//   GET  /2018-06-01/runtime/invocation/next           -> the event, and its request id,
//                                                          deadline and function ARN in headers
//   POST /2018-06-01/runtime/invocation/<id>/response  <- the handler's result
//   POST /2018-06-01/runtime/invocation/<id>/error     <- {"errorMessage","errorType"} when the
//                                                          handler threw
//   POST /2018-06-01/runtime/init/error                <- when the runtime cannot start
//
// The handler (`_HANDLER`, "echo" by default) answers with JSON describing the event it got. To
// show the ways a function goes wrong, it fails (errorType "Example.Failure") when the event
// contains "please-fail" and exits the process when it contains "please-crash". When EVENT_LOG
// names a file, every event is also appended to it, one line each.
//
// Build: c++ -std=c++17 -O2 -o bootstrap bootstrap.cc

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>

namespace {

// ---- HTTP/1.1 over one kept-alive connection --------------------------------------------

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // Names in lower case.
  std::string body;

  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

std::string lower(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return text;
}

std::string trim(const std::string& text) {
  auto begin = text.find_first_not_of(" \t");
  auto end = text.find_last_not_of(" \t\r");
  return begin == std::string::npos ? std::string() : text.substr(begin, end - begin + 1);
}

class HttpConnection {
 public:
  // `address` is "host:port", as AWS_LAMBDA_RUNTIME_API gives it.
  explicit HttpConnection(std::string address) : address_(std::move(address)) {}
  ~HttpConnection() { disconnect(); }
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Sends one request and reads its response. A connection the server closed between two
  // requests is opened again once; any other failure throws.
  Response request(const std::string& method, const std::string& path, const std::string& body,
                   const std::map<std::string, std::string>& headers = {}) {
    std::string head = method + " " + path + " HTTP/1.1\r\nHost: " + address_ + "\r\n";
    for (const auto& [name, value] : headers) {
      head += name + ": " + value + "\r\n";
    }
    if (method != "GET") {
      head += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    head += "\r\n";
    for (int attempt = 0;; ++attempt) {
      bool reused = fd_ >= 0;
      if (!reused) {
        connect_to_api();
      }
      try {
        send_all(head + body);
        return read_response();
      } catch (const std::runtime_error&) {
        disconnect();
        if (!reused || attempt > 0) {
          throw;
        }
      }
    }
  }

 private:
  void connect_to_api() {
    auto colon = address_.rfind(':');
    if (colon == std::string::npos) {
      throw std::runtime_error("AWS_LAMBDA_RUNTIME_API is not host:port: " + address_);
    }
    std::string host = address_.substr(0, colon);
    std::string port = address_.substr(colon + 1);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
      throw std::runtime_error("cannot resolve " + address_ + ": " + ::gai_strerror(rc));
    }
    for (addrinfo* at = found; at != nullptr && fd_ < 0; at = at->ai_next) {
      fd_ = ::socket(at->ai_family, at->ai_socktype | SOCK_CLOEXEC, at->ai_protocol);
      if (fd_ >= 0 && ::connect(fd_, at->ai_addr, at->ai_addrlen) != 0) {
        ::close(fd_);
        fd_ = -1;
      }
    }
    ::freeaddrinfo(found);
    if (fd_ < 0) {
      throw std::runtime_error("cannot connect to " + address_ + ": " + std::strerror(errno));
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }

  void disconnect() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
    buffer_.clear();
  }

  void send_all(const std::string& data) {
    std::size_t sent = 0;
    while (sent < data.size()) {
      ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        throw std::runtime_error(std::string("send failed: ") + std::strerror(errno));
      }
      sent += static_cast<std::size_t>(n);
    }
  }

  // Reads more bytes into buffer_; throws when the peer closed the connection.
  void fill() {
    char chunk[16384];
    for (;;) {
      ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        throw std::runtime_error("the Runtime API closed the connection");
      }
      buffer_.append(chunk, static_cast<std::size_t>(n));
      return;
    }
  }

  std::string read_line() {
    std::size_t end;
    while ((end = buffer_.find("\r\n")) == std::string::npos) {
      fill();
    }
    std::string line = buffer_.substr(0, end);
    buffer_.erase(0, end + 2);
    return line;
  }

  std::string read_bytes(std::size_t count) {
    while (buffer_.size() < count) {
      fill();
    }
    std::string bytes = buffer_.substr(0, count);
    buffer_.erase(0, count);
    return bytes;
  }

  Response read_response() {
    Response response;
    std::string status_line = read_line();  // "HTTP/1.1 200 OK"
    auto space = status_line.find(' ');
    if (status_line.rfind("HTTP/1.", 0) != 0 || space == std::string::npos) {
      throw std::runtime_error("not an HTTP response: " + status_line);
    }
    response.status = std::atoi(status_line.c_str() + space + 1);
    for (std::string line = read_line(); !line.empty(); line = read_line()) {
      auto colon = line.find(':');
      if (colon != std::string::npos) {
        response.headers[lower(line.substr(0, colon))] = trim(line.substr(colon + 1));
      }
    }
    if (lower(response.header("transfer-encoding")).find("chunked") != std::string::npos) {
      for (;;) {
        std::size_t size = std::strtoul(read_line().c_str(), nullptr, 16);
        if (size == 0) {
          while (!read_line().empty()) {  // Trailers.
          }
          break;
        }
        response.body += read_bytes(size);
        read_line();
      }
    } else if (std::string length = response.header("content-length"); !length.empty()) {
      response.body = read_bytes(std::strtoull(length.c_str(), nullptr, 10));
    }
    if (lower(response.header("connection")) == "close") {
      disconnect();
    }
    return response;
  }

  std::string address_;
  int fd_ = -1;
  std::string buffer_;  // Bytes read and not yet parsed.
};

// ---- JSON, only as much as the runtime writes --------------------------------------------

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
          out += escaped;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

// ---- The function --------------------------------------------------------------------------

struct Invocation {
  std::string event;  // The JSON the Runtime API handed over.
  std::string request_id;
  std::string deadline_ms;
  std::string function_arn;
};

// What the handler throws to report a failure of its own, with Lambda's errorType.
struct FunctionError : std::runtime_error {
  FunctionError(std::string type, const std::string& message)
      : std::runtime_error(message), type(std::move(type)) {}
  std::string type;
};

using Handler = std::function<std::string(const Invocation&)>;

// Appends `event` to the file named by EVENT_LOG, as one line in one write, so that several
// environments of one function can share the file.
void log_event(int log_fd, const std::string& event) {
  if (log_fd < 0) {
    return;
  }
  std::string line;
  for (char c : event) {
    if (c != '\n' && c != '\r') {
      line += c;  // JSON strings hold no raw newline: dropping them keeps the JSON as it was.
    }
  }
  line += '\n';
  if (::write(log_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    throw std::runtime_error(std::string("cannot write EVENT_LOG: ") + std::strerror(errno));
  }
}

std::string echo(const Invocation& invocation, int log_fd) {
  log_event(log_fd, invocation.event);
  if (invocation.event.find("please-crash") != std::string::npos) {
    std::fprintf(stderr, "asked to crash: exiting\n");
    std::_Exit(2);
  }
  if (invocation.event.find("please-fail") != std::string::npos) {
    throw FunctionError("Example.Failure", "the event asked the function to fail");
  }
  // Lambda events are JSON; anything else is described as a string.
  auto first = invocation.event.find_first_not_of(" \t\r\n");
  bool json = first != std::string::npos &&
              std::strchr("{[\"-0123456789tfn", invocation.event[first]) != nullptr;
  std::string received = json ? invocation.event : json_string(invocation.event);
  return "{\"received\":" + received + ",\"requestId\":" + json_string(invocation.request_id) +
         ",\"deadlineMs\":" + (invocation.deadline_ms.empty() ? "0" : invocation.deadline_ms) +
         ",\"functionArn\":" + json_string(invocation.function_arn) + "}";
}

std::string error_body(const std::string& type, const std::string& message) {
  return "{\"errorMessage\":" + json_string(message) + ",\"errorType\":" + json_string(type) + "}";
}

const char* kApiPrefix = "/2018-06-01/runtime";

// Reports a failure to start and ends the process, as Lambda expects of a runtime.
[[noreturn]] void fail_init(HttpConnection& api, const std::string& type,
                            const std::string& message) {
  std::fprintf(stderr, "init failed: %s: %s\n", type.c_str(), message.c_str());
  try {
    api.request(
        "POST", std::string(kApiPrefix) + "/init/error", error_body(type, message),
        {{"Lambda-Runtime-Function-Error-Type", type}, {"Content-Type", "application/json"}});
  } catch (const std::exception& error) {
    std::fprintf(stderr, "could not report the init failure: %s\n", error.what());
  }
  std::exit(1);
}

}  // namespace

int main() {
  const char* address = std::getenv("AWS_LAMBDA_RUNTIME_API");
  if (address == nullptr || *address == '\0') {
    std::fprintf(stderr, "AWS_LAMBDA_RUNTIME_API is not set: run me as a Lambda runtime\n");
    return 1;
  }
  HttpConnection api(address);

  // Init: find the handler and open what it needs; failures go to /init/error.
  int log_fd = -1;
  if (const char* path = std::getenv("EVENT_LOG"); path != nullptr && *path != '\0') {
    log_fd = ::open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
      fail_init(api, "Runtime.InitError",
                std::string("cannot open EVENT_LOG ") + path + ": " + std::strerror(errno));
    }
  }
  const std::map<std::string, Handler> handlers = {
      {"echo", [log_fd](const Invocation& invocation) { return echo(invocation, log_fd); }},
  };
  const char* handler_name = std::getenv("_HANDLER");
  std::string name = handler_name != nullptr && *handler_name != '\0' ? handler_name : "echo";
  auto handler = handlers.find(name);
  if (handler == handlers.end()) {
    fail_init(api, "Runtime.HandlerNotFound", "no handler named '" + name + "'");
  }

  // The invocation loop: next, handle, answer.
  for (;;) {
    Response next = api.request("GET", std::string(kApiPrefix) + "/invocation/next", "");
    if (next.status != 200) {
      std::fprintf(stderr, "invocation/next answered %d: %s\n", next.status, next.body.c_str());
      return 1;
    }
    Invocation invocation{next.body, next.header("lambda-runtime-aws-request-id"),
                          next.header("lambda-runtime-deadline-ms"),
                          next.header("lambda-runtime-invoked-function-arn")};
    std::string base = std::string(kApiPrefix) + "/invocation/" + invocation.request_id;
    // The handler runs alone in the try: a failure to reach the Runtime API is not its error.
    std::string path = base + "/response";
    std::string body;
    std::string error_type;
    try {
      body = handler->second(invocation);
    } catch (const FunctionError& error) {
      error_type = error.type;
      body = error_body(error.type, error.what());
    } catch (const std::exception& error) {
      error_type = "Runtime.Unhandled";
      body = error_body(error_type, error.what());
    }
    std::map<std::string, std::string> headers = {{"Content-Type", "application/json"}};
    if (!error_type.empty()) {
      path = base + "/error";
      headers["Lambda-Runtime-Function-Error-Type"] = error_type;
    }
    Response answered = api.request("POST", path, body, headers);
    if (answered.status != 202) {
      std::fprintf(stderr, "the answer to %s was refused (%d): %s\n", invocation.request_id.c_str(),
                   answered.status, answered.body.c_str());
    }
  }
}
