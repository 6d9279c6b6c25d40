# Handlers the runtime's tests call, one per form FC's Python programming model has.
import base64
import json
import logging
import sys

calls = []


def initialize(context):
    calls.append(("initialize", context.request_id))
    print("initializing", context.function.name)


def pre_stop(context):
    calls.append(("pre_stop", context.request_id))
    print("pre-stop called")


def pre_freeze(context):
    calls.append(("pre_freeze", context.request_id))


def failing_hook(context):
    raise RuntimeError("the model is missing")


def echo(event, context):
    return event


def calls_so_far(event, context):
    return {"calls": [c[0] for c in calls]}


def describe_context(event, context):
    return {
        "requestId": context.request_id,
        "function": vars(context.function),
        "service": vars(context.service),
        "region": context.region,
        "accountId": context.account_id,
        "credentials": vars(context.credentials),
    }


def logs(event, context):
    print("plain print")
    logging.getLogger().info("root logger line")
    context.logger.warning("context logger line")
    return "logged"


def exits(event, context):
    sys.exit(3)


def fails(event, context):
    return divide(1, 0)


def divide(a, b):
    return a / b


def http_event(event, context):
    # FC 3.0's HTTP trigger: the event is the JSON of the request; it goes back as the body.
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": event.decode()}


def http_response(event, context):
    request = json.loads(event)
    return {
        "statusCode": 201,
        "headers": {"x-custom": "yes"},
        "body": base64.b64encode(b"\x00binary " + request["rawPath"].encode()).decode(),
        "isBase64Encoded": True,
    }


def http_plain(event, context):
    return "just a body"


def wsgi(environ, start_response):
    body = environ["wsgi.input"].read()
    start_response("202 Accepted", [("Content-Type", "text/plain"), ("X-Path", environ["PATH_INFO"]),
                                    ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
    return [b"method=", environ["REQUEST_METHOD"].encode(), b" query=", environ["QUERY_STRING"].encode(),
            b" body=", body, b" fn=", environ["fc.context"].function.name.encode()]

