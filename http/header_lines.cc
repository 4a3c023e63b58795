#include "http/header_lines.h"

namespace switchyard::http {

HeaderLineScanner::Result HeaderLineScanner::scan(std::string_view bytes) {
  const char* p = bytes.data();
  const char* end = p + bytes.size();
  while (p < end && state_ != State::kDone && state_ != State::kBareCr &&
         state_ != State::kFolded) {
    switch (state_) {
      case State::kInLine:
        // Most bytes of a section are here: skip to the next CR or LF.
        while (p < end && *p != '\r' && *p != '\n') {
          ++p;
        }
        if (p < end) {
          state_ = *p == '\r' ? State::kAfterCr : State::kLineStart;
          ++p;
        }
        break;
      case State::kAfterCr:
        state_ = *p == '\n' ? State::kLineStart : State::kBareCr;
        ++p;
        break;
      case State::kLineStart:
        if (*p == '\r') {
          state_ = State::kEmptyLineCr;
        } else if (*p == '\n') {
          state_ = State::kDone;
        } else if (*p == ' ' || *p == '\t') {
          state_ = State::kFolded;
        } else {
          state_ = State::kInLine;
        }
        ++p;
        break;
      case State::kEmptyLineCr:
        state_ = *p == '\n' ? State::kDone : State::kBareCr;
        ++p;
        break;
      case State::kDone:
      case State::kBareCr:
      case State::kFolded:
        break;
    }
  }
  switch (state_) {
    case State::kDone:
      return Result::kDone;
    case State::kBareCr:
      return Result::kBareCr;
    case State::kFolded:
      return Result::kFolded;
    default:
      return Result::kNeedMore;
  }
}

std::string_view describe(HeaderLineScanner::Result result) {
  switch (result) {
    case HeaderLineScanner::Result::kBareCr:
      return "a bare CR in the request header section";
    case HeaderLineScanner::Result::kFolded:
      return "obsolete line folding in a header field";
    case HeaderLineScanner::Result::kNeedMore:
      return "the header section does not end with an empty line";
    case HeaderLineScanner::Result::kDone:
      break;
  }
  return "";
}

}  // namespace switchyard::http
