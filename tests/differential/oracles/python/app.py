"""Differential-test oracle (issue 9): a Flask app reading tokens the way
typical Flask/Werkzeug APIs do, answering every request with JSON listing
each token it extracted and where from.

Usage: /usr/bin/python3 app.py PORT   (Debian's python3-flask)
"""
import sys
import xml.etree.ElementTree as ET

from flask import Flask, jsonify, request, session

app = Flask(__name__)
# Flask's own signed session cookie ("session": base64url JSON, zlib-
# compressed behind a '.' when shorter, a timestamp, an HMAC): an
# application that keeps its user's access token there reads it back on
# every request (source "flask_session").
app.secret_key = "differential-oracle-session-secret"

# Beaker's cookie sessions (Pylons, Pyramid, Bottle; Debian's
# python3-beaker), signed, not encrypted: the cookie "beaker.session.id" is
# an HMAC-SHA1 in hex then base64 of the session pickled (protocol 2). An
# application keeping its user's access token there reads it back on every
# request (source "beaker_session").
from beaker.middleware import SessionMiddleware

BEAKER_SESSION_SECRET = "differential-oracle-beaker-secret"
app.wsgi_app = SessionMiddleware(app.wsgi_app, {
    "session.type": "cookie",
    "session.key": "beaker.session.id",
    "session.validate_key": BEAKER_SESSION_SECRET,
})


def extract(route):
    tokens = []

    def add(source, values):
        for v in values:
            if isinstance(v, str):
                tokens.append({"source": source, "value": v})

    add("query", request.args.getlist("access_token"))
    add("form", request.form.getlist("access_token"))
    body = request.get_json(silent=True)
    if isinstance(body, dict):
        add("json", [body.get("access_token")])
    # A webhook-style handler: the body as JSON whatever the Content-Type
    # (Flask's get_json(force=True), common for clients that send
    # text/plain): json.loads on the bytes, which detects UTF-16/32.
    forced = request.get_json(force=True, silent=True)
    if isinstance(forced, dict):
        add("json_forced", [forced.get("access_token")])
    add("cookie", request.cookies.getlist("session"))
    # A cookie an application keeps base64-encoded, decoded with the
    # stdlib's default (non-validating) b64decode, which skips what is
    # not base64 ('-', '_', '~', spaces).
    import base64 as _b64, binascii as _ba
    for v in request.cookies.getlist("session"):
        try:
            add("cookie_base64", [_b64.b64decode(v).decode("utf-8")])
        except (_ba.Error, ValueError):
            pass
    add("header", request.headers.getlist("X-Api-Key"))
    # HTTP Basic as Werkzeug decodes it (request.authorization: base64
    # decoded without validation, so bytes outside the alphabet and spaces
    # are skipped): a token sent as the password or the user name.
    basic = request.authorization
    if basic is not None:
        add("basic_password", [basic.password])
        add("basic_username", [basic.username])
    # Flask-HTTPAuth's HTTPTokenAuth: split once on whitespace, the scheme
    # compared case-insensitively, the rest is the token.
    auth = request.headers.get("Authorization")
    if auth:
        try:
            scheme, token = auth.split(None, 1)
        except ValueError:
            scheme, token = "", ""
        if scheme.lower() == "bearer":
            add("bearer", [token])
    add("flask_session", [session.get("access_token")])
    if "beaker.session.id" in request.cookies:
        add("beaker_session", [request.environ["beaker.session"].get("access_token")])
    # A MessagePack body (msgpack.unpackb), as APIs that take
    # application/msgpack read it.
    if request.mimetype in ("application/msgpack", "application/x-msgpack"):
        import msgpack
        try:
            packed = msgpack.unpackb(request.get_data(cache=True), raw=False)
        except Exception:
            packed = None
        if isinstance(packed, dict):
            add("msgpack", [packed.get("access_token")])
    # An Elasticsearch-style "ApiKey base64(id:key)", decoded
    # with the stdlib's default (non-validating) base64.b64decode.
    if auth and auth[:7].lower() == "apikey ":
        import base64, binascii
        try:
            _, sep, key = base64.b64decode(auth[7:]).decode("utf-8", "replace").partition(":")
            if sep:
                add("apikey", [key])
        except (binascii.Error, ValueError):
            pass
    # An XML body, whatever its Content-Type, as an API parsing it with
    # ElementTree reads it: an access_token element's text (references
    # decoded, CDATA opened, comments and processing instructions dropped,
    # entities of the DOCTYPE expanded) and access_token attributes.
    data = request.get_data(cache=True)
    if data.lstrip().startswith(b"<"):
        try:
            root = ET.fromstring(data)
        except ET.ParseError:
            root = None
        if root is not None:
            add("xml", [el.text for el in root.iter("access_token")])
            add("xml_attribute", [el.get("access_token") for el in root.iter()])
    return jsonify(oracle="python", route=route, path=request.path, tokens=tokens, errors=[])


@app.route("/oauth/revoke", methods=["POST"])
def revoke():
    return extract("revoke")


@app.route("/", defaults={"path": ""}, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@app.route("/<path:path>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def catch_all(path):
    return extract("")


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    if not port:
        sys.exit("usage: app.py PORT")
    app.run(host="127.0.0.1", port=port, threaded=True)
