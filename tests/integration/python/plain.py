# A handler that needs a package from a layer, for the `bootstrap: awslambdaric` test of
# tests/integration/python_test.cc.
import from_layer


def lambda_handler(event, context):
    return {"greeting": from_layer.GREETING, "name": event.get("name")}
