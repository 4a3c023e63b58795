"""switchyard's runtime client for unchanged AWS Lambda Python handlers.

It speaks the Lambda Runtime API and behaves as AWS's own client
(awslambdaric) does: same handler resolution, error objects, JSON rules,
context object and log format. Standard library only.

One job per module: ``paths`` (sys.path), ``runtime_api`` (HTTP client of the
Runtime API), ``handler`` (handler resolution and its init errors),
``context`` (the context object), ``errors`` (error objects and stack
traces), ``marshal`` (JSON in and out), ``log`` (logging and stdout/stderr),
``loop`` (the main loop).
"""
