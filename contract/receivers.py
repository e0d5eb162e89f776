"""Notifications as their consumers take them: three receivers on loopback,
subscribed by an administrator, each in the shape it chose, get an
institution's `create`:
- an Open Notificaties-style receiver checks the `Notificatie` fields, its
  `actie` values and the `Authorization` it gave with its subscription;
- the CloudEvents SDK (`cloudevents.http.from_http`) parses every
  structured and binary delivery, and the NL GOV profile's attributes are
  checked on what it parsed.

Usage: receivers.py BASE_URL ADMIN_EMAIL ADMIN_TOTP EXCHANGE_EMAIL EXCHANGE_TOTP PASSWORD"""
import http.server
import json
import sys
import threading
import time

import httpx
from cloudevents.http import from_http
from totp import code

base, admin_email, admin_secret, exchange_email, exchange_secret, password = sys.argv[1:7]
api = f"{base}/api/v1"
AUTH = "Token contract-receiver-only"
received = {"open_notificaties": [], "cloudevents": [], "cloudevents_binary": []}


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (the standard library's name)
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        received[self.path.strip("/")].append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=server.serve_forever, daemon=True).start()
hooks = f"http://127.0.0.1:{server.server_address[1]}"


def session(email, secret):
    r = httpx.post(f"{api}/sessions", json={"email": email, "password": password, "totp": code(secret, time.time() + 30)})
    assert r.status_code == 201, r.text
    return {"authorization": f"Bearer {r.json()['token']}"}


admin = session(admin_email, admin_secret)
for shape in received:
    body = {"callbackUrl": f"{hooks}/{shape}", "channels": [{"kanaal": "institutions"}], "format": shape}
    if shape == "open_notificaties":
        body["authorization"] = AUTH
    r = httpx.post(f"{api}/subscriptions", json=body, headers=admin)
    assert r.status_code == 201, r.text
    assert AUTH not in r.text, "the Authorization value is never shown"

exchange = session(exchange_email, exchange_secret)
r = httpx.post(
    f"{api}/institutions",
    json={"name": "ROC Notificaties", "kind": "mbo_college", "country": "NL", "city": "Zwolle", "sisterCity": False},
    headers=exchange,
)
assert r.status_code == 201, r.text
institution = r.json()["id"]
resource_url = f"{api}/institutions/{institution}"
for _ in range(150):
    if all(received.values()):
        break
    time.sleep(0.1)
assert all(received.values()), {k: len(v) for k, v in received.items()}

# Open Notificaties: its fields, its actie, the receiver's own Authorization
headers, body = received["open_notificaties"][0]
notificatie = json.loads(body)
assert headers["authorization"] == AUTH, headers
assert sorted(notificatie) == ["aanmaakdatum", "actie", "hoofdObject", "kanaal", "kenmerken", "resource", "resourceUrl"], notificatie
assert notificatie["actie"] == "create" and notificatie["kanaal"] == "institutions", notificatie
assert notificatie["resourceUrl"] == resource_url and notificatie["hoofdObject"] == resource_url, notificatie

# CloudEvents: the SDK parses both modes; the NL GOV profile's attributes
parsed = []
for shape in ("cloudevents", "cloudevents_binary"):
    headers, body = received[shape][0]
    assert "authorization" not in headers, headers
    event = from_http(headers, body)
    assert event["specversion"] == "1.0", event
    assert event["type"] == "nl.casedesk.institution.created", event["type"]
    assert event["source"] == api, event["source"]
    assert event["subject"] == institution, event["subject"]
    assert event["dataref"] == resource_url, event["dataref"]
    assert event["id"] == headers["casedesk-event-id"], event["id"]
    assert event.data["kanaal"] == "institutions", event.data
    parsed.append(event)
assert parsed[0]["id"] == parsed[1]["id"] and parsed[0]["time"] == parsed[1]["time"]
print("notifications: Open Notificaties receiver and CloudEvents SDK (structured and binary) took every delivery as it is")
