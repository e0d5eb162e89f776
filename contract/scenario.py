"""A new integrator's first hour, through the client openapi-python-client
generated from the committed spec: sign in, create a placement, read a
learner with a reason in Dutch, list placements page by page following
`Link`, and read a refusal as a typed Problem.

Usage: scenario.py BASE_URL EMAIL PASSWORD TOTP_SECRET (the generated package
`casedesk_client` on PYTHONPATH)."""
import datetime
import sys
import time
import urllib.parse

import httpx

from casedesk_client import AuthenticatedClient, Client
from casedesk_client.api.exchange import (
    create_institution,
    create_participant,
    create_placement,
    get_participant,
    list_placements,
)
from casedesk_client.api.sessions import create_session
from casedesk_client.models import (
    CountryCode,
    Direction,
    EducationLevel,
    InstitutionKind,
    LoginRequest,
    NewInstitution,
    NewParticipant,
    NewPlacement,
    Placement,
    PlacementKind,
    PlacementPage,
    Problem,
    SessionCreated,
)
from totp import code

base, email, password, secret = sys.argv[1:5]
api = f"{base}/api/v1"

signed_in = create_session.sync_detailed(
    client=Client(base_url=api),
    body=LoginRequest(email=email, password=password, totp=code(secret, time.time() + 30)),
)
assert signed_in.status_code == 201, signed_in.content
assert isinstance(signed_in.parsed, SessionCreated), signed_in.parsed
client = AuthenticatedClient(base_url=api, token=signed_in.parsed.token)

home = create_institution.sync(
    client=client,
    body=NewInstitution(name="ROC Contract", kind=InstitutionKind.MBO_COLLEGE, country=CountryCode.NL, city="Delft", sister_city=False),
)
partner_response = create_institution.sync_detailed(
    client=client,
    body=NewInstitution(name="Escola Contract", kind=InstitutionKind.MBO_COLLEGE, country=CountryCode.PT, city="Porto", sister_city=True),
)
assert partner_response.status_code == 201
assert partner_response.headers["location"].startswith(api + "/institutions/"), partner_response.headers
partner = partner_response.parsed
learner = create_participant.sync(
    client=client,
    body=NewParticipant(
        given_name="Ana", family_name="Contract", date_of_birth=datetime.date(2007, 1, 1),
        email="ana@student.example.nl", education_level=EducationLevel.MBO_4,
        home_institution_id=home.id, field_of_study="Care", nationality=CountryCode.NL, fewer_opportunities=False,
    ),
)
# a reason in Dutch, sent as RFC 8187 does for parameters (README, "API conventions")
reason = "UTF-8''" + urllib.parse.quote("coördinator vroeg om inzage", safe="")
read = get_participant.sync_detailed(client=client, id=learner.id, x_audit_reason=reason)
assert read.status_code == 200, read.content
created = []
for month in (2, 3, 4):
    placement = create_placement.sync(
        client=client,
        body=NewPlacement(
            participant_id=learner.id, direction=Direction.OUTGOING, kind=PlacementKind.TRAINEESHIP,
            sending_institution_id=home.id, receiving_institution_id=partner.id,
            planned_start=datetime.date(2027, month, 1), planned_end=datetime.date(2027, month + 2, 1),
        ),
    )
    assert isinstance(placement, Placement), placement
    created.append(placement.id)

# page by page, following Link as a generic HTTP client would
seen = []
first = list_placements.sync_detailed(client=client, limit=1)
assert isinstance(first.parsed, PlacementPage), first.parsed
seen += [p.id for p in first.parsed.items]
link = first.headers.get("link")
with httpx.Client(headers={"authorization": f"Bearer {client.token}"}) as http:
    while link:
        url = link.split(">")[0].lstrip("<")
        resp = http.get(url)
        assert resp.status_code == 200, (url, resp.status_code, resp.text)
        page = PlacementPage.from_dict(resp.json())
        seen += [p.id for p in page.items]
        link = resp.headers.get("link")
assert seen == list(reversed(created)), (seen, created)

# a refusal, typed
refused = create_placement.sync_detailed(
    client=client,
    body=NewPlacement(
        participant_id=learner.id, direction=Direction.OUTGOING, kind=PlacementKind.TRAINEESHIP,
        sending_institution_id=home.id, receiving_institution_id=partner.id,
        planned_start=datetime.date(2027, 5, 1), planned_end=datetime.date(2027, 4, 1),
    ),
)
assert refused.status_code == 400, refused.content
assert isinstance(refused.parsed, Problem), refused.parsed
assert refused.parsed.type_ == "urn:casedesk:problem:invalid-input"
assert [p.name for p in refused.parsed.invalid_params] == ["plannedEnd"], refused.parsed.invalid_params
print(f"python client: signed in, {len(created)} placements created and walked by Link, a 400 read as a typed Problem")
