# A stand-in for AWS's awslambdaric (not in Debian; PyPI is out of reach in the tests), keeping
# only the contract switchyard relies on when a manifest says `bootstrap: awslambdaric`: started as
# `python -m awslambdaric HANDLER` in the task root, it finds the Runtime API in
# AWS_LAMBDA_RUNTIME_API (host:port), imports HANDLER from sys.path, and loops on next/response.
# Each result tells what the runtime saw, for tests/integration/python_test.cc.
import http.client
import importlib
import json
import os
import sys


def main():
    host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1)
    module_name, function_name = sys.argv[1].rsplit(".", 1)
    handler = getattr(importlib.import_module(module_name), function_name)
    api = http.client.HTTPConnection(host, int(port))
    while True:
        api.request("GET", "/2018-06-01/runtime/invocation/next")
        reply = api.getresponse()
        event = json.loads(reply.read())
        request_id = reply.getheader("Lambda-Runtime-Aws-Request-Id")
        result = {
            "result": handler(event, None),
            "argv": sys.argv[1:],
            "cwd": os.getcwd(),
            "runtime_api_fd": os.environ.get("SWITCHYARD_RUNTIME_API_FD"),
        }
        api.request("POST", "/2018-06-01/runtime/invocation/" + request_id + "/response",
                    body=json.dumps(result).encode())
        api.getresponse().read()


main()
