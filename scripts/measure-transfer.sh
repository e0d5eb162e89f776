#!/bin/bash
# What the lighter contract saves (README, "Transfer sizes, measured"): the
# spec's size as committed at two commits, plain and gzipped, and, against a
# fresh service of the build at hand, the bytes of a page of 50 institutions
# and of 50 placements plain and gzipped, and of a held version (304).
#
#   scripts/measure-transfer.sh OLD_COMMIT [BIN]
set -eu
old=$1
bin=${2:-target/debug/casedesk}
repo=$(git rev-parse --show-toplevel)
cd "$repo"
size() { wc -c | tr -d ' '; }
for at in "$old" HEAD; do
  plain=$(git show "$at:openapi/openapi.json" | size)
  gz=$(git show "$at:openapi/openapi.json" | gzip -6 | size)
  echo "spec at $at: $plain bytes, $gz gzipped"
done
plain=$(size < openapi/openapi.json); gz=$(gzip -6 < openapi/openapi.json | size)
echo "spec in the work tree: $plain bytes, $gz gzipped"

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export CASEDESK_DATABASE_URL="sqlite://$work/casedesk.db?mode=rwc" CASEDESK_BIND="127.0.0.1:$port"
export CASEDESK_MFA_REQUIRED_ROLES="" CASEDESK_LOG=warn
base="http://127.0.0.1:$port/api/v1"
"$bin" migrate >/dev/null
echo "transfer size passphrase 42" | "$bin" staff create --email m@x.test --role exchange_coordinator >/dev/null
"$bin" serve >"$work/log" 2>&1 &
pid=$!
trap 'kill $pid; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null && break; sleep 0.2; done
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
token=$(curl -fs -X POST "$base/sessions" -H 'content-type: application/json' \
  -d '{"email":"m@x.test","password":"transfer size passphrase 42"}' | json '["token"]')
post() { curl -fs -X POST "$base$1" -H "authorization: Bearer $token" -H 'content-type: application/json' -d "$2"; }
home=$(post /institutions '{"name":"ROC Meting","kind":"mbo_college","country":"NL","city":"Delft","sisterCity":false}' | json '["id"]')
for i in $(seq 1 49); do
  post /institutions "{\"name\":\"Escola Medida $i\",\"kind\":\"mbo_college\",\"country\":\"PT\",\"city\":\"Porto\",\"sisterCity\":true,\"erasmusCode\":\"P PORTO$(printf %02d "$i")\"}" >/dev/null
done
partner=$(post /institutions '{"name":"Escola Parceira","kind":"mbo_college","country":"PT","city":"Braga","sisterCity":true}' | json '["id"]')
learner=$(post /participants "{\"givenName\":\"Meting\",\"familyName\":\"Learner\",\"dateOfBirth\":\"2007-01-01\",\"email\":\"m@student.example.nl\",\"educationLevel\":\"mbo_4\",\"homeInstitutionId\":\"$home\",\"fieldOfStudy\":\"Care\",\"nationality\":\"NL\",\"fewerOpportunities\":false}" | json '["id"]')
for i in $(seq 1 50); do
  post /placements "{\"participantId\":\"$learner\",\"direction\":\"outgoing\",\"sendingInstitutionId\":\"$home\",\"receivingInstitutionId\":\"$partner\",\"kind\":\"traineeship\",\"plannedStart\":\"2027-02-01\",\"plannedEnd\":\"2027-04-30\",\"fundingProgramme\":\"Erasmus+ KA121\"}" >/dev/null
done
for path in "/institutions?limit=50" "/placements?limit=50"; do
  plain=$(curl -fs "$base$path" -H "authorization: Bearer $token" | size)
  gz=$(curl -fs "$base$path" -H "authorization: Bearer $token" -H 'accept-encoding: gzip' | size)
  echo "GET $path: $plain bytes plain, $gz gzipped"
done
etag=$(curl -fsI "$base/institutions/$home" -H "authorization: Bearer $token" | tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}')
full=$(curl -fs "$base/institutions/$home" -H "authorization: Bearer $token" | size)
held=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "$base/institutions/$home" -H "authorization: Bearer $token" -H "if-none-match: $etag")
echo "GET /institutions/{id}: $full bytes; with If-None-Match of its ETag: status and bytes $held"
