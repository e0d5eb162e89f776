"""Notifications as their consumers take them: three receivers on loopback,
subscribed by an administrator, each in the shape it chose, get an
institution's `create`:
- an Open Notificaties-style receiver checks the `Notificatie` fields, its
  `actie` values and the `Authorization` it gave with its subscription;
- the CloudEvents SDK (`cloudevents.http.from_http`) parses every
  structured and binary delivery, and the NL GOV profile's attributes are
  checked on what it parsed;
- a machine client with `webhooks.manage` subscribes itself (CloudEvents)
  and gets the same event;
- every subscription is pinged, and every delivery and ping is validated
  with a JSON Schema library against the spec's `webhooks` section.

Usage: receivers.py BASE_URL ADMIN_EMAIL ADMIN_TOTP EXCHANGE_EMAIL EXCHANGE_TOTP PASSWORD"""
import http.server
import json
import sys
import threading
import time

import datetime

import httpx
import jsonschema
from cloudevents.http import from_http
from totp import code

base, admin_email, admin_secret, exchange_email, exchange_secret, password = sys.argv[1:7]
api = f"{base}/api/v1"
AUTH = "Token contract-receiver-only"
received = {"open_notificaties": [], "cloudevents": [], "cloudevents_binary": [], "client": []}
shape_of = {"open_notificaties": "open_notificaties", "cloudevents": "cloudevents",
            "cloudevents_binary": "cloudevents_binary", "client": "cloudevents"}
spec = json.load(open("openapi/openapi.json"))
webhook_of = {"casedesk": "casedeskNotification", "open_notificaties": "openNotificatiesNotification",
              "cloudevents": "cloudEvent", "cloudevents_binary": "cloudEventBinary"}


def as_the_spec_says(shape, headers, body):
    """The delivery's body against the schema the spec's `webhooks` entry declares for its content type."""
    op = spec["webhooks"][webhook_of[shape]]["post"]
    for p in op["parameters"]:
        assert not p["required"] or p["name"].lower() in headers, (shape, p["name"])
    schema = op["requestBody"]["content"][headers["content-type"].split(";")[0]]["schema"]
    jsonschema.validate(json.loads(body), {**schema, "components": spec["components"]},
                        cls=jsonschema.Draft202012Validator)


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
subscriptions = {}
for shape in ("open_notificaties", "cloudevents", "cloudevents_binary"):
    body = {"callbackUrl": f"{hooks}/{shape}", "channels": [{"kanaal": "institutions"}], "format": shape}
    if shape == "open_notificaties":
        body["authorization"] = AUTH
    r = httpx.post(f"{api}/subscriptions", json=body, headers=admin)
    assert r.status_code == 201, r.text
    assert AUTH not in r.text, "the Authorization value is never shown"
    subscriptions[shape] = (r.json()["subscription"]["id"], admin)

# a machine client manages its own subscription
expires = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=30)).isoformat()
r = httpx.post(f"{api}/api-clients", headers=admin,
               json={"name": "Zaaksysteem", "scopes": ["exchange.read", "webhooks.manage"], "expiresAt": expires})
assert r.status_code == 201, r.text
client = {"authorization": f"Bearer {r.json()['key']}"}
r = httpx.post(f"{api}/subscriptions", headers=client,
               json={"callbackUrl": f"{hooks}/client", "channels": [{"kanaal": "stays"}], "format": "cloudevents"})
assert r.status_code == 403 and r.json()["type"].endswith("insufficient-scope"), r.text
r = httpx.post(f"{api}/subscriptions", headers=client,
               json={"callbackUrl": f"{hooks}/client", "channels": [{"kanaal": "institutions"}], "format": "cloudevents"})
assert r.status_code == 201, r.text
subscriptions["client"] = (r.json()["subscription"]["id"], client)
r = httpx.get(f"{api}/subscriptions", headers=client)
assert [s["id"] for s in r.json()["items"]] == [subscriptions["client"][0]], r.text

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
client_event = from_http(*received["client"][0])
assert client_event["id"] == parsed[0]["id"], client_event

# a ping to each: the receiver's answer comes back, the SDK parses it
for name, (sid, headers) in subscriptions.items():
    r = httpx.post(f"{api}/subscriptions/{sid}/pings", headers=headers)
    assert r.status_code == 200 and r.json()["delivered"] is True, r.text
    got_headers, got_body = received[name][-1]
    assert got_headers["casedesk-event-id"] == r.json()["eventId"], got_headers
    if shape_of[name].startswith("cloudevents"):
        assert from_http(got_headers, got_body)["type"] == "nl.casedesk.subscription.ping"
    else:
        assert json.loads(got_body)["actie"] == "ping" and got_headers["authorization"] == AUTH
for name, deliveries in received.items():
    for got_headers, got_body in deliveries:
        as_the_spec_says(shape_of[name], got_headers, got_body)
print("notifications: Open Notificaties receiver and CloudEvents SDK (structured and binary) took every delivery "
      "and ping as it is; a machine client subscribed itself; every delivery fits the spec's webhooks section")
