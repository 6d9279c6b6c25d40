# Does not parse: the runtime says where.
def handler(event, context:
    return event
