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

Loaded by `.ci/schemathesis.sh` through SCHEMATHESIS_HOOKS.
"""

import csv
import io

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


@schemathesis.hook
def map_case(context, case):
    """A file and its `delimiter` parameter agree, as the document asks: when the
    query names a separator, the file is written with it."""
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
