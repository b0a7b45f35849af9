"""What schemathesis cannot read from a JSON Schema: the CSV file of
`POST /organizer/tickets/csv`.

The document states the file in prose (a header row of known, distinct columns, then
rows with one cell per column) because no JSON Schema keyword can say "each row has as
many cells as the header". Left alone, schemathesis would generate any string for
`text/csv` and count the service's `400 INVALID_CSV` for an unreadable file as a
rejected valid request. The document names the format of the body's string
(`"format": "tickets-csv"`, an annotation other readers ignore) and this module teaches
it to schemathesis through its own extension point for string formats: every valid
body it generates is a CSV file as the document describes it (random columns of the
documented list, always with `ticketId`, random separator, row count, cells of printable
text, optional byte-order mark, CR LF or LF). Negative cases (a non-string, an empty
file) are still generated from the rest of the schema. The checks are untouched: a
readable file the service refused would still fail the run.

The spectator app operations need a session: an auth provider opens one (sandbox
`POST /app/session`) for a spectator to whom a few tickets are injected first, so that
those operations are tested past their `401`.

Loaded by `.ci/schemathesis.sh` through SCHEMATHESIS_HOOKS, with the service's URL and
the organizer's key in TIXBRIDGE_WALLET_URL and TIXBRIDGE_WALLET_KEY.
"""

import csv
import io
import json
import os
import urllib.request

import schemathesis
from hypothesis import strategies as st

# The columns of docs/wallet-api.md ("CSV injection"), as the document lists them.
COLUMNS = [
    "ticketId",
    "event.id",
    "event.name",
    "event.name[en]",
    "event.name[fr]",
    "event.startTime",
    "event.expirationDate",
    "event.address.site",
    "event.address.city",
    "event.address.zip",
    "event.address.countryCode",
    "event.address.line1",
    "event.group.name",
    "event.metadata.RESALE_TICKETSHOP_URL",
    "purchaseDetails.taxationNumber",
    "purchaseDetails.fileId",
    "purchaseDetails.price",
    "purchaseDetails.currency",
    "purchaseDetails.category",
    "purchaseDetails.purchaseDate",
    "security.barcode",
    "spectatorDetails.email",
    "spectatorDetails.firstName",
    "spectatorDetails.lastName",
    "spectatorDetails.gender",
    "spectatorDetails.title",
    "spectatorDetails.mainApplicant",
    "activationParameters.method",
    "activationParameters.time",
    "activationParameters.groupId",
    "activationParameters.instanceId",
    "ticketDetails.main.Gate",
    "ticketDetails.extra.Seat",
    "ticketDetails.hidden.Note",
    "transferRules.allowTransfer",
    "transferRules.maxNumberOfTransferPerTicketInGroupId",
    "sortingKey",
    "imageUrl",
]
SEPARATORS = {"comma": ",", "semicolon": ";", "tab": "\t", ",": ",", ";": ";"}

# A cell: printable text on one line (a control character would refuse the row alone,
# which the JSON calls already exercise).
CELL = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs",),
        blacklist_characters=[chr(c) for c in range(0x20)] + ["\x7f"],
    ),
    max_size=24,
)


def _write(header, rows, separator, line_end, bom):
    out = io.StringIO()
    writer = csv.writer(out, delimiter=separator, lineterminator=line_end)
    writer.writerow(header)
    writer.writerows(rows)
    return ("\ufeff" if bom else "") + out.getvalue()


@st.composite
def ticket_csv(draw):
    others = draw(st.lists(st.sampled_from(COLUMNS[1:]), max_size=7, unique=True))
    header = others[:]
    header.insert(draw(st.integers(0, len(others))), "ticketId")
    # A text field comes either whole or per language, not both.
    if "event.name" in header:
        header = [c for c in header if not c.startswith("event.name[")]
    rows = draw(
        st.lists(
            st.lists(CELL, min_size=len(header), max_size=len(header)),
            max_size=5,
        )
    )
    separator = draw(st.sampled_from([",", ";", "\t"]))
    line_end = draw(st.sampled_from(["\r\n", "\n"]))
    bom = draw(st.booleans())
    return _write(header, rows, separator, line_end, bom)


schemathesis.openapi.format("tickets-csv", ticket_csv())


APP_TICKETS = ["ST-APP-1", "ST-APP-2", "ST-APP-3"]


@schemathesis.hook
def map_case(context, case):
    """Two things the schema cannot say. A file and its `delimiter` parameter agree:
    when the query names a separator, the file is written with it. And three valid app
    requests in four name a ticket the session owns (chosen from the generated id, so
    runs repeat), so that the app operations act on tickets and not only answer 404."""
    if case.operation.path.startswith("/app/tickets/{ticketId}"):
        positive = case.meta is None or case.meta.generation.mode.is_positive
        ticket_id = (case.path_parameters or {}).get("ticketId")
        if positive and isinstance(ticket_id, str):
            pick = sum(ticket_id.encode("utf-8")) % 4
            if pick < 3:
                case.path_parameters = {**case.path_parameters, "ticketId": APP_TICKETS[pick]}
        return case
    if case.operation.path != "/organizer/tickets/csv" or not isinstance(case.body, str):
        return case
    delimiter = (case.query or {}).get("delimiter")
    chosen = SEPARATORS.get(delimiter.lower()) if isinstance(delimiter, str) else None
    if chosen is None or not case.body.lstrip("\ufeff"):
        return case
    text = case.body
    bom = text.startswith("\ufeff")
    text = text.lstrip("\ufeff")
    line_end = "\r\n" if "\r\n" in text else "\n"
    # Column names hold no separator: the one in the header line is the file's.
    first = text.split(line_end, 1)[0]
    written = next((s for s in ",;\t" if s in first), ",")
    rows = list(csv.reader(io.StringIO(text), delimiter=written))
    case.body = _write(rows[0], rows[1:], chosen, line_end, bom)
    return case


WALLET = os.environ.get("TIXBRIDGE_WALLET_URL", "")
KEY = os.environ.get("TIXBRIDGE_WALLET_KEY", "")
SPECTATOR = "spectator@example.org"


def _post(path, body, headers=None):
    request = urllib.request.Request(
        WALLET + path,
        data=json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def _ticket(ticket_id, rules):
    return {
        "ticketId": ticket_id,
        "event": {
            "id": "ST-E1",
            "name": {"en": "Final", "fr": "Finale"},
            "startTime": "2099-07-12T21:00:00+02:00",
            "expirationDate": "2099-07-13T02:00:00+02:00",
            "address": {"site": "Stade", "city": "Paris", "zip": "75000", "countryCode": "FR"},
        },
        "purchaseDetails": {"taxationNumber": "TAX-" + ticket_id},
        "security": {"barcode": "BC-" + ticket_id},
        "spectatorDetails": {"email": SPECTATOR},
        "transferRules": rules,
    }


if WALLET and KEY:
    # Tickets the session owns: transferable or not, for the app operations to act on.
    _post(
        "/organizer/tickets",
        {
            "tickets": [
                _ticket("ST-APP-1", {}),
                _ticket("ST-APP-2", {}),
                _ticket("ST-APP-3", {"allowTransfer": False}),
            ]
        },
        {"X-Api-Key": KEY},
    )


@schemathesis.auth().apply_to(path_regex="^/app/tickets")
class AppSession:
    """A sandbox session of the spectator who owns the tickets above."""

    def get(self, case, context):
        return _post("/app/session", {"email": SPECTATOR})["token"]

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
