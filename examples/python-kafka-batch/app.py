import base64
import json
import logging

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def lambda_handler(event, context):
    """A self-managed Kafka batch: report the records that could not be processed.

    event["records"] maps "<topic>-<partition>" to that partition's records, in
    offset order; each record's key and value are base64. Only the records named
    in batchItemFailures are retried (and dead-lettered once retries run out).
    """
    failures = []
    for records in event["records"].values():
        for record in records:
            item = f'{record["topic"]}-{record["partition"]}-{record["offset"]}'
            try:
                order = json.loads(base64.b64decode(record["value"]))
                process(order)
            except Exception:
                logger.exception("record %s failed", item)
                failures.append({"itemIdentifier": item})
    return {"batchItemFailures": failures}


def process(order):
    logger.info("order %s: %s x %s", order["id"], order["quantity"], order["sku"])
