// The admin listener of the running daemon: health, readiness, metrics, /functions and the
// Lambda Invoke API, over real sockets, and through awscli and boto3.

#include <doctest/doctest.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "support/daemon.h"
#include "support/http_client.h"

using namespace switchyard::testing;
using namespace std::chrono_literals;

namespace {

const std::string kBin = SWITCHYARD_BIN;
const std::string kExamples = std::string(SWITCHYARD_SOURCE_DIR) + "/examples/switchyard.yaml";

std::string invoke_path(const std::string& function) {
  return "/2015-03-31/functions/" + function + "/invocations";
}

}  // namespace

TEST_CASE("health, readiness, metrics and the function list") {
  RunningDaemon daemon(kBin, kExamples);
  REQUIRE(daemon.ready());
  REQUIRE(daemon.admin_port() > 0);
  int port = daemon.admin_port();

  auto health = http_request(port, "GET", "/healthz");
  CHECK(health.status == 200);
  auto ready = http_request(port, "GET", "/readyz");
  CHECK(ready.status == 200);

  auto functions = http_request(port, "GET", "/functions");
  CHECK(functions.status == 200);
  CHECK(functions.header("content-type") == "application/json");
  CHECK(functions.body.find(R"("name":"hello")") != std::string::npos);
  CHECK(functions.body.find(R"("name":"sleep","runtime":"native","code":)") != std::string::npos);
  CHECK(functions.body.find(R"(libsleep.so","library":)") != std::string::npos);
  CHECK(functions.body.find(R"("concurrency":2,"queue":10,"timeout_ms":5000)") !=
        std::string::npos);

  CHECK(http_request(port, "POST", invoke_path("hello"), R"({"name":"Ada"})").status == 200);
  auto metrics = http_request(port, "GET", "/metrics");
  CHECK(metrics.status == 200);
  CHECK(metrics.body.find("# TYPE switchyard_events_total counter") != std::string::npos);
  CHECK(metrics.body.find(R"(switchyard_events_total{function="hello",outcome="ok"} 1)") !=
        std::string::npos);
  CHECK(metrics.body.find("switchyard_build_info{") != std::string::npos);
  CHECK(metrics.body.find("\nprocess_resident_memory_bytes ") != std::string::npos);
  CHECK(metrics.body.find("\nprocess_resident_memory_bytes 0\n") == std::string::npos);
  CHECK(metrics.body.find("\nprocess_open_fds ") != std::string::npos);
  CHECK(metrics.body.find("\nswitchyard_uptime_seconds ") != std::string::npos);

  // The exposition is valid and lint-clean by Prometheus' own checker (it reads stdin).
  auto promtool = run_process({"promtool", "check", "metrics"}, {}, metrics.body);
  CHECK(promtool.exit_code == 0);
  CHECK(promtool.out == "");
  CHECK(promtool.err == "");

  CHECK(http_request(port, "GET", "/nope").status == 404);
  CHECK(http_request(port, "POST", "/healthz").status == 405);
  auto stopped = daemon.stop();
  CHECK(stopped.exit_code == 0);
}

TEST_CASE("the Lambda Invoke API: RequestResponse, Event, DryRun and its errors") {
  RunningDaemon daemon(kBin, kExamples);
  REQUIRE(daemon.ready());
  int port = daemon.admin_port();

  auto ok = http_request(port, "POST", invoke_path("hello"), R"({"name":"Ada"})");
  CHECK(ok.status == 200);
  CHECK(ok.body == "Hello, Ada!");
  CHECK(ok.header("x-amz-function-error").empty());
  CHECK_FALSE(ok.header("x-amzn-requestid").empty());

  auto by_arn = http_request(port, "POST",
                             invoke_path("arn:aws:lambda:us-east-1:123456789012:function:hello"),
                             R"({"name":"Arn"})");
  CHECK(by_arn.body == "Hello, Arn!");
  // Every name form the SDKs send, percent-encoded as awscli sends them; $LATEST is the one
  // qualifier there is.
  for (const std::string& path :
       {invoke_path("arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Ahello"),
        invoke_path("123456789012:function:hello"), invoke_path("hello:%24LATEST"),
        invoke_path("hello") + "?Qualifier=%24LATEST"}) {
    CAPTURE(path);
    CHECK(http_request(port, "POST", path, R"({"name":"Form"})").body == "Hello, Form!");
  }
  // Operations switchyard does not serve get an error the SDKs parse (the read operations are
  // in lambda_api_test.cc).
  for (const std::string& path : {std::string("/2015-03-31/functions/hello/policy"),
                                  std::string("/2017-10-31/functions/hello/concurrency")}) {
    CAPTURE(path);
    auto unknown = http_request(port, "GET", path);
    CHECK(unknown.status == 404);
    CHECK(unknown.header("x-amzn-errortype") == "UnknownOperationException");
    CHECK(unknown.header("content-type") == "application/json");
  }
  auto qualified = http_request(port, "POST", invoke_path("hello:prod"), "{}");
  CHECK(qualified.status == 404);
  CHECK(qualified.header("x-amzn-errortype") == "ResourceNotFoundException");
  CHECK(qualified.body.find("function:hello:prod") != std::string::npos);

  auto failed = http_request(port, "POST", invoke_path("fail"), "error");
  CHECK(failed.status == 200);
  CHECK(failed.header("x-amz-function-error") == "Unhandled");
  CHECK(failed.body ==
        R"({"errorMessage":"you asked for an error","errorType":"DeliberateError"})");

  auto missing = http_request(port, "POST", invoke_path("nope"), "{}");
  CHECK(missing.status == 404);
  CHECK(missing.header("x-amzn-errortype") == "ResourceNotFoundException");

  auto event =
      http_request(port, "POST", invoke_path("hello"), "{}", "X-Amz-Invocation-Type: Event\r\n");
  CHECK(event.status == 202);
  auto dry =
      http_request(port, "POST", invoke_path("hello"), "{}", "X-Amz-Invocation-Type: DryRun\r\n");
  CHECK(dry.status == 204);
  auto bad_type = http_request(port, "POST", invoke_path("hello"), "{}",
                               "X-Amz-Invocation-Type: Sometimes\r\n");
  CHECK(bad_type.status == 400);
  CHECK(daemon.stop().exit_code == 0);
}

TEST_CASE("the concurrency limit answers 429 under real concurrent load") {
  RunningDaemon daemon(kBin, kExamples);
  REQUIRE(daemon.ready());
  int port = daemon.admin_port();
  // sleep: 2 slots and a queue of 10, so of 20 concurrent 1-second calls at least 8 are refused.
  std::atomic<int> ok{0};
  std::atomic<int> throttled{0};
  std::atomic<int> other{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 20; ++i) {
    clients.emplace_back([&] {
      auto reply = http_request(port, "POST", invoke_path("sleep"), "1000", {}, 30s);
      if (reply.status == 200) {
        ok.fetch_add(1);
      } else if (reply.status == 429 &&
                 reply.header("x-amzn-errortype") == "TooManyRequestsException" &&
                 !reply.header("retry-after").empty()) {
        throttled.fetch_add(1);
      } else {
        other.fetch_add(1);
      }
    });
  }
  for (auto& client : clients) {
    client.join();
  }
  CHECK(other.load() == 0);
  CHECK(throttled.load() >= 8);
  CHECK(ok.load() >= 2);
  CHECK(ok.load() + throttled.load() == 20);
  CHECK(daemon.stop().exit_code == 0);
}

TEST_CASE("readiness turns 503 while draining, and in-flight invocations still finish") {
  RunningDaemon daemon(kBin, kExamples);
  REQUIRE(daemon.ready());
  int port = daemon.admin_port();
  HttpReply slow;
  std::thread caller([&] { slow = http_request(port, "POST", invoke_path("sleep"), "1500"); });
  // Wait until the invocation is running before asking the daemon to stop.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (
      http_request(port, "GET", "/functions").body.find(R"("name":"sleep")") == std::string::npos ||
      http_request(port, "GET", "/functions").body.find(R"("in_flight":1)") == std::string::npos) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(10ms);
  }
  daemon.process().signal(SIGTERM);
  REQUIRE(daemon.process().wait_for_err("draining"));
  auto ready = http_request(port, "GET", "/readyz");
  CHECK(ready.status == 503);
  caller.join();
  CHECK(slow.status == 200);
  CHECK(slow.body == "slept 1500 ms");
  auto result = daemon.process().wait(10s);
  CHECK(result.exit_code == 0);
}

TEST_CASE("aws lambda invoke and boto3 work against the admin endpoint") {
  RunningDaemon daemon(kBin, kExamples);
  REQUIRE(daemon.ready());
  std::string endpoint = "http://127.0.0.1:" + std::to_string(daemon.admin_port());
  TempDir dir;
  std::map<std::string, std::string> aws_env = {{"AWS_ACCESS_KEY_ID", "switchyard"},
                                                {"AWS_SECRET_ACCESS_KEY", "switchyard"},
                                                {"AWS_DEFAULT_REGION", "us-east-1"},
                                                {"AWS_PAGER", ""},
                                                {"HOME", dir.path()}};
  auto out = dir.path() + "/out.json";
  auto cli = run_process(
      {"/usr/bin/aws", "lambda", "invoke", "--endpoint-url", endpoint, "--function-name", "hello",
       "--cli-binary-format", "raw-in-base64-out", "--payload", R"({"name":"Ada"})", out},
      aws_env, {}, 60s);
  CHECK(cli.exit_code == 0);
  CHECK(cli.out.find("\"StatusCode\": 200") != std::string::npos);
  std::ifstream result_file(out);
  std::string result((std::istreambuf_iterator<char>(result_file)), {});
  CHECK(result == "Hello, Ada!");

  auto missing = run_process({"/usr/bin/aws", "lambda", "invoke", "--endpoint-url", endpoint,
                              "--function-name", "nope", out},
                             aws_env, {}, 60s);
  CHECK(missing.exit_code != 0);
  CHECK(missing.err.find("ResourceNotFoundException") != std::string::npos);

  std::string script = R"(
import boto3, json, sys
client = boto3.client("lambda", endpoint_url=sys.argv[1])
ok = client.invoke(FunctionName="hello", Payload=json.dumps({"name": "Boto"}))
print(ok["StatusCode"], ok["Payload"].read().decode())
err = client.invoke(FunctionName="fail", Payload=b"error")
print(err["StatusCode"], err.get("FunctionError"), json.loads(err["Payload"].read())["errorType"])
try:
    client.invoke(FunctionName="nope", Payload=b"{}")
except client.exceptions.ResourceNotFoundException:
    print("not found")
ev = client.invoke(FunctionName="hello", InvocationType="Event", Payload=b"{}")
print(ev["StatusCode"])
# sleep has 2 slots and a queue of 10: of 20 concurrent calls, some are throttled. The SDK's own
# retries are off so that the 429 reaches the caller.
from botocore.config import Config
from concurrent.futures import ThreadPoolExecutor
once = boto3.client("lambda", endpoint_url=sys.argv[1],
                    config=Config(retries={"total_max_attempts": 1, "mode": "standard"},
                                  max_pool_connections=32))
def call(_):
    try:
        once.invoke(FunctionName="sleep", Payload=b"1000")
        return "ok"
    except once.exceptions.TooManyRequestsException:
        return "throttled"
with ThreadPoolExecutor(20) as pool:
    results = list(pool.map(call, range(20)))
print("throttled" if results.count("throttled") >= 8 and results.count("ok") >= 2 else results)
)";
  auto boto = run_process({"/usr/bin/python3", "-c", script, endpoint}, aws_env, {}, 60s);
  CHECK(boto.exit_code == 0);
  CHECK(boto.out == "200 Hello, Boto!\n200 Unhandled DeliberateError\nnot found\n202\nthrottled\n");
  CHECK(daemon.stop().exit_code == 0);
}

TEST_CASE("at debug level every invocation logs a REPORT line") {
  TempDir dir;
  auto config = dir.write("switchyard.yaml", "manifests: " + std::string(SWITCHYARD_SOURCE_DIR) +
                                                 "/examples/functions.d\n"
                                                 "state_dir: ${SWITCHYARD_STATE_DIR}\n"
                                                 "http:\n  port: ${SWITCHYARD_HTTP_PORT}\n"
                                                 "admin:\n  port: ${SWITCHYARD_ADMIN_PORT}\n"
                                                 "logging: { level: debug, format: json }\n");
  RunningDaemon daemon(kBin, config);
  REQUIRE(daemon.ready());
  auto reply = http_request(daemon.admin_port(), "POST", invoke_path("hello"), "{}");
  CHECK(reply.status == 200);
  CHECK(daemon.process().wait_for_err("REPORT function=hello request="));
  CHECK(daemon.process().err().find("source=switchyard/lambda-invoke attempt=1") !=
        std::string::npos);
  CHECK(daemon.process().err().find("outcome=ok") != std::string::npos);
  CHECK(daemon.stop().exit_code == 0);
}
