#pragma once

// The line structure of a request's header section, which http-parser 2.9 checks only in part:
// every CR ends a line (a bare CR is refused, RFC 9112 §2.2), no line after the request line
// starts with whitespace (obs-fold, §5.2, also after an empty field value; and whitespace
// between the start line and the first field, §2.2), and the section ends with an empty line
// (§2.1). A bare LF ending a line is accepted, as §2.2 allows.
//
// The server scans each request's section once, from the request-target on, in the pieces in
// which it arrives; the happy path costs one pass over those bytes.
//
// Thread rules: a plain value; one per connection, loop thread only.

#include <cstddef>
#include <string_view>

namespace switchyard::http {

class HeaderLineScanner {
 public:
  enum class Result {
    kNeedMore,  // No line broken so far; the empty line that ends the section is still to come.
    kDone,      // The empty line was found; the bytes after it are not the section's.
    kBareCr,    // A CR not followed by LF.
    kFolded,    // A line after the request line starts with whitespace.
  };

  // Starts a new section, positioned inside its request line.
  void reset() { state_ = State::kInLine; }
  // Scans the next bytes of the section. Once kDone or an error is returned, further calls
  // return the same without reading.
  Result scan(std::string_view bytes);

 private:
  enum class State {
    kInLine,       // Inside a line.
    kAfterCr,      // A CR was read: LF must follow.
    kLineStart,    // At the first byte of a line after the request line.
    kEmptyLineCr,  // A line starting with CR: the end of the section once LF follows.
    kDone,
    kBareCr,
    kFolded,
  };
  State state_ = State::kInLine;
};

// A short phrase naming what `result` found, for the 400 answer.
std::string_view describe(HeaderLineScanner::Result result);

}  // namespace switchyard::http
