"""The same first hour through the client openapi-generator's `python`
generator makes from the committed spec, used as its README says, with no
workaround: `casedesk_api.ApiClient` is the generator's HTTP client (no schema
of the spec takes its name), sign in, create, change with `If-Match` and a
merge-patch `null`, read a learner with a reason in Dutch, page by cursor,
and read a refusal as a typed Problem.

Usage: scenario_generator.py BASE_URL EMAIL PASSWORD TOTP_SECRET (the
generated package `casedesk_api` on PYTHONPATH)."""
import datetime
import sys
import time
import urllib.parse

import casedesk_api
from casedesk_api.exceptions import ApiException
from totp import code

base, email, password, secret = sys.argv[1:5]

# the HTTP client class is the generator's own, not a model of the spec
assert casedesk_api.ApiClient.__module__ == "casedesk_api.api_client", casedesk_api.ApiClient.__module__
configuration = casedesk_api.Configuration(host=f"{base}/api/v1")
with casedesk_api.ApiClient(configuration) as http:
    session = casedesk_api.SessionsApi(http).create_session(
        casedesk_api.LoginRequest(email=email, password=password, totp=code(secret, time.time() + 30))
    )
    configuration.access_token = session.token
    exchange = casedesk_api.ExchangeApi(http)

    created = exchange.create_institution_with_http_info(
        casedesk_api.NewInstitution(
            name="ROC Generator", kind=casedesk_api.InstitutionKind.MBO_COLLEGE, country="NL",
            city="Leiden", sister_city=False, contact_email="intl@roc-generator.example.nl",
        )
    )
    assert created.status_code == 201, created.status_code
    home = created.data
    headers = {k.lower(): v for k, v in (created.headers or {}).items()}
    assert headers["etag"] == f'"{home.version}"', headers
    assert headers["location"].endswith(f"/api/v1/institutions/{home.id}"), headers
    partner = exchange.create_institution(
        casedesk_api.NewInstitution(
            name="Escola Generator", kind=casedesk_api.InstitutionKind.MBO_COLLEGE, country="PT",
            city="Braga", sister_city=True,
        )
    )

    # a merge patch: the address explicitly null (cleared), the city set, the rest left out
    changed = exchange.update_institution(
        home.id, f'"{home.version}"', casedesk_api.InstitutionUpdate(contact_email=None, city="Delft")
    )
    assert changed.contact_email is None and changed.city == "Delft", changed
    assert changed.name == "ROC Generator" and changed.version == home.version + 1, changed

    learner = exchange.create_participant(
        casedesk_api.NewParticipant(
            given_name="Bram", family_name="Generator", date_of_birth=datetime.date(2007, 3, 1),
            email="bram@student.example.nl", education_level=casedesk_api.EducationLevel.MBO_4,
            home_institution_id=home.id, field_of_study="Logistics", nationality="NL", fewer_opportunities=False,
        )
    )
    reason = "UTF-8''" + urllib.parse.quote("coördinator controleert de aanvraag", safe="")
    read = exchange.get_participant(learner.id, x_audit_reason=reason)
    assert read.given_name == "Bram", read

    made = []
    for month in (2, 3, 4):
        placement = exchange.create_placement(
            casedesk_api.NewPlacement(
                participant_id=learner.id, direction=casedesk_api.Direction.OUTGOING,
                kind=casedesk_api.PlacementKind.TRAINEESHIP, sending_institution_id=home.id,
                receiving_institution_id=partner.id, planned_start=datetime.date(2027, month, 1),
                planned_end=datetime.date(2027, month + 2, 1),
            )
        )
        made.append(placement.id)

    # page by page, by cursor
    seen, cursor = [], None
    while True:
        page = exchange.list_placements(institution_id=home.id, limit=1, cursor=cursor)
        seen += [p.id for p in page.items]
        cursor = page.next
        if cursor is None:
            break
    assert seen == list(reversed(made)), (seen, made)

    # a refusal, typed
    try:
        exchange.create_placement(
            casedesk_api.NewPlacement(
                participant_id=learner.id, direction=casedesk_api.Direction.OUTGOING,
                kind=casedesk_api.PlacementKind.TRAINEESHIP, sending_institution_id=home.id,
                receiving_institution_id=partner.id, planned_start=datetime.date(2027, 5, 1),
                planned_end=datetime.date(2027, 4, 1),
            )
        )
        raise AssertionError("an end before the start was accepted")
    except ApiException as refused:
        assert refused.status == 400, refused.status
        problem = casedesk_api.Problem.from_json(refused.body)
        assert problem.type == "urn:casedesk:problem:invalid-input", problem
        assert [p.name for p in problem.invalid_params] == ["plannedEnd"], problem.invalid_params
print(f"openapi-generator python client: signed in, a merge patch, {len(made)} placements paged by cursor, a 400 read as a typed Problem")
