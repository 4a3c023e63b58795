// The line scan of a request's header section (RFC 9112 §2.2, §5.2): what it accepts, what it
// refuses, in one piece and split anywhere.

#include "http/header_lines.h"

#include <doctest/doctest.h>

#include <string>

using switchyard::http::HeaderLineScanner;
using Result = HeaderLineScanner::Result;

namespace {

// Scans `section` (from the request-target on) split at `split` (npos: whole).
Result scan(const std::string& section, std::size_t split = std::string::npos) {
  HeaderLineScanner scanner;
  scanner.reset();
  if (split >= section.size()) {
    return scanner.scan(section);
  }
  Result first = scanner.scan(std::string_view(section).substr(0, split));
  if (first != Result::kNeedMore) {
    return first;
  }
  return scanner.scan(std::string_view(section).substr(split));
}

// The same result for every split point.
Result scan_every_split(const std::string& section) {
  Result whole = scan(section);
  for (std::size_t split = 0; split < section.size(); ++split) {
    CAPTURE(split);
    CHECK(scan(section, split) == whole);
  }
  return whole;
}

}  // namespace

TEST_CASE("well-formed sections end at their empty line") {
  CHECK(scan_every_split("/ HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\r\n") == Result::kDone);
  CHECK(scan_every_split("/ HTTP/1.1\r\nHost: a\r\nX-A:\r\n\r\n") == Result::kDone);
  CHECK(scan_every_split("/ HTTP/1.0\r\n\r\n") == Result::kDone);
  // A bare LF ending a line is accepted (§2.2 allows it).
  CHECK(scan_every_split("/ HTTP/1.1\nHost: a\n\n") == Result::kDone);
  CHECK(scan_every_split("/ HTTP/1.1\r\nHost: a\n\r\n") == Result::kDone);
  // What follows the section is not scanned.
  CHECK(scan("/ HTTP/1.1\r\nHost: a\r\n\r\n\rbody \r\n b") == Result::kDone);
  CHECK(scan("/ HTTP/1.1\r\nHost: a\r\n") == Result::kNeedMore);
}

TEST_CASE("a bare CR anywhere in the section is refused") {
  CHECK(scan_every_split("/ HTTP/1.1\rHost: a\r\n\r\n") == Result::kBareCr);
  CHECK(scan_every_split("/x\ry HTTP/1.1\r\nHost: a\r\n\r\n") == Result::kBareCr);
  CHECK(scan_every_split("/ HTTP/1.1\r\nHost: a\rX-A: b\r\n\r\n") == Result::kBareCr);
  CHECK(scan_every_split("/ HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n") == Result::kBareCr);
  CHECK(scan_every_split("/ HTTP/1.1\r\nHost: a\r\nX-A:\rX-B: c\r\n\r\n") == Result::kBareCr);
  CHECK(scan_every_split("/ HTTP/1.1\r\nHost: a\r\n\rX-B: c\r\n\r\n") == Result::kBareCr);
  CHECK(scan_every_split("/ HTTP/1.1\r\nHost: a\r\n\r\r\n") == Result::kBareCr);
}

TEST_CASE("a line starting with whitespace is refused: obs-fold, also after an empty value") {
  CHECK(scan_every_split("/ HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n") == Result::kFolded);
  CHECK(scan_every_split("/ HTTP/1.1\r\nHost: a\r\nX-A:\r\n c\r\n\r\n") == Result::kFolded);
  CHECK(scan_every_split("/ HTTP/1.1\r\nHost: a\r\nX-A:\r\n\t\r\n\r\n") == Result::kFolded);
  CHECK(scan_every_split("/ HTTP/1.1\r\n Host: a\r\n\r\n") == Result::kFolded);
}

TEST_CASE("the result stays once found") {
  HeaderLineScanner scanner;
  scanner.reset();
  CHECK(scanner.scan("/ HTTP/1.1\r\n\r\n") == Result::kDone);
  CHECK(scanner.scan("\r\r\r") == Result::kDone);
  scanner.reset();
  CHECK(scanner.scan("/ HTTP/1.1\rX") == Result::kBareCr);
  CHECK(scanner.scan("\r\n\r\n") == Result::kBareCr);
}
