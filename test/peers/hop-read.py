"""Read N messages from a Hopskotch URL with hop-client's own reader (hop.io.Stream) and print,
as one JSON list, each message's model class (what its _format header made hop read it as),
its IVORN when a VOEvent, and its headers as text. Usage: hop-read.py kafka://HOST:PORT/TOPIC N"""
import json
import sys
import uuid

from hop import io

url, n = sys.argv[1], int(sys.argv[2])
out = []
stream = io.Stream(auth=False, start_at=io.StartPosition.EARLIEST, until_eos=True)
with stream.open(url, "r", ignoretest=False) as s:
    for message, meta in s.read(metadata=True):
        headers = {}
        for k, v in meta.headers or []:
            headers[k] = str(uuid.UUID(bytes=v)) if k == "_id" else v.decode("utf-8", "replace")
        ivorn = getattr(message, "ivorn", None)
        out.append({"model": type(message).__name__, "ivorn": ivorn, "headers": headers})
        if len(out) >= n:
            break
print(json.dumps(out))
