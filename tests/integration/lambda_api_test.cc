// The Lambda API's read operations and its errors on the running daemon, over raw HTTP and
// through the clients people use: awscli, boto3 and the AWS SDK for JavaScript v3.

#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <string>

#include "support/daemon.h"
#include "support/http_client.h"

using namespace switchyard::testing;
using namespace std::chrono_literals;

namespace {

const std::string kBin = SWITCHYARD_BIN;
const std::string kExamples = std::string(SWITCHYARD_SOURCE_DIR) + "/examples/switchyard.yaml";

std::map<std::string, std::string> aws_environment(const TempDir& home) {
  return {{"AWS_ACCESS_KEY_ID", "switchyard"},
          {"AWS_SECRET_ACCESS_KEY", "switchyard"},
          {"AWS_DEFAULT_REGION", "eu-west-3"},
          {"AWS_REGION", "eu-west-3"},
          {"AWS_PAGER", ""},
          {"HOME", home.path()}};
}

ProcessResult aws(const std::string& endpoint, std::vector<std::string> arguments,
                  const TempDir& home) {
  // A later --output in `arguments` wins over this one.
  std::vector<std::string> command = {"/usr/bin/aws", "--endpoint-url", endpoint,
                                      "--output",     "json",           "lambda"};
  command.insert(command.end(), arguments.begin(), arguments.end());
  return run_process(command, aws_environment(home), {}, 60s);
}

// A config in `dir` whose region and account are set, with the examples' functions.
std::string examples_config(const TempDir& dir) {
  return dir.write("switchyard.yaml", "manifests: " + std::string(SWITCHYARD_SOURCE_DIR) +
                                          "/examples/functions.d\n"
                                          "region: eu-west-3\n"
                                          "account_id: \"123456789012\"\n"
                                          "state_dir: ${SWITCHYARD_STATE_DIR}\n"
                                          "http:\n  port: ${SWITCHYARD_HTTP_PORT}\n"
                                          "admin:\n  port: ${SWITCHYARD_ADMIN_PORT}\n");
}

}  // namespace

TEST_CASE("awscli: list, get, configuration, concurrency and account settings") {
  TempDir dir;
  RunningDaemon daemon(kBin, examples_config(dir));
  REQUIRE(daemon.ready());
  std::string endpoint = "http://127.0.0.1:" + std::to_string(daemon.admin_port());

  auto list = aws(endpoint, {"list-functions", "--query", "Functions[].FunctionName"}, dir);
  CHECK(list.exit_code == 0);
  CHECK(list.out ==
        "[\n    \"echo\",\n    \"fail\",\n    \"hello\",\n    \"hello-python\",\n"
        "    \"sleep\"\n]\n");

  auto function = aws(endpoint, {"get-function", "--function-name", "hello-python"}, dir);
  CHECK(function.exit_code == 0);
  for (const char* expected :
       {R"("FunctionName": "hello-python")",
        R"("FunctionArn": "arn:aws:lambda:eu-west-3:123456789012:function:hello-python")",
        R"("Runtime": "python3")", R"("Handler": "app.lambda_handler")", R"("Timeout": 3)",
        R"("MemorySize": 128)", R"("Version": "$LATEST")", R"("State": "Active")",
        R"("LastUpdateStatus": "Successful")", R"("ReservedConcurrentExecutions": 2)"}) {
    CAPTURE(expected);
    CHECK(function.out.find(expected) != std::string::npos);
  }

  // CodeSha256 of a library is the file's own SHA-256, base64, as `sha256sum` gives it.
  std::string library = std::string(SWITCHYARD_EXAMPLES_LIB) + "/libhello.so";
  auto sha =
      run_process({"/bin/sh", "-c", "sha256sum \"$0\" | cut -c1-64 | xxd -r -p | base64", library});
  REQUIRE(sha.exit_code == 0);
  auto configuration = aws(endpoint,
                           {"get-function-configuration", "--function-name", "hello", "--query",
                            "[CodeSha256,CodeSize,Runtime,Timeout]", "--output", "text"},
                           dir);
  CHECK(configuration.exit_code == 0);
  CHECK(configuration.out == sha.out.substr(0, sha.out.size() - 1) + "\t" +
                                 std::to_string(std::filesystem::file_size(library)) +
                                 "\tnative\t3\n");

  auto concurrency = aws(endpoint, {"get-function-concurrency", "--function-name", "sleep"}, dir);
  CHECK(concurrency.exit_code == 0);
  CHECK(concurrency.out.find(R"("ReservedConcurrentExecutions": 2)") != std::string::npos);

  auto account = aws(endpoint, {"get-account-settings"}, dir);
  CHECK(account.exit_code == 0);
  CHECK(account.out.find(R"("FunctionCount": 5)") != std::string::npos);
  CHECK(account.out.find(R"("CodeSizeUnzipped": 262144000)") != std::string::npos);

  // Every name form, and qualifiers: $LATEST is the one version there is.
  for (const std::string name : {"hello", "hello:$LATEST", "123456789012:function:hello",
                                 "arn:aws:lambda:eu-west-3:123456789012:function:hello",
                                 "arn:aws:lambda:eu-west-3:123456789012:function:hello:$LATEST"}) {
    CAPTURE(name);
    auto found = aws(endpoint,
                     {"get-function-configuration", "--function-name", name, "--query",
                      "FunctionName", "--output", "text"},
                     dir);
    CHECK(found.exit_code == 0);
    CHECK(found.out == "hello\n");
  }
  auto qualified = aws(endpoint,
                       {"get-function-configuration", "--function-name", "hello", "--qualifier",
                        "$LATEST", "--query", "Version", "--output", "text"},
                       dir);
  CHECK(qualified.out == "$LATEST\n");
  auto version =
      aws(endpoint, {"get-function", "--function-name", "hello", "--qualifier", "7"}, dir);
  CHECK(version.exit_code != 0);
  CHECK(version.err.find("ResourceNotFoundException") != std::string::npos);
  CHECK(version.err.find("Function not found: arn:aws:lambda:eu-west-3:123456789012:function:"
                         "hello:7") != std::string::npos);
  auto missing = aws(endpoint, {"get-function-concurrency", "--function-name", "nope"}, dir);
  CHECK(missing.exit_code != 0);
  CHECK(missing.err.find("ResourceNotFoundException") != std::string::npos);
  CHECK(daemon.stop().exit_code == 0);
}

TEST_CASE("errors are AWS-shaped on every route") {
  RunningDaemon daemon(kBin, kExamples);
  REQUIRE(daemon.ready());
  int port = daemon.admin_port();

  auto missing = http_request(port, "GET", "/2015-03-31/functions/nope/configuration");
  CHECK(missing.status == 404);
  CHECK(missing.header("x-amzn-errortype") == "ResourceNotFoundException");
  CHECK(missing.header("content-type") == "application/json");
  CHECK(missing.body ==
        R"({"Type":"User","Message":"Function not found: arn:aws:lambda:us-east-1:000000000000:)"
        R"(function:nope","message":"Function not found: arn:aws:lambda:us-east-1:000000000000:)"
        R"(function:nope"})");

  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"DELETE", "/2015-03-31/functions/hello"},
           {"GET", "/2015-03-31/functions/hello/policy"},
           {"GET", "/2017-03-31/tags/arn:aws:lambda:us-east-1:000000000000:function:hello"},
           {"GET", "/2015-03-31/event-source-mappings/"}}) {
    CAPTURE(path);
    auto reply = http_request(port, method, path);
    CHECK(reply.status >= 400);
    CHECK(!reply.header("x-amzn-errortype").empty());
    CHECK(reply.body.starts_with("{\"Type\":\"User\""));
  }
  auto bad_page = http_request(port, "GET", "/2015-03-31/functions/?MaxItems=0");
  CHECK(bad_page.status == 400);
  CHECK(bad_page.header("x-amzn-errortype") == "InvalidParameterValueException");
  // The function list's own route answers JSON too, with or without its trailing slash.
  CHECK(http_request(port, "GET", "/2015-03-31/functions").status == 200);
  CHECK(daemon.stop().exit_code == 0);
}

TEST_CASE("boto3 pages through 120 functions with Marker and MaxItems") {
  TempDir dir;
  std::filesystem::create_directories(dir.path() + "/functions.d");
  for (int i = 0; i < 120; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "fn-%03d", i);
    dir.write(std::string("functions.d/") + name + ".yaml",
              std::string("name: ") + name + "\nlibrary: " + SWITCHYARD_EXAMPLES_LIB +
                  "/libhello.so\nconcurrency: " + std::to_string(1 + i % 7) + "\n");
  }
  auto config = dir.write("switchyard.yaml",
                          "manifests: functions.d\n"
                          "state_dir: ${SWITCHYARD_STATE_DIR}\n"
                          "http:\n  port: ${SWITCHYARD_HTTP_PORT}\n"
                          "admin:\n  port: ${SWITCHYARD_ADMIN_PORT}\n");
  RunningDaemon daemon(kBin, config);
  REQUIRE(daemon.ready());
  std::string endpoint = "http://127.0.0.1:" + std::to_string(daemon.admin_port());

  std::string script = R"(
import boto3, sys
client = boto3.client("lambda", endpoint_url=sys.argv[1])
names, pages, marker = [], 0, None
while True:
    page = client.list_functions(MaxItems=50, **({"Marker": marker} if marker else {}))
    pages += 1
    names += [f["FunctionName"] for f in page["Functions"]]
    marker = page.get("NextMarker")
    if not marker:
        break
print(pages, len(names), len(set(names)), names == sorted(names), names[0], names[-1])
# The SDK's own paginator, as tools use it.
paginated = [f["FunctionName"]
             for page in client.get_paginator("list_functions").paginate(
                 PaginationConfig={"PageSize": 7})
             for f in page["Functions"]]
print(paginated == names)
total = client.get_account_settings()["AccountLimit"]["ConcurrentExecutions"]
print(total, sum(client.get_function_concurrency(FunctionName=n)["ReservedConcurrentExecutions"]
                 for n in names))
)";
  auto boto =
      run_process({"/usr/bin/python3", "-c", script, endpoint}, aws_environment(dir), {}, 120s);
  CHECK(boto.exit_code == 0);
  CHECK(boto.err == "");
  // 1 + i % 7 over 120 functions: 17 full rounds of 28, then 1 to 1 = 1.
  CHECK(boto.out == "3 120 120 True fn-000 fn-119\nTrue\n477 477\n");
  CHECK(daemon.stop().exit_code == 0);
}

TEST_CASE("the AWS SDK for JavaScript v3: read operations, invoke with a log tail, errors") {
  TempDir dir;
  RunningDaemon daemon(kBin, examples_config(dir));
  REQUIRE(daemon.ready());
  std::string endpoint = "http://127.0.0.1:" + std::to_string(daemon.admin_port());
  std::string script = R"(
const {
  LambdaClient, ListFunctionsCommand, GetFunctionCommand, GetFunctionConfigurationCommand,
  GetFunctionConcurrencyCommand, GetAccountSettingsCommand, InvokeCommand,
} = require("@aws-sdk/client-lambda");
(async () => {
  const client = new LambdaClient({ endpoint: process.argv[1], region: "eu-west-3",
    credentials: { accessKeyId: "switchyard", secretAccessKey: "switchyard" } });
  const list = await client.send(new ListFunctionsCommand({ MaxItems: 2 }));
  console.log(list.Functions.map((f) => f.FunctionName).join(","), list.NextMarker);
  const arn = "arn:aws:lambda:eu-west-3:123456789012:function:hello-python";
  const fn = await client.send(new GetFunctionCommand({ FunctionName: arn }));
  console.log(fn.Configuration.Handler, fn.Configuration.MemorySize,
              fn.Concurrency.ReservedConcurrentExecutions);
  const conf = await client.send(new GetFunctionConfigurationCommand({
    FunctionName: "123456789012:function:hello", Qualifier: "$LATEST" }));
  console.log(conf.FunctionArn, conf.CodeSha256.length);
  const concurrency = await client.send(new GetFunctionConcurrencyCommand({ FunctionName: "sleep" }));
  console.log(concurrency.ReservedConcurrentExecutions);
  const account = await client.send(new GetAccountSettingsCommand({}));
  console.log(account.AccountUsage.FunctionCount);
  const result = await client.send(new InvokeCommand({
    FunctionName: "hello-python", LogType: "Tail",
    Payload: new TextEncoder().encode(JSON.stringify({ name: "JS" })) }));
  const tail = Buffer.from(result.LogResult, "base64").toString();
  console.log(result.StatusCode, JSON.parse(new TextDecoder().decode(result.Payload)).body,
              tail.includes("greeting JS"));
  try {
    await client.send(new GetFunctionCommand({ FunctionName: "nope" }));
  } catch (error) {
    console.log(error.name, error.$metadata.httpStatusCode, error.message);
  }
})().catch((error) => { console.error(error); process.exit(1); });
)";
  // --no-warnings: the SDK warns that Node.js 20 will not get its releases after 2026.
  auto node = run_process({"node", "--no-warnings", "-e", script, "--", endpoint},
                          {{"NODE_PATH", std::string(SWITCHYARD_JS_MODULES)}, {"HOME", dir.path()}},
                          {}, 120s);
  CHECK(node.err == "");
  CHECK(node.exit_code == 0);
  CHECK(node.out ==
        "echo,fail fail\n"
        "app.lambda_handler 128 2\n"
        "arn:aws:lambda:eu-west-3:123456789012:function:hello 44\n"
        "2\n"
        "5\n"
        "200 Hello, JS! true\n"
        "ResourceNotFoundException 404 Function not found: "
        "arn:aws:lambda:eu-west-3:123456789012:function:nope\n");
  CHECK(daemon.stop().exit_code == 0);
}
