#include "http/chunked.h"

#include <algorithm>
#include <limits>

#include "core/text.h"

namespace switchyard::http {
namespace {

// tchar of RFC 9110 §5.6.2.
bool is_token_char(char c) {
  auto u = static_cast<unsigned char>(c);
  if ((u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z')) {
    return true;
  }
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool is_whitespace(char c) {
  return c == ' ' || c == '\t';
}

// qdtext of RFC 9110 §5.6.4: HTAB, SP, VCHAR except '"' and '\', obs-text.
bool is_quoted_text(char c) {
  auto u = static_cast<unsigned char>(c);
  return u == '\t' || u == ' ' || u == 0x21 || (u >= 0x23 && u <= 0x5b) ||
         (u >= 0x5d && u <= 0x7e) || u >= 0x80;
}

// A field value's bytes (RFC 9110 §5.5): HTAB, SP, VCHAR, obs-text.
bool is_field_value_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7f);
}

}  // namespace

void ChunkedDecoder::reset() {
  state_ = State::kSizeStart;
  size_ = 0;
  extension_bytes_ = 0;
  trailer_bytes_ = 0;
  error_.reset();
}

std::size_t ChunkedDecoder::fail(int status, std::string_view message, std::size_t used) {
  state_ = State::kFailed;
  error_ = ChunkedError{status, message};
  return used;
}

std::size_t ChunkedDecoder::decode(std::string_view input, std::string& body) {
  std::size_t i = 0;
  while (i < input.size()) {
    char c = input[i];
    switch (state_) {
      case State::kSizeStart: {
        int digit = core::hex_value(c);
        if (digit < 0) {
          return fail(400, "invalid chunk size", i);
        }
        size_ = static_cast<std::uint64_t>(digit);
        extension_bytes_ = 0;
        state_ = State::kSize;
        break;
      }
      case State::kSize: {
        int digit = core::hex_value(c);
        if (digit >= 0) {
          if (size_ > (std::numeric_limits<std::uint64_t>::max() >> 4)) {
            return fail(400, "chunk size overflows", i);
          }
          size_ = size_ * 16 + static_cast<std::uint64_t>(digit);
        } else if (c == ';') {
          state_ = State::kExtensionName;
        } else if (is_whitespace(c)) {
          state_ = State::kExtensionBws;
        } else if (c == '\r') {
          state_ = State::kSizeLf;
        } else {
          return fail(400, "invalid chunk size", i);
        }
        break;
      }
      case State::kExtensionBws:
      case State::kExtensionName:
      case State::kExtensionNameIn:
      case State::kExtensionAfter:
      case State::kExtensionValue:
      case State::kExtensionToken:
      case State::kExtensionQuoted:
      case State::kExtensionEscape: {
        if (++extension_bytes_ > kMaxExtensionBytes) {
          return fail(400, "chunk extension too long", i);
        }
        bool ok = true;
        switch (state_) {
          case State::kExtensionBws:
            if (c == ';') {
              state_ = State::kExtensionName;
            } else if (c == '\r') {
              state_ = State::kSizeLf;
            } else {
              ok = is_whitespace(c);
            }
            break;
          case State::kExtensionName:
            if (is_token_char(c)) {
              state_ = State::kExtensionNameIn;
            } else {
              ok = is_whitespace(c);
            }
            break;
          case State::kExtensionNameIn:
          case State::kExtensionAfter:
            if (c == '=') {
              state_ = State::kExtensionValue;
            } else if (c == ';') {
              state_ = State::kExtensionName;
            } else if (c == '\r') {
              state_ = State::kSizeLf;
            } else if (is_whitespace(c)) {
              state_ = State::kExtensionAfter;
            } else {
              ok = state_ == State::kExtensionNameIn && is_token_char(c);
            }
            break;
          case State::kExtensionValue:
            if (c == '"') {
              state_ = State::kExtensionQuoted;
            } else if (is_token_char(c)) {
              state_ = State::kExtensionToken;
            } else {
              ok = is_whitespace(c);
            }
            break;
          case State::kExtensionToken:
            if (c == ';') {
              state_ = State::kExtensionName;
            } else if (c == '\r') {
              state_ = State::kSizeLf;
            } else if (is_whitespace(c)) {
              state_ = State::kExtensionBws;
            } else {
              ok = is_token_char(c);
            }
            break;
          case State::kExtensionQuoted:
            if (c == '"') {
              state_ = State::kExtensionBws;
            } else if (c == '\\') {
              state_ = State::kExtensionEscape;
            } else {
              ok = is_quoted_text(c);
            }
            break;
          case State::kExtensionEscape:
            ok = is_field_value_char(c);
            state_ = State::kExtensionQuoted;
            break;
          default:
            break;
        }
        if (!ok) {
          return fail(400, "invalid chunk extension", i);
        }
        break;
      }
      case State::kSizeLf:
        if (c != '\n') {
          return fail(400, "a chunk-size line not ended by CRLF", i);
        }
        if (size_ == 0) {
          state_ = State::kTrailerStart;
        } else if (size_ > max_body_bytes_ || body.size() + size_ > max_body_bytes_) {
          return fail(413, "request body too large", i);
        } else {
          state_ = State::kData;
        }
        break;
      case State::kData: {
        std::size_t take =
            static_cast<std::size_t>(std::min<std::uint64_t>(size_, input.size() - i));
        body.append(input.data() + i, take);
        size_ -= take;
        i += take;
        if (size_ == 0) {
          state_ = State::kDataCr;
        }
        continue;
      }
      case State::kDataCr:
        if (c != '\r') {
          return fail(400, "chunk data not followed by CRLF", i);
        }
        state_ = State::kDataLf;
        break;
      case State::kDataLf:
        if (c != '\n') {
          return fail(400, "chunk data not followed by CRLF", i);
        }
        state_ = State::kSizeStart;
        break;
      case State::kTrailerStart:
        if (c == '\r') {
          state_ = State::kEndLf;
        } else if (is_token_char(c)) {
          state_ = State::kTrailerName;
        } else {
          return fail(400, "invalid trailer field", i);
        }
        break;
      case State::kTrailerName:
        if (c == ':') {
          state_ = State::kTrailerValue;
        } else if (!is_token_char(c)) {
          return fail(400, "invalid trailer field", i);
        }
        break;
      case State::kTrailerValue:
        if (c == '\r') {
          state_ = State::kTrailerLf;
        } else if (!is_field_value_char(c)) {
          return fail(400, "invalid trailer field", i);
        }
        break;
      case State::kTrailerLf:
        if (c != '\n') {
          return fail(400, "a bare CR in the trailer section", i);
        }
        state_ = State::kTrailerStart;
        break;
      case State::kEndLf:
        if (c != '\n') {
          return fail(400, "a bare CR in the trailer section", i);
        }
        state_ = State::kDone;
        return i + 1;
      case State::kDone:
      case State::kFailed:
        return i;
    }
    if (state_ >= State::kTrailerStart && ++trailer_bytes_ > max_trailer_bytes_) {
      return fail(431, "trailer section too large", i);
    }
    ++i;
  }
  return i;
}

}  // namespace switchyard::http
