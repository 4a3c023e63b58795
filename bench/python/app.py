# The handler of issue #18's benchmark, as a Lambda user writes it.
def lambda_handler(event, context):
    name = "World"
    body = event.get("body") if isinstance(event, dict) else None
    if body:
        import json

        name = json.loads(body).get("name", name)
    return {"statusCode": 200, "body": f"Hello, {name}!"}
