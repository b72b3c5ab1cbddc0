"""Differential-test oracle (issue 22, family 2): a bare ASGI app under
Hypercorn, which speaks HTTP/1.1, HTTP/2 with prior knowledge and HTTP/2
after an `Upgrade: h2c` (cleartext). It answers every request, on every
stream, with JSON listing each token it read and where from; the source
names the HTTP version the request came in ("bearer@2" is a request made
inside an h2c tunnel).

Usage: /usr/bin/python3 app.py PORT   (Debian's python3-hypercorn)
"""
import asyncio
import json
import sys
from urllib.parse import parse_qs

from hypercorn.asyncio import serve
from hypercorn.config import Config


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    version = scope.get("http_version", "?")
    tokens = []

    def add(source, value):
        if isinstance(value, str) and value:
            tokens.append({"source": source + "@" + version, "value": value})

    query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    for v in query.get("access_token", []):
        add("query", v)
    for name, value in scope.get("headers", []):
        name = name.decode("latin-1").lower()
        value = value.decode("latin-1")
        if name == "authorization":
            parts = value.split(None, 1)
            if len(parts) == 2 and parts[0].lower() == "bearer":
                add("bearer", parts[1])
        elif name == "x-api-key":
            add("header", value)
    answer = json.dumps({"oracle": "hypercorn", "route": "", "path": scope.get("path", ""),
                         "tokens": tokens, "errors": []}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(answer)).encode())]})
    await send({"type": "http.response.body", "body": answer})


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    if not port:
        sys.exit("usage: app.py PORT")
    config = Config()
    config.bind = ["127.0.0.1:%d" % port]
    config.accesslog = None
    asyncio.run(serve(app, config))
