//! The CSV dialect shared by both CSV readers — the ticketing import
//! (`tixbridge import tickets`) and the wallet's back-office CSV injection
//! (`POST /organizer/tickets/csv`, [`crate::csv_tickets`]): one rule, one place.
//!
//! Spreadsheet programs save "CSV" with the list separator of their locale: a comma in
//! English locales, a semicolon in most European ones, sometimes a tab ("Unicode
//! text"). They also often start the file with a UTF-8 byte-order mark.
//!
//! # The rule
//!
//! - A UTF-8 byte-order mark (`EF BB BF`) at the very start is not part of the text.
//! - The separator is the caller's choice when given (`--delimiter` on the command
//!   line, `delimiter` query parameter on the HTTP endpoint). Otherwise it is detected
//!   from the header line (the first non-blank line): of `,`, `;` and tab, the one found
//!   most often outside quotes; a tie goes to `,` then `;` then tab; none of them (a
//!   single column) means `,`.
//! - A header that is a single cell containing another separator is the sign of a
//!   wrong separator: [`single_cell_hint`] says so instead of letting the reader report
//!   an unknown column and every required column missing at once.

use std::fmt;
use std::str::FromStr;

/// The UTF-8 byte-order mark.
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// A cell separator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Delimiter {
    /// `,` (RFC 4180).
    Comma,
    /// `;` (spreadsheet exports in most European locales).
    Semicolon,
    /// A tab character (`\t`).
    Tab,
}

impl Delimiter {
    /// Every separator, in the order that breaks detection ties.
    pub const ALL: [Delimiter; 3] = [Delimiter::Comma, Delimiter::Semicolon, Delimiter::Tab];

    /// The byte the CSV reader splits on.
    pub fn byte(self) -> u8 {
        match self {
            Delimiter::Comma => b',',
            Delimiter::Semicolon => b';',
            Delimiter::Tab => b'\t',
        }
    }

    /// Whether a decimal comma (`12,50`) can be meant in a cell: in any file not
    /// separated by commas.
    pub fn allows_decimal_comma(self) -> bool {
        self != Delimiter::Comma
    }
}

impl fmt::Display for Delimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Delimiter::Comma => "comma (,)",
            Delimiter::Semicolon => "semicolon (;)",
            Delimiter::Tab => "tab",
        })
    }
}

impl FromStr for Delimiter {
    type Err = String;

    /// `,` / `comma`, `;` / `semicolon`, `tab` / `\t` (a real tab too); case-insensitive.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "," | "comma" => Ok(Delimiter::Comma),
            ";" | "semicolon" => Ok(Delimiter::Semicolon),
            "\t" | "\\t" | "tab" => Ok(Delimiter::Tab),
            _ => Err(format!(
                "{s:?} is not a CSV separator; use comma (,), semicolon (;) or tab"
            )),
        }
    }
}

/// `bytes` without a leading UTF-8 byte-order mark.
pub fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes)
}

/// The separator of a file whose start is `prefix` (a BOM may lead; a prefix that ends
/// inside the header line is read as far as it goes): `chosen` when given, else the
/// one detected from the header line (see the module's rule).
pub fn resolve(prefix: &[u8], chosen: Option<Delimiter>) -> Delimiter {
    chosen.unwrap_or_else(|| detect(header_line(strip_bom(prefix))))
}

/// The first non-blank line of `body` (a quoted line break does not end it).
fn header_line(body: &[u8]) -> &[u8] {
    let mut start = 0;
    let mut quoted = false;
    for (i, &b) in body.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => {
                let line = &body[start..i];
                if !line.trim_ascii().is_empty() {
                    return line;
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    &body[start..]
}

/// The most frequent separator of `line` outside quotes; ties and none go to the
/// earlier of [`Delimiter::ALL`].
fn detect(line: &[u8]) -> Delimiter {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &b in line {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(i) = Delimiter::ALL.iter().position(|d| d.byte() == b) {
            counts[i] += 1;
        }
    }
    let mut best = 0;
    for i in 1..counts.len() {
        if counts[i] > counts[best] {
            best = i;
        }
    }
    Delimiter::ALL[best]
}

/// When a header read with `used` is one cell that holds another separator, the text
/// of the refusal: the file is separated by that other character. `None` otherwise.
pub fn single_cell_hint(header: &[&str], used: Delimiter) -> Option<String> {
    let [cell] = header else { return None };
    let other = Delimiter::ALL
        .into_iter()
        .find(|d| *d != used && cell.as_bytes().contains(&d.byte()))?;
    Some(format!(
        "the header is the single column {cell:?} when cells are separated by {used}, \
         but it holds {other}: the file seems to be separated by {other}; give that \
         separator, or leave it to be detected from the header"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_line_decides() {
        assert_eq!(resolve(b"a,b,c\n1;2;3;4;5\n", None), Delimiter::Comma);
        assert_eq!(resolve(b"a;b;c\n1,2,3\n", None), Delimiter::Semicolon);
        assert_eq!(resolve(b"a\tb\tc\r\n", None), Delimiter::Tab);
        assert_eq!(resolve(b"\xEF\xBB\xBFa;b", None), Delimiter::Semicolon);
        assert_eq!(resolve(b"\n  \r\na;b\n", None), Delimiter::Semicolon);
        // Quoted separators do not count; a lone column is comma-separated.
        assert_eq!(resolve(b"\"a,b,c\";d\n", None), Delimiter::Semicolon);
        assert_eq!(resolve(b"ticket_id\n1\n", None), Delimiter::Comma);
        assert_eq!(resolve(b"", None), Delimiter::Comma);
        // Ties: comma first.
        assert_eq!(resolve(b"a,b;c", None), Delimiter::Comma);
        // A choice wins.
        assert_eq!(resolve(b"a;b;c", Some(Delimiter::Comma)), Delimiter::Comma);
    }

    #[test]
    fn names_parse() {
        for (s, d) in [
            (",", Delimiter::Comma),
            ("COMMA", Delimiter::Comma),
            (";", Delimiter::Semicolon),
            ("semicolon", Delimiter::Semicolon),
            ("tab", Delimiter::Tab),
            ("\\t", Delimiter::Tab),
            ("\t", Delimiter::Tab),
        ] {
            assert_eq!(s.parse::<Delimiter>(), Ok(d), "{s}");
        }
        assert!("|".parse::<Delimiter>().unwrap_err().contains("\"|\""));
    }

    #[test]
    fn a_single_cell_with_another_separator_is_named() {
        let h = single_cell_hint(&["ticket_id;tax_number;barcode"], Delimiter::Comma).unwrap();
        assert!(h.contains("seems to be separated by semicolon (;)"), "{h}");
        assert!(h.contains("\"ticket_id;tax_number;barcode\""), "{h}");
        assert_eq!(single_cell_hint(&["ticket_id"], Delimiter::Comma), None);
        assert_eq!(single_cell_hint(&["a", "b;c"], Delimiter::Comma), None);
    }
}
