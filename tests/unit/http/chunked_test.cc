// The chunked body decoder (RFC 9112 §7.1): whole and byte-by-byte input, extensions, trailers
// dropped, and every malformed shape refused with the status the server answers.

#include "http/chunked.h"

#include <doctest/doctest.h>

#include <string>

using switchyard::http::ChunkedDecoder;

namespace {

struct Outcome {
  bool done = false;
  int status = 0;  // The error's status, 0 for none.
  std::string body;
  std::size_t used = 0;  // Bytes used in all.
};

// Decodes `input` in pieces of `step` bytes (0: all at once), stopping at done or an error.
Outcome decode(const std::string& input, std::size_t step = 0, std::size_t max_body = 1024,
               std::size_t max_trailer = 256) {
  ChunkedDecoder decoder(max_body, max_trailer);
  decoder.reset();
  Outcome outcome;
  std::size_t at = 0;
  while (at < input.size() && !decoder.done() && !decoder.error()) {
    std::size_t length = step == 0 ? input.size() - at : std::min(step, input.size() - at);
    std::size_t used = decoder.decode(std::string_view(input).substr(at, length), outcome.body);
    CHECK(used <= length);
    outcome.used += used;
    at += length;
    if (used < length) {
      break;
    }
  }
  outcome.done = decoder.done();
  outcome.status = decoder.error() ? decoder.error()->status : 0;
  return outcome;
}

}  // namespace

TEST_CASE("chunks, in one piece and byte by byte, stop after the final CRLF") {
  const std::string body = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
  for (std::size_t step : {0, 1, 2, 7}) {
    CAPTURE(step);
    Outcome outcome = decode(body, step);
    CHECK(outcome.done);
    CHECK(outcome.status == 0);
    CHECK(outcome.body == "hello world");
    CHECK(outcome.used == body.find("GET"));
  }
  CHECK(decode("A\r\n0123456789\r\n0\r\n\r\n").body == "0123456789");
  CHECK(decode("000a\r\n0123456789\r\n000\r\n\r\n").body == "0123456789");
}

TEST_CASE("chunk extensions follow the grammar and are ignored") {
  for (const char* line :
       {"5;a", "5;a=b", "5 ; a = b", "5;a=\"q \\\" ;x\"", "5;a;b=c;d", "5\t;a=b\t", "5;a=\"\""}) {
    CAPTURE(line);
    Outcome outcome = decode(std::string(line) + "\r\nhello\r\n0;last\r\n\r\n");
    CHECK(outcome.done);
    CHECK(outcome.body == "hello");
  }
  for (const char* line :
       {"5;", "5;=b", "5;a=", "5;a=b c", "5;a=\"open", "5;a b", "5;a=\x01", "5 x"}) {
    CAPTURE(line);
    CHECK(decode(std::string(line) + "\r\nhello\r\n0\r\n\r\n").status == 400);
  }
  // An extension too long to be anything but a way to hold the connection.
  std::string long_extension = "5;a=" + std::string(ChunkedDecoder::kMaxExtensionBytes, 'x');
  CHECK(decode(long_extension + "\r\nhello\r\n0\r\n\r\n", 0, 1024, 1 << 20).status == 400);
}

TEST_CASE("trailer fields are read and dropped") {
  Outcome outcome = decode("5\r\nhello\r\n0\r\nX-Sum: 1\r\nX-Other: a b\r\n\r\n");
  CHECK(outcome.done);
  CHECK(outcome.body == "hello");
  CHECK(decode("0\r\nX-A: a\r\n b\r\n\r\n").status == 400);    // obs-fold
  CHECK(decode("0\r\nX-A : a\r\n\r\n").status == 400);         // whitespace before the colon
  CHECK(decode("0\r\nX-A: a\rX-B: b\r\n\r\n").status == 400);  // a bare CR
  CHECK(decode("0\r\nX-A: a\r\n\rX").status == 400);           // a bare CR ending the section
  CHECK(decode("0\r\nNoColon\r\n\r\n").status == 400);
  CHECK(decode("0\r\nX-A: " + std::string(300, 'a') + "\r\n\r\n").status == 431);
}

TEST_CASE("malformed chunk framing is refused") {
  CHECK(decode("zz\r\nhello\r\n0\r\n\r\n").status == 400);     // not hex
  CHECK(decode("\r\nhello\r\n0\r\n\r\n").status == 400);       // no size
  CHECK(decode("-5\r\nhello\r\n0\r\n\r\n").status == 400);     // a sign
  CHECK(decode("0x5\r\nhello\r\n0\r\n\r\n").status == 400);    // a prefix
  CHECK(decode("10000000000000000\r\nx\r\n").status == 400);   // 2^64: overflows
  CHECK(decode("5\rhello\r\n0\r\n\r\n").status == 400);        // bare CR after size
  CHECK(decode("5\nhello\r\n0\r\n\r\n").status == 400);        // bare LF after size
  CHECK(decode("5\r\nhelloXY0\r\n\r\n").status == 400);        // no CRLF after data
  CHECK(decode("5\r\nhello\rX0\r\n\r\n").status == 400);       // CR without LF
  CHECK(decode("5\r\nhello\n0\r\n\r\n").status == 400);        // LF without CR
  CHECK(decode("5\r\nhello\r\n0\r\n\rX").status == 400);       // bare CR at the end
  CHECK(decode("5\r\nhello\r\n0\r\nX:\n\r\n").status == 400);  // a bare LF
}

TEST_CASE("a body over the limit is 413 before its data is read") {
  Outcome outcome = decode("400\r\n", 0, 1000);
  CHECK(outcome.status == 413);
  CHECK(outcome.body.empty());
  CHECK(decode("3e8\r\n" + std::string(1000, 'a') + "\r\n1\r\nb\r\n0\r\n\r\n", 0, 1000).status ==
        413);
  CHECK(decode("3e8\r\n" + std::string(1000, 'a') + "\r\n0\r\n\r\n", 0, 1000).done);
}
