// The admin section: access keys (secrets from the environment or a file, never inline) and the
// rule that an unauthenticated listener stays on loopback.

#include "config/admin.h"

#include <doctest/doctest.h>

#include "config_fixture.h"

using namespace switchyard::config;
using testing::ConfigFixture;
using Strings = std::vector<std::string>;

namespace {

std::string at(const std::string& file, int line, int column, const std::string& message) {
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

}  // namespace

TEST_CASE("loopback addresses") {
  for (const char* address : {"127.0.0.1", "127.1.2.3", "::1", "localhost"}) {
    CAPTURE(address);
    CHECK(is_loopback(address));
  }
  for (const char* address : {"0.0.0.0", "::", "10.0.0.1", "128.0.0.1", "::2", "example.com", ""}) {
    CAPTURE(address);
    CHECK_FALSE(is_loopback(address));
  }
}

TEST_CASE("access keys: secrets from the environment or a file, functions they may invoke") {
  ConfigFixture f;
  f.vars["OPS_SECRET"] = "s3cret";
  f.write("keys/ci.secret", "from-a-file\n");
  f.write_defaults(
      "admin:\n"
      "  address: 0.0.0.0\n"
      "  keys:\n"
      "    - { access_key_id: ops, secret_env: OPS_SECRET }\n"
      "    - { access_key_id: ci, secret_file: keys/ci.secret, functions: [hello, thumb] }\n");
  LoadResult result = f.load();
  REQUIRE(result.ok());
  const AdminListenerConfig& admin = result.snapshot->daemon.admin;
  REQUIRE(admin.keys.size() == 2);
  CHECK(admin.authenticated());
  CHECK(admin.keys[0].access_key_id == "ops");
  CHECK(admin.keys[0].secret == "s3cret");
  CHECK(admin.keys[0].may_invoke("anything"));
  CHECK(admin.keys[1].secret == "from-a-file");
  CHECK(admin.keys[1].may_invoke("thumb"));
  CHECK_FALSE(admin.keys[1].may_invoke("other"));
}

TEST_CASE("access keys: every mistake is reported where it is") {
  ConfigFixture f;
  const std::string file = f.path("switchyard.yaml");
  auto errors_for = [&](const std::string& yaml) {
    f.write_defaults(yaml);
    return f.load_errors();
  };
  CHECK(errors_for("admin: { keys: [ { access_key_id: a, secret: inline } ] }\n") ==
        Strings{at(file, 1, 18,
                   "admin.keys[0] needs exactly one of secret_env and secret_file (a secret is "
                   "never written in switchyard.yaml)"),
                at(file, 1, 38,
                   "unknown key \"secret\" in admin.keys[0] (expected access_key_id, "
                   "secret_env, secret_file or functions)")});
  CHECK(errors_for("admin: { keys: [ { access_key_id: a, secret_env: NOPE } ] }\n") ==
        Strings{at(file, 1, 50,
                   "admin.keys[0].secret_env: environment variable NOPE is not set or empty")});
  CHECK(errors_for("admin: { keys: [ { access_key_id: a, secret_file: missing } ] }\n")
            .front()
            .find("admin.keys[0].secret_file: cannot read " + f.path("missing")) !=
        std::string::npos);
  f.vars["S"] = "x";
  CHECK(errors_for("admin:\n  keys:\n    - { access_key_id: a, secret_env: S }\n"
                   "    - { access_key_id: a, secret_env: S }\n") ==
        Strings{at(file, 4, 24, "admin.keys[1].access_key_id \"a\" is given twice")});
  CHECK(errors_for("admin: { keys: [ { access_key_id: \"a b\", secret_env: S } ] }\n") ==
        Strings{at(file, 1, 35,
                   "admin.keys[0].access_key_id \"a b\" must be letters, digits, '_', '-' or "
                   "'.' (at most 128)")});
  CHECK(errors_for("admin: { keys: [] }\n") ==
        Strings{at(file, 1, 16,
                   "admin.keys must be a non-empty list of access keys ({access_key_id, "
                   "secret_env or secret_file})")});
  CHECK(errors_for("admin: { keys: [ { access_key_id: a, secret_env: S, functions: [] } ] }\n") ==
        Strings{at(file, 1, 64,
                   "admin.keys[0].functions must be a non-empty list of function names (leave "
                   "it out for every function)")});
}

TEST_CASE("without keys, only loopback unless insecure; a disabled listener binds nothing") {
  ConfigFixture f;
  const std::string file = f.path("switchyard.yaml");
  f.write_defaults("admin: { address: 0.0.0.0 }\n");
  CHECK(f.load_errors() ==
        Strings{at(file, 1, 19,
                   "admin.address 0.0.0.0 is not a loopback address: anyone who reaches it "
                   "could invoke every function. Give admin.keys (access keys the AWS tools "
                   "sign with), or set admin.insecure: true to serve it without "
                   "authentication")});
  for (const char* yaml :
       {"admin: { address: 0.0.0.0, insecure: true }\n",
        "admin: { address: 0.0.0.0, enabled: false }\n", "admin: { address: \"::1\" }\n"}) {
    CAPTURE(yaml);
    f.write_defaults(yaml);
    CHECK(f.load().ok());
  }
}
