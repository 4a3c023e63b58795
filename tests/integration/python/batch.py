# A Lambda batch handler for Kafka (self-managed Kafka event) and Redis (switchyard's lambda-sqs
# event), reporting partial failures in batchItemFailures as AWS documents. Every record it sees
# is appended to EVENT_LOG as "<id> <value> <ok|fail>"; a value containing "poison" always
# fails, one containing "flaky" fails on its first delivery only (whichever environment gets
# it: a marker file beside EVENT_LOG remembers).
import base64
import os


def records(event):
    if "Records" in event:  # lambda-sqs
        for record in event["Records"]:
            yield record["messageId"], record["body"]
    else:  # Kafka
        for batch in event["records"].values():
            for record in batch:
                value = base64.b64decode(record["value"]).decode()
                yield f"{record['topic']}-{record['partition']}-{record['offset']}", value


def handler(event, context):
    failures = []
    lines = []
    for item, value in records(event):
        failed = "poison" in value
        if "flaky" in value:
            marker = os.environ["EVENT_LOG"] + "." + value
            failed = not os.path.exists(marker)
            open(marker, "a").close()
        lines.append(f"{item} {value} {'fail' if failed else 'ok'}\n")
        if failed:
            failures.append({"itemIdentifier": item})
    with open(os.environ["EVENT_LOG"], "a") as log:
        log.write("".join(lines))
    return {"batchItemFailures": failures}
