import json
import logging
import os
import tempfile

# Module level: runs once per environment, at its cold start.
logger = logging.getLogger()
logger.setLevel(logging.INFO)

# Lambda's /tmp: under switchyard TMPDIR, the function's own scratch folder
# (<state_dir>/tmp/<name>), which outlives its environments.
STATE_FILE = os.path.join(tempfile.gettempdir(), "last-tick.json")


def lambda_handler(event, context):
    """An EventBridge scheduled event: log the tick and the one before it."""
    try:
        with open(STATE_FILE) as f:
            previous = json.load(f)["time"]
    except (OSError, ValueError, KeyError):
        previous = None
    logger.info("tick %s for %s (%s), previous tick %s",
                event["id"], event["time"], event["resources"][0], previous)
    with open(STATE_FILE, "w") as f:
        json.dump({"time": event["time"]}, f)
    return {"time": event["time"], "previous": previous}
