# A handler module whose own import fails: it uses a library FC's runtime ships.
import oss2


def handler(event, context):
    return oss2.__version__
