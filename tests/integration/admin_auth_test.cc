// The admin listener with access keys: requests the AWS tools sign (awscli, boto3, the AWS SDK
// for JavaScript v3) pass; unsigned, wrongly signed, altered and stale requests are refused
// with AWS's errors, counted, and invoke nothing (checked from the function's side: it records
// every invocation it gets in a file). Without keys, the listener refuses to serve beyond
// loopback unless told it may.

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "support/daemon.h"
#include "support/http_client.h"

using namespace switchyard::testing;
using namespace std::chrono_literals;

namespace {

const std::string kBin = SWITCHYARD_BIN;

// A daemon whose admin listener has two keys: `ops` (secret from the environment, every
// function) and `ci` (secret from a file, only `hello`). Function `record` appends each event it
// gets to a file.
struct AuthDaemon {
  TempDir dir;
  std::string record_file = dir.path() + "/recorded.jsonl";
  std::unique_ptr<RunningDaemon> daemon;
  std::string endpoint;

  AuthDaemon() {
    std::filesystem::create_directories(dir.path() + "/functions.d");
    std::filesystem::create_directories(dir.path() + "/code");
    dir.write("code/record.py",
              "import json, os\n"
              "def handler(event, context):\n"
              "    with open(os.environ['RECORD_FILE'], 'a') as out:\n"
              "        out.write(json.dumps(event) + '\\n')\n"
              "    client = context.client_context\n"
              "    return {'recorded': event, 'custom': client.custom if client else None}\n");
    dir.write("functions.d/record.yaml",
              "name: record\nruntime: python3\nhandler: record.handler\ncode: ../code\n"
              "env: { RECORD_FILE: " +
                  record_file + " }\n");
    dir.write("functions.d/hello.yaml",
              "name: hello\nlibrary: " + std::string(SWITCHYARD_EXAMPLES_LIB) + "/libhello.so\n");
    dir.write("ci.secret", "ci-secret-value\n");
    auto config = dir.write("switchyard.yaml",
                            "manifests: functions.d\n"
                            "region: eu-west-3\n"
                            "state_dir: ${SWITCHYARD_STATE_DIR}\n"
                            "http:\n  port: ${SWITCHYARD_HTTP_PORT}\n"
                            "admin:\n"
                            "  port: ${SWITCHYARD_ADMIN_PORT}\n"
                            "  keys:\n"
                            "    - { access_key_id: ops, secret_env: TEST_OPS_SECRET }\n"
                            "    - access_key_id: ci\n"
                            "      secret_file: ci.secret\n"
                            "      functions: [hello]\n");
    daemon = std::make_unique<RunningDaemon>(
        kBin, config, std::map<std::string, std::string>{{"TEST_OPS_SECRET", "ops-secret-value"}});
    endpoint = "http://127.0.0.1:" + std::to_string(daemon->admin_port());
  }

  std::string recorded() const {
    std::ifstream in(record_file);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  }
};

std::map<std::string, std::string> credentials(const TempDir& home, const std::string& id,
                                               const std::string& secret) {
  return {{"AWS_ACCESS_KEY_ID", id},
          {"AWS_SECRET_ACCESS_KEY", secret},
          {"AWS_DEFAULT_REGION", "eu-west-3"},
          {"AWS_REGION", "eu-west-3"},
          {"AWS_PAGER", ""},
          {"HOME", home.path()}};
}

}  // namespace

TEST_CASE("signed by the AWS tools: awscli, boto3 and the JavaScript SDK pass") {
  AuthDaemon test;
  REQUIRE(test.daemon->ready());
  CHECK(test.daemon->process().err().find("signed by 2 key(s)") != std::string::npos);

  auto list =
      run_process({"/usr/bin/aws", "lambda", "list-functions", "--endpoint-url", test.endpoint,
                   "--query", "Functions[].FunctionName", "--output", "text"},
                  credentials(test.dir, "ops", "ops-secret-value"), {}, 60s);
  CHECK(list.exit_code == 0);
  CHECK(list.out == "hello\trecord\n");

  std::string out = test.dir.path() + "/out.json";
  auto cli = run_process(
      {"/usr/bin/aws", "lambda", "invoke", "--endpoint-url", test.endpoint, "--function-name",
       "arn:aws:lambda:eu-west-3:000000000000:function:record", "--cli-binary-format",
       "raw-in-base64-out", "--payload", R"({"from":"awscli"})", out},
      credentials(test.dir, "ops", "ops-secret-value"), {}, 60s);
  CHECK(cli.exit_code == 0);

  std::string script = R"(
import base64, boto3, json, sys
client = boto3.client("lambda", endpoint_url=sys.argv[1])
context = base64.b64encode(json.dumps({"custom": {"k": "boto3"}}).encode()).decode()
reply = client.invoke(FunctionName="record", Payload=json.dumps({"from": "boto3"}),
                      ClientContext=context)
result = json.loads(reply["Payload"].read())
print(reply["StatusCode"], result["recorded"]["from"], result["custom"]["k"])
)";
  auto boto = run_process({"/usr/bin/python3", "-c", script, test.endpoint},
                          credentials(test.dir, "ops", "ops-secret-value"), {}, 60s);
  CHECK(boto.err == "");
  CHECK(boto.out == "200 boto3 boto3\n");

  std::string js = R"(
const { LambdaClient, InvokeCommand, GetFunctionCommand } = require("@aws-sdk/client-lambda");
(async () => {
  const client = new LambdaClient({ endpoint: process.argv[1], region: "eu-west-3",
    credentials: { accessKeyId: "ops", secretAccessKey: "ops-secret-value" } });
  const fn = await client.send(new GetFunctionCommand({ FunctionName: "record" }));
  const reply = await client.send(new InvokeCommand({ FunctionName: "record",
    ClientContext: Buffer.from(JSON.stringify({ custom: { k: "js" } })).toString("base64"),
    Payload: new TextEncoder().encode(JSON.stringify({ from: "js" })) }));
  const result = JSON.parse(new TextDecoder().decode(reply.Payload));
  console.log(fn.Configuration.Handler, reply.StatusCode, result.custom.k);
})().catch((error) => { console.error(error.name, error.message); process.exit(1); });
)";
  auto node = run_process(
      {"node", "--no-warnings", "-e", js, "--", test.endpoint},
      {{"NODE_PATH", std::string(SWITCHYARD_JS_MODULES)}, {"HOME", test.dir.path()}}, {}, 60s);
  CHECK(node.err == "");
  CHECK(node.out == "record.handler 200 js\n");

  CHECK(test.recorded() == "{\"from\": \"awscli\"}\n{\"from\": \"boto3\"}\n{\"from\": \"js\"}\n");
  CHECK(test.daemon->stop().exit_code == 0);
}

TEST_CASE("wrong secret, altered body, stale or unsigned requests: refused, counted, not run") {
  AuthDaemon test;
  REQUIRE(test.daemon->ready());
  int port = test.daemon->admin_port();

  // Each attack through botocore's own signer; the request is then sent as the attacker would.
  std::string script = R"(
import datetime, http.client, json, sys, types
import botocore.auth, botocore.credentials
from botocore.awsrequest import AWSRequest
endpoint, port = sys.argv[1], int(sys.argv[2])
path = "/2015-03-31/functions/record/invocations"

def signed(body, secret="ops-secret-value", key="ops", minutes_ago=0):
    request = AWSRequest(method="POST", url=endpoint + path, data=body)
    if minutes_ago:
        class Past(datetime.datetime):
            @classmethod
            def utcnow(cls):
                return datetime.datetime.utcnow() - datetime.timedelta(minutes=minutes_ago)
        botocore.auth.datetime = types.SimpleNamespace(datetime=Past, timedelta=datetime.timedelta)
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(key, secret), "lambda",
                            "eu-west-3").add_auth(request)
    botocore.auth.datetime = datetime
    return request

def send(request, body=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request(request.method, path, body=request.body if body is None else body,
                       headers=dict(request.headers.items()))
    reply = connection.getresponse()
    payload = reply.read()
    error = reply.getheader("x-amzn-ErrorType") or ""
    message = json.loads(payload).get("message", "") if error else ""
    print(reply.status, error, message.split(":")[0])

send(signed(b'{"from": "wrong secret"}', secret="guessed"))
send(signed(b'{"from": "unknown key"}', key="mallory"))
send(signed(b'{"from": "original"}'), body=b'{"from": "altered"}')
send(signed(b'{"from": "stale"}', minutes_ago=6))
send(AWSRequest(method="POST", url=endpoint + path, data=b'{"from": "unsigned"}'))
send(signed(b'{"from": "ci"}', key="ci", secret="ci-secret-value"))
send(signed(b'{"from": "fresh"}', minutes_ago=4))

# A presigned URL (the query-string form): good within its X-Amz-Expires, refused after it.
import urllib.request, urllib.error
def presigned(expires, minutes_ago=0):
    request = AWSRequest(method="GET", url=endpoint + "/2015-03-31/functions/record/configuration")
    if minutes_ago:
        class Past(datetime.datetime):
            @classmethod
            def utcnow(cls):
                return datetime.datetime.utcnow() - datetime.timedelta(minutes=minutes_ago)
        botocore.auth.datetime = types.SimpleNamespace(datetime=Past, timedelta=datetime.timedelta)
    botocore.auth.SigV4QueryAuth(botocore.credentials.Credentials("ops", "ops-secret-value"),
                                 "lambda", "eu-west-3", expires=expires).add_auth(request)
    botocore.auth.datetime = datetime
    try:
        with urllib.request.urlopen(request.url, timeout=30) as reply:
            print(reply.status, json.loads(reply.read())["FunctionName"])
    except urllib.error.HTTPError as error:
        print(error.code, error.headers["x-amzn-ErrorType"])
presigned(300)
presigned(60, minutes_ago=2)
)";
  auto attacks = run_process(
      {"/usr/bin/python3", "-c", script, test.endpoint, std::to_string(port)}, {}, {}, 60s);
  CHECK(attacks.err == "");
  CHECK(attacks.out ==
        "403 InvalidSignatureException The request signature we calculated does not match the "
        "signature you provided. Check your AWS Secret Access Key and signing method. Consult "
        "the service documentation for details.\n"
        "403 UnrecognizedClientException The security token included in the request is "
        "invalid.\n"
        "403 InvalidSignatureException The request signature we calculated does not match the "
        "signature you provided. Check your AWS Secret Access Key and signing method. Consult "
        "the service documentation for details.\n"
        "403 InvalidSignatureException Signature expired\n"
        "403 MissingAuthenticationTokenException Missing Authentication Token\n"
        "403 AccessDeniedException User\n"
        "200  \n"
        "200 record\n"
        "403 InvalidSignatureException\n");
  // Only the one within the 5 minutes AWS allows ran.
  CHECK(test.recorded() == "{\"from\": \"fresh\"}\n");

  // Health and metrics stay open; the function list does not.
  CHECK(http_request(port, "GET", "/healthz").status == 200);
  CHECK(http_request(port, "GET", "/readyz").status == 200);
  CHECK(http_request(port, "GET", "/functions").status == 403);
  auto metrics = http_request(port, "GET", "/metrics");
  CHECK(metrics.status == 200);
  CHECK(metric(metrics.body, R"(switchyard_admin_refused_total{reason="signature_mismatch"})") ==
        2);
  CHECK(metric(metrics.body, R"(switchyard_admin_refused_total{reason="unknown_access_key"})") ==
        1);
  CHECK(metric(metrics.body, R"(switchyard_admin_refused_total{reason="expired"})") == 1);
  CHECK(metric(metrics.body, R"(switchyard_admin_refused_total{reason="presigned_expired"})") == 1);
  CHECK(metric(metrics.body, R"(switchyard_admin_refused_total{reason="unsigned"})") == 2);
  CHECK(metric(metrics.body, R"(switchyard_admin_refused_total{reason="not_allowed"})") == 1);
  CHECK(test.daemon->process().err().find("admin: refused POST") != std::string::npos);
  CHECK(test.daemon->stop().exit_code == 0);
  CHECK(test.recorded() == "{\"from\": \"fresh\"}\n");
}

TEST_CASE("without keys the listener stays on loopback unless admin.insecure says otherwise") {
  TempDir dir;
  std::filesystem::create_directories(dir.path() + "/functions.d");
  auto config = [&](const std::string& admin) {
    return dir.write("switchyard.yaml",
                     "manifests: functions.d\n"
                     "state_dir: ${SWITCHYARD_STATE_DIR}\n"
                     "http:\n  port: ${SWITCHYARD_HTTP_PORT}\n"
                     "admin:\n  port: ${SWITCHYARD_ADMIN_PORT}\n" +
                         admin);
  };
  auto refused = run_process({kBin, "run", "--config", config("  address: 0.0.0.0\n")},
                             {{"SWITCHYARD_STATE_DIR", dir.path() + "/state"},
                              {"SWITCHYARD_HTTP_PORT", "0"},
                              {"SWITCHYARD_ADMIN_PORT", "0"}},
                             {}, 30s);
  CHECK(refused.exit_code != 0);
  CHECK(refused.err.find("switchyard.yaml:7:12: admin.address 0.0.0.0 is not a loopback "
                         "address") != std::string::npos);
  CHECK(refused.err.find("admin.insecure: true") != std::string::npos);

  RunningDaemon insecure(kBin, config("  address: 0.0.0.0\n  insecure: true\n"));
  REQUIRE(insecure.ready());
  CHECK(insecure.process().err().find("admin.insecure: the admin listener on 0.0.0.0 has no "
                                      "keys") != std::string::npos);
  CHECK(http_request(insecure.admin_port(), "GET", "/2015-03-31/functions/").status == 200);
  CHECK(insecure.stop().exit_code == 0);
}
