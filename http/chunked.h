#pragma once

// Decodes a chunked request body as RFC 9112 §7.1 writes it, strictly, because http-parser 2.9
// does not: it takes any byte for the CRLF after chunk data or after a chunk-size line and any
// bytes as a chunk extension, and hands trailer fields over as if they were header fields. Here
// a chunk-size is 1*HEXDIG that fits 64 bits, an extension follows the grammar (BWS ";" name
// ["=" token / quoted-string]) within kMaxExtensionBytes a line, every line ends with CRLF, and
// the trailer section is checked (field-name ":" value, no obs-fold) and dropped (§7.1.2: none
// of its fields joins the header section). The body may not grow past the server's limit (413),
// nor the trailer section past its header limit (431).
//
// Thread rules: a plain value; one per connection, loop thread only.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace switchyard::http {

struct ChunkedError {
  int status;                // 400, 413 (body too large) or 431 (trailer section too large).
  std::string_view message;  // A literal.
};

class ChunkedDecoder {
 public:
  // The bytes of chunk extensions accepted on one chunk-size line.
  static constexpr std::size_t kMaxExtensionBytes = 4096;

  ChunkedDecoder(std::size_t max_body_bytes, std::size_t max_trailer_bytes)
      : max_body_bytes_(max_body_bytes), max_trailer_bytes_(max_trailer_bytes) {}

  // Starts a new body.
  void reset();
  // Decodes from `input`, appending chunk data to `body`, and returns the bytes used: all of
  // them while the body goes on; up to and including its final CRLF once done(); up to the
  // offending byte on error().
  std::size_t decode(std::string_view input, std::string& body);
  bool done() const { return state_ == State::kDone; }
  const std::optional<ChunkedError>& error() const { return error_; }

 private:
  enum class State {
    kSizeStart,        // The first hex digit of a chunk-size.
    kSize,             // More hex digits, an extension, or CR.
    kExtensionBws,     // Whitespace after the size or a value: ";" or CR next.
    kExtensionName,    // After ";": optional whitespace, then a token.
    kExtensionNameIn,  // Inside the name.
    kExtensionAfter,   // Whitespace after the name: "=", ";" or CR.
    kExtensionValue,   // After "=": optional whitespace, then a token or a quoted-string.
    kExtensionToken,   // Inside a token value.
    kExtensionQuoted,  // Inside a quoted-string value.
    kExtensionEscape,  // After a backslash in a quoted-string.
    kSizeLf,           // CR ended the size line: LF must follow.
    kData,             // Chunk data still to come.
    kDataCr,           // CRLF after the chunk data.
    kDataLf,
    kTrailerStart,  // The start of a trailer field line, or CR of the final empty line.
    kTrailerName,
    kTrailerValue,
    kTrailerLf,  // CR ended a trailer line: LF must follow.
    kEndLf,      // CR of the final empty line: LF must follow.
    kDone,
    kFailed,
  };

  std::size_t fail(int status, std::string_view message, std::size_t used);

  std::size_t max_body_bytes_;
  std::size_t max_trailer_bytes_;
  State state_ = State::kSizeStart;
  std::uint64_t size_ = 0;  // The chunk-size being read, then the chunk data still to come.
  std::size_t extension_bytes_ = 0;
  std::size_t trailer_bytes_ = 0;
  std::optional<ChunkedError> error_;
};

}  // namespace switchyard::http
