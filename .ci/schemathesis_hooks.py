"""Schemathesis hooks for the generated-input runs (loaded through
SCHEMATHESIS_HOOKS by .ci/schemathesis).

Two values are opaque to a schema by design, and a generator that makes
them up is told "no" for reasons no schema can say:
- a paging `cursor` (and the feed's `after`) is a token the service issued
  (signed); a made-up one is refused (400). Generated requests page from the
  start; the stateful phase follows the service's own `Link` and `next`.
- an `Idempotency-Key` names one request for 24 hours; the same key with
  another request is refused (422), as the IETF draft says. A generator
  draws the same short keys again and again, so each request gets a fresh
  key, as a client makes one per request it may retry.
"""
import uuid

import schemathesis


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    for opaque in ("cursor", "after"):  # a page's cursor, the feed's position
        if case.query and opaque in case.query:
            del case.query[opaque]
    if case.headers and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = str(uuid.uuid4())


# What the service refuses in a request the schema allows, because no schema
# can say it: it depends on the data held (a reference to nothing, a wrong
# password or code, someone who is not shelter staff, the version in
# If-Match) or on two fields together (a date before another, a reason that
# an override needs). Each is (the field, or a prefix of it, and the code of
# the `invalidParams` entry). Anything else refused with 400, and any 422 or
# 428, means the spec allows what the service does not: the run fails.
BEYOND_THE_SCHEMA = {
    ("defenderId", "unknown"),
    ("participantId", "unknown"),
    ("partnerInstitutionId", "unknown"),
    ("homeInstitutionId", "unknown"),
    ("sendingInstitutionId", "unknown"),
    ("receivingInstitutionId", "unknown"),
    ("agreementId", "unknown"),
    ("staffId", "not_shelter_staff"),
    ("currentPassword", "wrong"),
    ("code", "wrong"),
    ("code", "invalid"),  # an enrolment code that is unknown, used or expired
    ("plannedDeparture", "before_arrival"),
    ("actualDeparture", "before_arrival"),
    ("plannedEnd", "before_start"),
    ("actualEnd", "before_start"),
    ("validUntil", "before_valid_from"),
    ("expiresOn", "before_granted"),
    ("revokedOn", "before_granted"),
    ("travelBands[", "empty"),  # a band that ends before it starts
    ("travelBands[", "overlap"),  # two bands over the same distances
    ("quotas[", "duplicate"),  # two quotas for one direction and level
    ("countryGroups[", "duplicate"),  # a country in two groups of a table
    # a receiver's address must be public, and https unless the operator
    # allows the host (settings of the service, not of the API)
    ("callbackUrl", "invalid"),
    # which `kenmerken` a channel filters on depends on its kanaal; a kanaal
    # once per subscription
    ("channels[", "unknown_kenmerk"),
    ("channels[", "duplicate"),
    ("reason", "required"),  # a quota override needs a reason
    ("X-Audit-Reason", "required"),  # so does making a stay more or less secret
    ("sendingInstitutionId", "not_agreement_partner"),
    ("receivingInstitutionId", "not_agreement_partner"),
    ("actualStart", "not_applicable"),  # depends on the status moved from and to
    ("actualEnd", "not_applicable"),
    ("actual", "future"),  # an actual date after today, by the service's clock
    # a codename holds letters of one script, digits and a few marks, nothing
    # invisible (Unicode UTS #39): the spec's pattern refuses ASCII symbols
    # and control characters; scripts are beyond a portable pattern
    ("codename", "invalid_format"),
}


def _beyond_the_schema(param):
    name, code = param.get("name", ""), param.get("code", "")
    return any(name.startswith(prefix) and code == c for prefix, c in BEYOND_THE_SCHEMA)


@schemathesis.check
def positive_data_within_the_schema(ctx, response, case):
    """A request generated to fit the schema is accepted, or refused only for
    a reason beyond the schema (above), or for the state it meets (401,
    403, 404, 409 conflicts, 412 a stale If-Match, 429)."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    status = response.status_code
    if status < 400 or status in (401, 403, 404, 409, 412, 429) or status >= 500:
        return None
    if status == 400:
        try:
            params = response.json().get("invalidParams") or []
        except ValueError:
            params = []
        if params and all(_beyond_the_schema(p) for p in params):
            return None
    raise AssertionError(
        f"A request that fits the schema was refused ({status}): {response.text[:500]}"
    )
