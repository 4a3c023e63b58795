# A module whose import fails while BREAK_FILE exists: an init error in an environment started
# after the daemon's start-up, for tests/integration/python_test.cc.
import os

if os.path.exists(os.environ["BREAK_FILE"]):
    raise RuntimeError("broken while " + os.environ["BREAK_FILE"] + " exists")


def lambda_handler(event, context):
    return {"pid": os.getpid()}
