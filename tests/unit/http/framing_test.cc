// RFC 9112's rules on a request's header block that the server checks beyond http-parser (the
// raw-socket cases are in server_test.cc).

#include "http/framing.h"

#include <doctest/doctest.h>

using switchyard::http::check_framing;
using switchyard::http::Headers;

namespace {

int status_of(const Headers& headers, int minor = 1) {
  auto error = check_framing(headers, 1, minor);
  return error ? error->status : 0;
}

}  // namespace

TEST_CASE("Host: exactly one in HTTP/1.1, at most one in HTTP/1.0") {
  CHECK(status_of({{"Host", "a"}}) == 0);
  CHECK(status_of({{"host", "a"}, {"X-A", "b"}}) == 0);
  CHECK(status_of({{"X-A", "b"}}) == 400);
  CHECK(status_of({{"Host", "a"}, {"HOST", "b"}}) == 400);
  CHECK(status_of({}, 0) == 0);
  CHECK(status_of({{"Host", "a"}, {"Host", "b"}}, 0) == 400);
}

TEST_CASE("a field name with whitespace before its colon is refused") {
  CHECK(status_of({{"Host", "a"}, {"X-A ", "b"}}) == 400);
  CHECK(status_of({{"Host", "a"}, {"X-A\t", "b"}}) == 400);
  CHECK(status_of({{" Host", "a"}}) == 400);  // A line that began with whitespace.
  CHECK(check_framing({{"Host", "a"}, {"X-A ", "b"}}, 1, 1)->message ==
        "whitespace between a header field name and its colon");
}

TEST_CASE("transfer codings: chunked alone, last, in HTTP/1.1") {
  CHECK(status_of({{"Host", "a"}, {"Transfer-Encoding", "chunked"}}) == 0);
  CHECK(status_of({{"Host", "a"}, {"Transfer-Encoding", " Chunked "}}) == 0);
  // A coding before chunked would need decoding: not implemented.
  CHECK(status_of({{"Host", "a"}, {"Transfer-Encoding", "gzip, chunked"}}) == 501);
  CHECK(
      status_of({{"Host", "a"}, {"Transfer-Encoding", "gzip"}, {"Transfer-Encoding", "chunked"}}) ==
      501);
  CHECK(status_of({{"Host", "a"}, {"Transfer-Encoding", "chunked,chunked"}}) == 501);
  // No reliable length: the final coding is not chunked.
  CHECK(status_of({{"Host", "a"}, {"Transfer-Encoding", "chunked, gzip"}}) == 400);
  CHECK(status_of({{"Host", "a"}, {"Transfer-Encoding", "gzip"}}) == 400);
  // HTTP/1.0 has no transfer codings.
  CHECK(status_of({{"Transfer-Encoding", "chunked"}}, 0) == 400);
  // An empty list is no coding at all.
  CHECK(status_of({{"Host", "a"}, {"Transfer-Encoding", " , "}}) == 0);
}

TEST_CASE("Host: uri-host [:port], or empty") {
  using switchyard::http::is_valid_host;
  for (const char* valid :
       {"", "example.com", "example.com:8080", "127.0.0.1", "127.0.0.1:80", "[::1]", "[::1]:9090",
        "[2001:db8::7]", "[v1.fe80::a+en1]", "a_b-c~", "%41bc", "host:", "xn--bcher-kva.example"}) {
    CAPTURE(valid);
    CHECK(is_valid_host(valid));
    CHECK(status_of({{"Host", valid}}) == 0);
  }
  for (const char* invalid :
       {"a b", "a/b", "a@b", "exa mple:80", "host:8a", "host:80:80", "[::1", "[::1]x", "[::g]",
        "[127.0.0.1]", "::1", "%4", "%zz", "a\"b", "host?x", "host#x", "[v1.]", "[vz.a]"}) {
    CAPTURE(invalid);
    CHECK_FALSE(is_valid_host(invalid));
    CHECK(status_of({{"Host", invalid}}) == 400);
  }
  CHECK(check_framing({{"Host", "a b"}}, 1, 1)->message == "invalid Host header");
}
