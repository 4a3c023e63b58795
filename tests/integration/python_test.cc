// The python3 runtime with the real daemon and a real python3: unchanged Lambda handlers
// (tests/integration/python/) answer HTTP (API Gateway 2.0) and the Invoke API with Lambda's
// context, errors, marshalling and logs; init errors refuse the function with AWS's types and
// messages; a crash or a timeout replaces the environment and the event is retried, then
// dead-lettered; a 2,000-record Kafka topic and a Redis stream go through a batch handler with
// partial failures, nothing lost and nothing processed twice without a failure in between; code
// comes as the .zip made for Lambda, with layers, and a reload picks up a new package; and
// `switchyard invoke` / `validate` work on Python functions.

#include <doctest/doctest.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <zip.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/codec.h"
#include "core/sanitizers.h"
#include "integration/redis_server.h"
#include "kafka_mock.h"
#include "support/daemon.h"
#include "support/http_client.h"
#include "support/process.h"
#include "triggers/redis/probe.h"

using namespace switchyard::testing;
using namespace std::chrono_literals;
using switchyard::triggers::redis::BlockingClient;
using switchyard::triggers::redis::Reply;

namespace {

namespace fs = std::filesystem;

const std::string kBin = SWITCHYARD_BIN;
const std::string kHandlers = std::string(SWITCHYARD_SOURCE_DIR) + "/tests/integration/python";

std::string invoke_path(const std::string& function) {
  return "/2015-03-31/functions/" + function + "/invocations";
}

// A daemon config (log level info: the test reads the daemon's stderr only when it looks) and
// manifests ("name" -> YAML) in a temp dir.
struct Setup {
  TempDir dir;
  std::string config;

  explicit Setup(std::initializer_list<std::pair<const std::string, std::string>> manifests,
                 const std::string& extra = "") {
    config = dir.write("switchyard.yaml",
                       "workers: 2\nmanifests: functions.d\nstate_dir: ${SWITCHYARD_STATE_DIR}\n"
                       "region: eu-west-3\n"
                       "http:\n  address: 127.0.0.1\n  port: ${SWITCHYARD_HTTP_PORT}\n"
                       "admin:\n  address: 127.0.0.1\n  port: ${SWITCHYARD_ADMIN_PORT}\n"
                       "logging: { level: info, format: text }\n" +
                           extra);
    fs::create_directories(dir.path() + "/functions.d");
    for (const auto& [name, yaml] : manifests) {
      dir.write("functions.d/" + name + ".yaml", yaml);
    }
  }
};

// A python3 manifest: concurrency 2 and timeout 3s unless `rest` says otherwise.
std::string python(const std::string& name, const std::string& handler, const std::string& rest,
                   const std::string& code = kHandlers) {
  std::string yaml =
      "name: " + name + "\nruntime: python3\nhandler: " + handler + "\ncode: " + code + "\n";
  if (rest.find("concurrency:") == std::string::npos) {
    yaml += "concurrency: 2\n";
  }
  if (rest.find("timeout:") == std::string::npos) {
    yaml += "timeout: 3s\n";
  }
  return yaml + rest;
}

rapidjson::Document parse(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str(), text.size());
  REQUIRE_MESSAGE(!doc.HasParseError(), "not JSON: " << text);
  return doc;
}

std::string member(const rapidjson::Value& object, const char* name) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd()) {
    return "<absent>";
  }
  if (it->value.IsString()) {
    return it->value.GetString();
  }
  if (it->value.IsInt64()) {
    return std::to_string(it->value.GetInt64());
  }
  return it->value.IsNull() ? "null" : "<other>";
}

// A zip with `files` ("name" -> content), as `zip -r` makes for Lambda.
void make_zip(const std::string& path, const std::map<std::string, std::string>& files) {
  int error = 0;
  zip_t* archive = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
  REQUIRE(archive != nullptr);
  for (const auto& [name, content] : files) {
    zip_source_t* source = zip_source_buffer(archive, content.data(), content.size(), 0);
    REQUIRE(zip_file_add(archive, name.c_str(), source, ZIP_FL_OVERWRITE) >= 0);
  }
  REQUIRE(zip_close(archive) == 0);
}

// What a batch handler appended to its EVENT_LOG: value -> its outcomes in order ("ok"/"fail").
std::map<std::string, std::vector<std::string>> read_outcomes(const std::string& log) {
  std::map<std::string, std::vector<std::string>> outcomes;
  for (const std::string& line : file_lines(log)) {
    std::istringstream in(line);
    std::string item;
    std::string value;
    std::string outcome;
    in >> item >> value >> outcome;
    outcomes[value].push_back(outcome);
  }
  return outcomes;
}

// Each value's history is what at-least-once with partial failures allows and no more: a good
// value ends "ok" exactly once and only after failures, a flaky one failed once first, a poison
// one failed `attempts` times and never succeeded.
void check_outcomes(const std::map<std::string, std::vector<std::string>>& outcomes,
                    const std::vector<std::string>& values, int attempts) {
  CHECK(outcomes.size() == values.size());
  for (const std::string& value : values) {
    CAPTURE(value);
    auto it = outcomes.find(value);
    REQUIRE(it != outcomes.end());
    const std::vector<std::string>& seen = it->second;
    if (value.find("poison") != std::string::npos) {
      CHECK(seen == std::vector<std::string>(static_cast<std::size_t>(attempts), "fail"));
    } else if (value.find("flaky") != std::string::npos) {
      CHECK(seen == std::vector<std::string>{"fail", "ok"});
    } else {
      CHECK(seen == std::vector<std::string>{"ok"});
    }
  }
}

}  // namespace

TEST_CASE("a Python handler answers HTTP and the Invoke API with Lambda's context and logs") {
  Setup setup({{"probe", python("probe", "probe.lambda_handler",
                                "concurrency: 1\nmemory: 256MiB\nenv: { FROM_MANIFEST: \"yes\" }\n"
                                "triggers:\n  - http: { path: /probe }\n")}});
  RunningDaemon daemon(kBin, setup.config, {{"DAEMON_ONLY_SECRET", "leaked"}});
  REQUIRE(daemon.ready());
  INFO(daemon.process().err());
  const int admin = daemon.admin_port();

  // API Gateway 2.0 in, its result mapped as API Gateway maps it.
  auto hello = http_request(daemon.http_port(), "POST", "/probe", R"({"name":"Ada"})");
  CHECK(hello.status == 201);
  CHECK(hello.header("x-probe") == "POST");
  CHECK(hello.body == "Hello, Ada!");

  // The context and the environment, as Lambda gives them.
  const std::string client_context = switchyard::core::base64_encode(R"({"custom":{"k":"v"}})");
  auto reply = http_request(admin, "POST", invoke_path("probe"), R"({"action":"context"})",
                            "X-Amz-Client-Context: " + client_context + "\r\n");
  REQUIRE(reply.status == 200);
  CHECK(reply.header("x-amz-function-error") == "");
  rapidjson::Document context = parse(reply.body);
  CHECK(member(context, "function_name") == "probe");
  CHECK(member(context, "function_version") == "$LATEST");
  CHECK(member(context, "invoked_function_arn") ==
        "arn:aws:lambda:eu-west-3:000000000000:function:probe");
  CHECK(member(context, "memory_limit_in_mb") == "256");
  CHECK(member(context, "aws_request_id") == reply.header("x-amzn-requestid"));
  CHECK(member(context, "log_group_name") == "/aws/lambda/probe");
  CHECK(member(context, "log_stream_name").find("[$LATEST]") != std::string::npos);
  REQUIRE(context["remaining_ms"].IsInt64());
  CHECK(context["remaining_ms"].GetInt64() > 0);
  CHECK(context["remaining_ms"].GetInt64() <= 3000);
  // Always there, empty: nothing in an Invoke or an event carries a Cognito identity.
  REQUIRE(context["identity"].IsArray());
  CHECK(context["identity"].Size() == 2);
  CHECK(context["identity"][0].IsNull());
  CHECK(context["identity"][1].IsNull());
  REQUIRE(context["client_context"].IsObject());
  CHECK(member(context["client_context"], "k") == "v");
  CHECK(member(context, "cwd") == kHandlers);
  CHECK(member(context, "path0") == kHandlers);
  // /tmp is a scratch folder of the function's own under the state directory.
  CHECK(member(context, "scratch").size() > std::string("/tmp/probe").size());
  CHECK(member(context, "scratch").rfind("/tmp/probe") ==
        member(context, "scratch").size() - std::string("/tmp/probe").size());
  const rapidjson::Value& env = context["env"];
  CHECK(member(env, "FROM_MANIFEST") == "yes");
  CHECK(member(env, "AWS_EXECUTION_ENV").rfind("AWS_Lambda_python3.", 0) == 0);
  CHECK(member(env, "AWS_REGION") == "eu-west-3");
  CHECK(member(env, "_HANDLER") == "probe.lambda_handler");
  CHECK(member(env, "LAMBDA_TASK_ROOT") == kHandlers);
  CHECK(member(env, "_X_AMZN_TRACE_ID").rfind("Root=1-", 0) == 0);
  CHECK(member(env, "SWITCHYARD_RUNTIME_API_FD") == "<absent>");
  CHECK(member(env, "DAEMON_ONLY_SECRET") == "<absent>");

  // Module-level code ran once: the same environment serves again without it.
  auto again =
      parse(http_request(admin, "POST", invoke_path("probe"), R"({"action":"context"})").body);
  CHECK(member(again, "pid") == member(context, "pid"));
  CHECK(member(again, "inits") == "1");

  // print, the root logger and stderr reach the daemon's log, tagged with the function and the
  // request id; the root logger writes Lambda's format; LogType Tail gets them too.
  auto logged = http_request(admin, "POST", invoke_path("probe"), R"({"action":"log","tag":"T1"})",
                             "X-Amz-Log-Type: Tail\r\n");
  CHECK(logged.body == R"("logged")");
  const std::string id = logged.header("x-amzn-requestid");
  CHECK(daemon.process().wait_for_err("to stderr T1"));
  const std::string& log = daemon.process().err();
  CHECK(log.find("function probe request " + id + " stdout: printed T1") != std::string::npos);
  CHECK(log.find("\t" + id + "\tlogged T1") != std::string::npos);
  CHECK(log.find("[INFO]\t") != std::string::npos);
  auto tail = switchyard::core::base64_decode(logged.header("x-amz-log-result"));
  REQUIRE(tail.has_value());
  CHECK(tail->find("printed T1") != std::string::npos);
  CHECK(tail->find("logged T1") != std::string::npos);

  // An exception: Lambda's error document, the handler's frame first, none of the runtime's.
  auto raised =
      http_request(admin, "POST", invoke_path("probe"), R"({"action":"raise","why":"x"})");
  CHECK(raised.status == 200);
  CHECK(raised.header("x-amz-function-error") == "Unhandled");
  rapidjson::Document error = parse(raised.body);
  CHECK(member(error, "errorType") == "ValueError");
  CHECK(member(error, "errorMessage") == "bad input: x");
  CHECK(member(error, "requestId") == raised.header("x-amzn-requestid"));
  REQUIRE(error["stackTrace"].IsArray());
  REQUIRE(error["stackTrace"].Size() == 1);
  std::string frame = error["stackTrace"][0].GetString();
  CHECK(frame.find("  File \"" + kHandlers + "/probe.py\", line ") == 0);
  CHECK(frame.find(", in lambda_handler\n    raise ValueError(") != std::string::npos);

  // Results as AWS's client writes them; what JSON cannot hold fails as it fails there.
  auto unserializable =
      http_request(admin, "POST", invoke_path("probe"), R"({"action":"unserializable"})");
  CHECK(unserializable.header("x-amz-function-error") == "Unhandled");
  rapidjson::Document marshal = parse(unserializable.body);
  CHECK(member(marshal, "errorType") == "Runtime.MarshalError");
  CHECK(member(marshal, "errorMessage") ==
        "Unable to marshal response: Object of type set is not JSON serializable");
  auto decimal = http_request(admin, "POST", invoke_path("probe"), R"({"action":"decimal"})");
  CHECK(decimal.body == R"({"price": 12.50, "nan": NaN})");
  auto not_json = http_request(admin, "POST", invoke_path("probe"), "not json");
  CHECK(member(parse(not_json.body), "errorType") == "Runtime.UnmarshalError");

  CHECK(daemon.stop().exit_code == 0);
}

TEST_CASE(
    "a crash or a timeout replaces the environment; the event is retried, then dead-lettered") {
  RedisServer redis;
  Setup setup({{"probe", python("probe", "probe.lambda_handler",
                                "timeout: 1s\nretry: { attempts: 2, backoff: 50ms }\n"
                                "dead_letter: { redis_stream: dlq }\n"
                                "triggers:\n  - redis: { stream: jobs, block: 100ms }\n")},
               {"hello", python("hello", "probe.lambda_handler",
                                "triggers:\n  - http: { path: /hello }\n")}},
              "redis: { url: \"" + redis.url() + "\" }\n");
  RunningDaemon daemon(kBin, setup.config);
  REQUIRE(daemon.ready());
  INFO(daemon.process().err());

  // Traffic to another Python function all along: never touched by the failures.
  std::atomic<bool> running{true};
  std::atomic<int> hello_ok{0};
  std::atomic<int> hello_bad{0};
  std::thread traffic([&] {
    while (running) {
      auto reply = http_request(daemon.http_port(), "POST", "/hello", R"({"name":"Ada"})");
      (reply.status == 201 && reply.body == "Hello, Ada!" ? hello_ok : hello_bad)++;
    }
  });

  BlockingClient client = redis.client();
  const std::vector<std::string> actions = {"exit", "segfault", "sleep", "raise"};
  for (const std::string& action : actions) {
    auto added = client.command(
        {"XADD", "jobs", "*", "data", R"({"action":")" + action + R"(","seconds":30})"});
    REQUIRE(added.ok());
  }
  CHECK(eventually(
      [&] {
        auto length = client.command({"XLEN", "dlq"});
        return length.ok() && length.value().integer == static_cast<long long>(actions.size());
      },
      30s));
  running = false;
  traffic.join();
  CHECK(hello_ok > 0);
  CHECK(hello_bad == 0);

  auto entries = client.command({"XRANGE", "dlq", "-", "+"});
  REQUIRE(entries.ok());
  std::map<std::string, std::string> errors;  // action -> error_type: error_message
  for (const Reply& entry : entries.value().elements) {
    std::map<std::string, std::string> fields;
    const auto& values = entry.elements[1].elements;
    for (std::size_t i = 0; i + 1 < values.size(); i += 2) {
      fields[values[i].str] = values[i + 1].str;
    }
    CHECK(fields["attempts"] == "2");
    std::string action = member(parse(fields["data"]), "action");
    errors[action] = fields["error_type"] + ": " + fields["error_message"];
  }
  CHECK(errors["exit"].find("Runtime.ExitError: ") == 0);
  CHECK(errors["exit"].find("Runtime exited with error: exit status 3") != std::string::npos);
  CHECK(errors["segfault"].find("signal: segmentation fault") != std::string::npos);
  CHECK(errors["sleep"].find("Task timed out after 1.00 seconds") != std::string::npos);
  CHECK(errors["raise"] == "ValueError: bad input: none");

  // Every failure counted; the environments that crashed or hung were killed and replaced, and
  // none is left a zombie.
  std::string metrics = http_request(daemon.admin_port(), "GET", "/metrics").body;
  CHECK(metric(metrics, R"(switchyard_dead_letters_total{function="probe"})") == 4);
  CHECK(eventually(
      [&] {
        for (char state : child_states(daemon.process().pid())) {
          if (state == 'Z') {
            return false;
          }
        }
        return true;
      },
      5s));
  CHECK(daemon.stop().exit_code == 0);
}

TEST_CASE("a Python handler over its memory fails with Runtime.OutOfMemory and is replaced") {
  Setup setup(
      {{"probe", python("probe", "probe.lambda_handler", "concurrency: 1\nmemory: 128MiB\n")}});
  RunningDaemon daemon(kBin, setup.config);
  REQUIRE(daemon.ready());
  INFO(daemon.process().err());
  const int admin = daemon.admin_port();
  auto before = http_request(admin, "POST", invoke_path("probe"), R"({"action":"pid"})");
  REQUIRE(before.status == 200);
  if (switchyard::core::kShadowMemorySanitizer) {
    return;  // A sanitizer build applies no data limit (core/sanitizers.h).
  }
  auto hog = http_request(admin, "POST", invoke_path("probe"), R"({"action":"hog"})");
  CHECK(hog.status == 200);
  CHECK(hog.header("x-amz-function-error") == "Unhandled");
  CHECK(member(parse(hog.body), "errorType") == "Runtime.OutOfMemory");
  CHECK(member(parse(hog.body), "errorMessage").find("memory limit (128 MB)") != std::string::npos);
  // Lambda resets the environment: the next invocation runs in a new process.
  CHECK(eventually(
      [&] {
        return metric(http_request(admin, "GET", "/metrics").body,
                      R"(switchyard_environment_stops_total{function="probe",)"
                      R"(reason="out_of_memory"})") == 1;
      },
      5s));
  auto after = http_request(admin, "POST", invoke_path("probe"), R"({"action":"pid"})");
  REQUIRE(after.status == 200);
  CHECK(after.body != before.body);
  CHECK(daemon.stop().exit_code == 0);
}

TEST_CASE("init errors refuse the function with AWS's error types and messages") {
  struct Case {
    std::string name;
    std::map<std::string, std::string> files;
    std::string handler;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"import",
       {{"app.py", "import not_installed_anywhere\n"}},
       "app.handler",
       "Runtime.ImportModuleError: Unable to import module 'app': No module named "
       "'not_installed_anywhere'"},
      {"syntax",
       {{"app.py", "def handler(event, context:\n    return 1\n"}},
       "app.handler",
       "Runtime.UserCodeSyntaxError: Syntax error in module 'app': "},
      {"missing",
       {{"app.py", "def other(event, context):\n    return 1\n"}},
       "app.handler",
       "Runtime.HandlerNotFound: Handler 'handler' missing on module 'app'"},
      {"builtin",
       {{"sys.py", "def handler(event, context):\n    return 1\n"}},
       "sys.handler",
       "Runtime.BuiltInModuleConflict: Cannot use built-in module sys as a handler module"},
      {"raises",
       {{"app.py", "raise RuntimeError('no config')\n"}},
       "app.handler",
       "RuntimeError: no config"},
  };
  for (const Case& each : cases) {
    CAPTURE(each.name);
    TempDir code;
    for (const auto& [file, content] : each.files) {
      code.write(file, content);
    }
    Setup setup({{"bad", python("bad", each.handler, "", code.path())}});
    RunningDaemon daemon(kBin, setup.config);
    CHECK_FALSE(daemon.ready());
    ProcessResult result = daemon.process().wait(10s);
    CHECK(result.exit_code != 0);
    CHECK_MESSAGE(
        result.err.find("function 'bad': init failed: " + each.expected) != std::string::npos,
        result.err);
  }
}

TEST_CASE(
    "Lambda's log format and level from the manifest's env, stderr tagged, a bytes result, "
    "another interpreter, an init error after start-up") {
  TempDir venv;
  // Another interpreter, as a venv's bin/python3 would be: it says it ran, then runs python3.
  const std::string interpreter =
      venv.write("bin/python3", "#!/bin/sh\nWRAPPED_BY=\"$0\" exec /usr/bin/python3 \"$@\"\n");
  fs::permissions(interpreter, fs::perms::owner_all);
  const std::string break_file = venv.path() + "/broken";
  Setup setup(
      {{"jsonlog", python("jsonlog", "logs.lambda_handler",
                          "env: { AWS_LAMBDA_LOG_FORMAT: JSON, AWS_LAMBDA_LOG_LEVEL: INFO "
                          "}\n")},
       {"textlog", python("textlog", "logs.lambda_handler", "python: " + interpreter + "\n")},
       {"later", python("later", "later.lambda_handler",
                        "max_invocations: 1\nenv: { BREAK_FILE: \"" + break_file + "\" }\n")}});
  RunningDaemon daemon(kBin, setup.config);
  REQUIRE(daemon.ready());
  INFO(daemon.process().err());
  const int admin = daemon.admin_port();

  // JSON records from INFO up (Python's default is WARNING), with the request id; stderr tagged
  // with it too; a bytes result comes back as it is.
  auto json = http_request(admin, "POST", invoke_path("jsonlog"), R"({"tag":"J1","bytes":true})");
  CHECK(json.status == 200);
  CHECK(json.header("x-amz-function-error") == "");
  CHECK(json.body == std::string("\x00\xff"
                                 "raw J1",
                                 8));
  const std::string json_id = json.header("x-amzn-requestid");
  CHECK(daemon.process().wait_for_err("stderr J1"));
  std::string log = daemon.process().err();
  CHECK(log.find("function jsonlog request " + json_id + " stderr: stderr J1") !=
        std::string::npos);
  std::vector<std::string> records;
  for (auto at = log.find("function jsonlog request " + json_id + " stdout: {");
       at != std::string::npos;
       at = log.find("function jsonlog request " + json_id + " stdout: {", at + 1)) {
    records.push_back(log.substr(at, log.find('\n', at) - at));
  }
  REQUIRE(records.size() == 2);
  CHECK(records[0].find(R"("level": "INFO", "message": "info J1", "logger": "root")") !=
        std::string::npos);
  CHECK(records[1].find(R"("level": "WARNING", "message": "warning J1", "logger": "root")") !=
        std::string::npos);
  CHECK(records[1].find(R"("requestId": ")" + json_id + "\"") != std::string::npos);

  // Text records, the root logger at Python's default level (WARNING), from the interpreter the
  // manifest names.
  auto text = http_request(admin, "POST", invoke_path("textlog"), R"({"tag":"T2"})");
  CHECK(text.status == 200);
  CHECK(text.body == R"({"wrapped_by": ")" + interpreter + "\"}");
  const std::string text_id = text.header("x-amzn-requestid");
  CHECK(daemon.process().wait_for_err("stderr T2"));
  log = daemon.process().err();
  CHECK(log.find("function textlog request " + text_id + " stdout: [WARNING]\t") !=
        std::string::npos);
  CHECK(log.find("\t" + text_id + "\twarning T2") != std::string::npos);
  CHECK(log.find("info T2") == std::string::npos);

  // An environment started after start-up whose init fails: its invocation gets the init
  // error, the next starts are backed off, and once the cause is gone the function serves again.
  auto first = http_request(admin, "POST", invoke_path("later"), "{}");
  CHECK(first.status == 200);
  CHECK(first.header("x-amz-function-error") == "");
  std::ofstream(break_file) << "";
  auto broken = http_request(admin, "POST", invoke_path("later"), "{}");
  CHECK(broken.status == 200);
  CHECK(broken.header("x-amz-function-error") == "Unhandled");
  CHECK(member(parse(broken.body), "errorType") == "RuntimeError");
  CHECK(member(parse(broken.body), "errorMessage") == "broken while " + break_file + " exists");
  CHECK(daemon.process().wait_for_err("function later: init failed (RuntimeError: broken while " +
                                      break_file + " exists); next start in 250ms"));
  fs::remove(break_file);
  std::string served;
  CHECK(eventually(
      [&] {
        auto again = http_request(admin, "POST", invoke_path("later"), "{}");
        served = again.body;
        return again.status == 200 && again.header("x-amz-function-error").empty();
      },
      10s, 100ms));
  CHECK(served.find("\"pid\": ") != std::string::npos);
  CHECK(http_request(admin, "POST", invoke_path("jsonlog"), R"({"tag":"J3"})").status == 200);
  CHECK(daemon.stop().exit_code == 0);
}

TEST_CASE("bootstrap: awslambdaric runs python -m awslambdaric HANDLER on the Runtime API's port") {
  // AWS's client is not in Debian and PyPI is out of reach here: a stand-in package of that name,
  // from a layer, keeps the contract (tests/integration/python/standin-layer).
  Setup setup(
      {{"aws", python("aws", "plain.lambda_handler",
                      "bootstrap: awslambdaric\nlayers: [" + kHandlers + "/standin-layer]\n")}});
  RunningDaemon daemon(kBin, setup.config);
  REQUIRE(daemon.ready());
  INFO(daemon.process().err());
  auto reply = http_request(daemon.admin_port(), "POST", invoke_path("aws"), R"({"name":"Ada"})");
  CHECK(reply.status == 200);
  CHECK(reply.header("x-amz-function-error") == "");
  rapidjson::Document seen = parse(reply.body);
  REQUIRE(seen["result"].IsObject());
  CHECK(member(seen["result"], "greeting") == "hello from a layer");
  CHECK(member(seen["result"], "name") == "Ada");
  REQUIRE(seen["argv"].IsArray());
  REQUIRE(seen["argv"].Size() == 1);
  CHECK(std::string(seen["argv"][0].GetString()) == "plain.lambda_handler");
  CHECK(member(seen, "cwd") == kHandlers);
  CHECK(member(seen, "runtime_api_fd") == "null");
  CHECK(daemon.stop().exit_code == 0);

  // Anything else is refused where the manifest says it.
  Setup wrong({{"aws", python("aws", "plain.lambda_handler", "bootstrap: awslambda\n")}});
  auto result = run_process({kBin, "validate", "--config", wrong.config}, {}, {}, 20s);
  INFO(result.out << result.err);
  CHECK(result.exit_code != 0);
  CHECK((result.out + result.err)
            .find("aws.yaml:7:12: bootstrap must be switchyard (the default) or awslambdaric") !=
        std::string::npos);
}

TEST_CASE("a Kafka topic of 2,000 records and a Redis stream through a Python batch handler") {
  KafkaMockCluster cluster;
  REQUIRE(cluster.ok());
  cluster.create_topic("orders", 4);
  cluster.create_topic("orders-dlq", 1);
  RedisServer redis;
  const std::int64_t count = 2000;
  auto value_of = [](std::int64_t i) {
    if (i % 97 == 5) {
      return "poison-" + std::to_string(i);
    }
    if (i % 31 == 7) {
      return "flaky-" + std::to_string(i);
    }
    return "v-" + std::to_string(i);
  };
  REQUIRE(cluster.produce(
      "orders", count, [](std::int64_t i) { return "k" + std::to_string(i % 13); }, value_of));
  BlockingClient client = redis.client();
  const int entries = 300;
  for (int i = 0; i < entries; ++i) {
    REQUIRE(client.command({"XADD", "jobs", "*", "data", value_of(i)}).ok());
  }

  TempDir logs;
  const std::string rest = "retry: { attempts: 3, backoff: 20ms }\nenv: { EVENT_LOG: \"";
  Setup setup(
      {{"orders", python("orders", "batch.handler",
                         rest + logs.path() +
                             "/kafka.log\" }\ndead_letter: { kafka_topic: orders-dlq }\n"
                             "triggers:\n  - kafka: { topic: orders, batch: 10, "
                             "batch_window: 20ms }\n")},
       {"jobs", python("jobs", "batch.handler",
                       rest + logs.path() +
                           "/redis.log\" }\ndead_letter: { redis_stream: jobs-dlq }\n"
                           "triggers:\n  - redis: { stream: jobs, batch: 10, block: 100ms }\n")}},
      "kafka:\n  brokers: \"" + cluster.bootstraps() +
          "\"\n  properties: { auto.commit.interval.ms: \"200\" }\nredis: { url: \"" + redis.url() +
          "\" }\n");
  RunningDaemon daemon(kBin, setup.config);
  REQUIRE(daemon.ready());
  INFO(daemon.process().err());

  std::vector<std::string> kafka_values;
  std::size_t kafka_poison = 0;
  for (std::int64_t i = 0; i < count; ++i) {
    kafka_values.push_back(value_of(i));
    kafka_poison += kafka_values.back().find("poison") != std::string::npos ? 1 : 0;
  }
  std::vector<std::string> redis_values(kafka_values.begin(), kafka_values.begin() + entries);
  std::size_t redis_poison = 0;
  for (const std::string& value : redis_values) {
    redis_poison += value.find("poison") != std::string::npos ? 1 : 0;
  }

  // Everything is settled: offsets committed past every record, every entry acknowledged.
  CHECK(eventually(
      [&] {
        std::int64_t total = 0;
        for (const auto& [partition, offset] :
             cluster.committed("switchyard.orders", "orders", 4)) {
          total += std::max<std::int64_t>(offset, 0);
        }
        return total == count;
      },
      90s));
  CHECK(eventually(
      [&] {
        auto pending = client.command({"XPENDING", "jobs", "switchyard"});
        return pending.ok() && !pending.value().elements.empty() &&
               pending.value().elements[0].integer == 0 &&
               read_outcomes(logs.path() + "/redis.log").size() == redis_values.size();
      },
      60s));
  CHECK(daemon.stop().exit_code == 0);

  check_outcomes(read_outcomes(logs.path() + "/kafka.log"), kafka_values, 3);
  check_outcomes(read_outcomes(logs.path() + "/redis.log"), redis_values, 3);

  // The poison records, and only they, were dead-lettered, each once.
  std::multiset<std::string> kafka_dead;
  for (const ReadRecord& record : cluster.read_all("orders-dlq", 1, kafka_poison, 10000)) {
    kafka_dead.insert(record.value);
  }
  CHECK(kafka_dead.size() == kafka_poison);
  for (const std::string& value : kafka_dead) {
    CHECK(value.rfind("poison-", 0) == 0);
  }
  CHECK(std::set<std::string>(kafka_dead.begin(), kafka_dead.end()).size() == kafka_poison);
  auto redis_dead = client.command({"XRANGE", "jobs-dlq", "-", "+"});
  REQUIRE(redis_dead.ok());
  CHECK(redis_dead.value().elements.size() == redis_poison);
}

TEST_CASE("code as the .zip made for Lambda, with a layer; a reload picks up a new package") {
  TempDir packages;
  const std::string handler =
      "import helpers\ndef handler(event, context):\n    return helpers.greet(VERSION)\n";
  make_zip(packages.path() + "/fn.zip", {{"app.py", "VERSION = 'one'\n" + handler}});
  make_zip(packages.path() + "/layer.zip",
           {{"python/helpers.py", "def greet(version):\n    return 'from ' + version\n"}});
  const std::string manifest =
      "name: zipped\nruntime: python3\nhandler: app.handler\ncode: " + packages.path() +
      "/fn.zip\nlayers: [" + packages.path() + "/layer.zip]\n";
  Setup setup({{"zipped", manifest}});
  RunningDaemon daemon(kBin, setup.config);
  REQUIRE(daemon.ready());
  INFO(daemon.process().err());
  auto ask = [&] {
    return http_request(daemon.admin_port(), "POST", invoke_path("zipped"), "{}").body;
  };
  CHECK(ask() == R"("from one")");

  make_zip(packages.path() + "/fn.zip", {{"app.py", "VERSION = 'two'\n" + handler}});
  daemon.process().signal(SIGHUP);
  CHECK(daemon.process().wait_for_err("reloaded: 1 function(s)"));
  CHECK(eventually([&] { return ask() == R"("from two")"; }, 10s));

  // A package that would write outside its folder is refused, and the running version stays.
  make_zip(packages.path() + "/fn.zip", {{"../escape.py", "x = 1\n"}, {"app.py", "x = 1\n"}});
  daemon.process().signal(SIGHUP);
  CHECK(daemon.process().wait_for_err("reload rejected"));
  CHECK(daemon.process().err().find("\"../escape.py\" would be written outside its folder") !=
        std::string::npos);
  CHECK(ask() == R"("from two")");
  CHECK(daemon.stop().exit_code == 0);
}

TEST_CASE("switchyard invoke runs a Python function; validate points at what is missing") {
  Setup setup({{"probe", python("probe", "probe.lambda_handler", "")},
               {"typo", python("typo", "prbe.lambda_handler", "")}});
  // validate: the missing module, at the manifest's handler line.
  ProcessResult validated = run_process({kBin, "validate", "--config", setup.config},
                                        {{"SWITCHYARD_STATE_DIR", setup.dir.path() + "/state"}});
  CHECK(validated.exit_code != 0);
  CHECK(validated.err.find(setup.dir.path() + "/functions.d/typo.yaml:3:10: handler "
                                              "\"prbe.lambda_handler\": no module prbe") !=
        std::string::npos);

  setup.dir.write("functions.d/typo.yaml", python("typo", "probe.lambda_handler", ""));
  std::map<std::string, std::string> env = {{"SWITCHYARD_STATE_DIR", setup.dir.path() + "/state"},
                                            {"SWITCHYARD_HTTP_PORT", "0"},
                                            {"SWITCHYARD_ADMIN_PORT", "0"}};
  ProcessResult invoked =
      run_process({kBin, "invoke", "probe", "--config", setup.config, "--data", R"({"a":1})"}, env);
  CHECK(invoked.exit_code == 0);
  CHECK(invoked.out == R"({"echo": {"a": 1}})");

  ProcessResult failed = run_process(
      {kBin, "invoke", "probe", "--config", setup.config, "--data", R"({"action":"raise"})"}, env);
  CHECK(failed.exit_code == 1);
  CHECK(failed.err.find(R"("errorType": "ValueError")") != std::string::npos);
  CHECK(failed.err.find(R"("stackTrace": [)") != std::string::npos);
}

TEST_CASE("the Python examples validate and run as their READMEs say") {
  KafkaMockCluster cluster;
  REQUIRE(cluster.ok());
  cluster.create_topic("orders", 1);
  const std::string examples = std::string(SWITCHYARD_SOURCE_DIR) + "/examples/";
  const int admin_port = free_port();
  // The example manifests as they are, but for `code` (their own folder) and the chain's
  // endpoint (this daemon's admin port).
  auto example = [&](const std::string& folder) {
    std::string yaml;
    for (const std::string& line : file_lines(examples + folder + "/function.yaml")) {
      if (line.rfind("code:", 0) == 0) {
        yaml += "code: " + examples + folder + "\n";
      } else if (line.find("SWITCHYARD_LAMBDA_ENDPOINT:") != std::string::npos) {
        yaml +=
            "  SWITCHYARD_LAMBDA_ENDPOINT: http://127.0.0.1:" + std::to_string(admin_port) + "\n";
      } else {
        yaml += line + "\n";
      }
    }
    return yaml;
  };
  Setup setup({{"hello", example("python-hello")},
               {"orders", example("python-kafka-batch")},
               {"cron", example("python-cron")},
               {"chain", example("python-chain")}},
              "kafka: { brokers: \"" + cluster.bootstraps() + "\" }\n");
  std::map<std::string, std::string> env = {{"SWITCHYARD_STATE_DIR", setup.dir.path() + "/state"},
                                            {"SWITCHYARD_HTTP_PORT", "0"},
                                            {"SWITCHYARD_ADMIN_PORT", std::to_string(admin_port)}};
  ProcessResult validated = run_process({kBin, "validate", "--config", setup.config}, env);
  CHECK_MESSAGE(validated.exit_code == 0, validated.err);

  ProcessResult hello = run_process(
      {kBin, "invoke", "hello-python", "--config", setup.config, "--data", R"({"name":"Ada"})"},
      env);
  CHECK(hello.out == R"({"statusCode": 200, "body": "Hello, Ada!"})");
  const std::string kafka_event =
      R"({"eventSource":"SelfManagedKafka","records":{"orders-0":[)"
      R"({"topic":"orders","partition":0,"offset":16,"value":")" +
      switchyard::core::base64_encode("not an order") +
      R"("},{"topic":"orders","partition":0,"offset":17,"value":")" +
      switchyard::core::base64_encode(R"({"id":1,"quantity":2,"sku":"a"})") + R"("}]}})";
  ProcessResult batch = run_process(
      {kBin, "invoke", "orders-python", "--config", setup.config, "--data", kafka_event}, env);
  CHECK(batch.out == R"({"batchItemFailures": [{"itemIdentifier": "orders-0-16"}]})");
  ProcessResult tick =
      run_process({kBin, "invoke", "sweep-python", "--config", setup.config, "--data",
                   R"({"version":"0","id":"d1","detail-type":"Scheduled Event",)"
                   R"("source":"aws.events","account":"000000000000",)"
                   R"("time":"2026-12-05T10:00:00Z","region":"us-east-1",)"
                   R"("resources":["switchyard:cron/sweep-python"],"detail":{}})"},
                  env);
  CHECK_MESSAGE(tick.exit_code == 0, tick.err);

  // In the daemon: HTTP to hello-python, and chain-python calling it with boto3 through the
  // Invoke API.
  RunningDaemon daemon(kBin, setup.config, {{"SWITCHYARD_ADMIN_PORT", std::to_string(admin_port)}});
  REQUIRE(daemon.ready());
  INFO(daemon.process().err());
  auto greeted = http_request(daemon.http_port(), "GET", "/hello-python?name=Ada");
  CHECK(greeted.status == 200);
  CHECK(greeted.body == "Hello, Ada!");
  auto chained =
      http_request(admin_port, "POST", invoke_path("chain-python"), R"({"name":"Bo"})", {}, 20s);
  CHECK(chained.header("x-amz-function-error") == "");
  CHECK(chained.body == R"({"statusCode": 200, "body": "Hello, Bo!"})");
  CHECK(daemon.stop().exit_code == 0);
}

TEST_CASE("a cron trigger gives a Python handler EventBridge's scheduled event") {
  TempDir logs;
  const std::string log = logs.path() + "/cron.log";
  Setup setup({{"tick", python("tick", "probe.lambda_handler",
                               "env: { EVENT_LOG: \"" + log +
                                   "\" }\ntriggers:\n  - cron: { schedule: \"* * * * * *\" }\n")}});
  RunningDaemon daemon(kBin, setup.config);
  REQUIRE(daemon.ready());
  INFO(daemon.process().err());
  CHECK(eventually([&] { return file_lines(log).size() >= 2; }, 10s));
  CHECK(daemon.stop().exit_code == 0);
  for (const std::string& line : file_lines(log)) {
    rapidjson::Document event = parse(line);
    CHECK(member(event, "detail-type") == "Scheduled Event");
    CHECK(member(event, "source") == "aws.events");
    CHECK(member(event, "region") == "eu-west-3");
    CHECK(member(event, "time").size() == std::string("2026-12-05T10:00:00Z").size());
  }
}

TEST_CASE("a reload picks up a changed file of a code folder as a new version") {
  TempDir code;
  code.write("app.py", "def handler(event, context):\n    return 'one'\n");
  Setup setup({{"folder", python("folder", "app.handler", "", code.path())}});
  RunningDaemon daemon(kBin, setup.config);
  REQUIRE(daemon.ready());
  INFO(daemon.process().err());
  auto ask = [&] {
    return http_request(daemon.admin_port(), "POST", invoke_path("folder"), "{}").body;
  };
  CHECK(ask() == R"("one")");
  // An unchanged folder is no new version: the running environments stay.
  daemon.process().signal(SIGHUP);
  CHECK(daemon.process().wait_for_err("reloaded: "));
  auto starts = [&] {
    const std::string& log = daemon.process().err();
    int count = 0;
    for (auto at = log.find(" ready (pid "); at != std::string::npos;
         at = log.find(" ready (pid ", at + 1)) {
      ++count;
    }
    return count;
  };
  CHECK(starts() == 1);

  code.write("helpers.py", "WORD = 'two'\n");
  code.write("app.py", "from helpers import WORD\ndef handler(event, context):\n    return WORD\n");
  daemon.process().signal(SIGHUP);
  CHECK(eventually([&] { return ask() == R"("two")"; }, 10s));
  CHECK(starts() == 2);
  CHECK(daemon.stop().exit_code == 0);
}
