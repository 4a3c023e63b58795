#include "config/env.h"

#include <doctest/doctest.h>

#include <map>

namespace switchyard::config {
namespace {

// A fake environment, so the tests neither depend on nor change the process's.
struct FakeEnv {
  std::map<std::string, std::string> vars;

  EnvLookup lookup() const {
    return [this](const char* name) -> const char* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  }
};

std::string expand(const FakeEnv& env, std::string_view text) {
  auto result = expand_env(text, env.lookup());
  REQUIRE_MESSAGE(result.ok(), result.error().message());
  return result.value();
}

std::string expand_error(const FakeEnv& env, std::string_view text) {
  auto result = expand_env(text, env.lookup());
  REQUIRE_FALSE(result.ok());
  return result.error().message();
}

TEST_CASE("set variables are substituted anywhere in the value") {
  FakeEnv env{{{"HOST", "db.internal"}, {"PORT", "6380"}, {"EMPTY", ""}}};
  CHECK(expand(env, "${HOST}") == "db.internal");
  CHECK(expand(env, "redis://${HOST}:${PORT}/0") == "redis://db.internal:6380/0");
  CHECK(expand(env, "[${EMPTY}]") == "[]");
  CHECK(expand(env, "no variables") == "no variables");
}

TEST_CASE("defaults apply when the variable is unset or empty") {
  FakeEnv env{{{"PORT", "6380"}, {"EMPTY", ""}, {"FALLBACK", "x"}}};
  CHECK(expand(env, "${PORT:-6379}") == "6380");
  CHECK(expand(env, "${MISSING:-6379}") == "6379");
  CHECK(expand(env, "${EMPTY:-dflt}") == "dflt");
  CHECK(expand(env, "${MISSING:-}") == "");
  CHECK(expand(env, "${MISSING:-${FALLBACK}}") == "x");
  CHECK(expand(env, "${MISSING:-a:b}") == "a:b");
}

TEST_CASE("$$ is a literal dollar and a lone $ is kept") {
  FakeEnv env{{{"A", "1"}}};
  CHECK(expand(env, "$${A}") == "${A}");
  CHECK(expand(env, "cost: $$5") == "cost: $5");
  CHECK(expand(env, "pa$word") == "pa$word");
  CHECK(expand(env, "ends with $") == "ends with $");
}

TEST_CASE("an unset variable without a default is an error naming it") {
  FakeEnv env;
  CHECK(expand_error(env, "redis://${REDIS_HOST}:6379") ==
        "environment variable REDIS_HOST is not set (use ${REDIS_HOST:-default} to give a "
        "default)");
  CHECK(expand_error(env, "${OPEN") ==
        "unterminated \"${\" in \"${OPEN\" (write $$ for a literal $)");
  CHECK(expand_error(env, "${}") ==
        "invalid variable reference \"${}\": expected ${NAME} or ${NAME:-default}");
  CHECK(expand_error(env, "${A-b}") ==
        "invalid variable reference \"${A-b}\": expected ${NAME} or ${NAME:-default}");
  CHECK(expand_error(env, "${1A}").find("invalid variable reference") == 0);
}

TEST_CASE("the default lookup reads the process environment") {
  ::setenv("SWITCHYARD_CONFIG_ENV_TEST", "from-process", 1);
  auto result = expand_env("${SWITCHYARD_CONFIG_ENV_TEST}");
  ::unsetenv("SWITCHYARD_CONFIG_ENV_TEST");
  REQUIRE(result.ok());
  CHECK(result.value() == "from-process");
}

}  // namespace
}  // namespace switchyard::config
