//! Venue-local time (issue 7 item 3): sites and organizations carry an IANA time zone
//! (`Europe/Paris`), the zone of the venue. Times written without an offset are read
//! in it, the wallet receives times with the venue's offset (so a phone shows local
//! time), and calendar arithmetic (`+1d`) follows the venue's calendar across
//! daylight-saving changes.
//!
//! Zone data comes from `chrono-tz` (the IANA database compiled in, the companion
//! crate of `chrono` that the project already uses), never from hand-written offsets.
//!
//! # Rules (the README's)
//!
//! - The zone of a ticket is its site's (the performance's site, else the product's),
//!   else the organization's; a store from before zones existed has `UTC` for every
//!   organization and no zone on its sites.
//! - A local time that does not exist (the hour skipped when clocks go forward) or that
//!   exists twice (the hour repeated when clocks go back) is refused: the message
//!   names the zone and asks for the time with its offset.
//! - Calendar arithmetic: `+N d` / `+N w` move the venue's wall clock by N days (7N);
//!   a result in a skipped hour moves forward by the length of the gap (02:30 on the
//!   day clocks go forward is 03:30), a repeated one takes the first (summer-time)
//!   reading. Hours and minutes are exact durations.

use chrono::{DateTime, Days, LocalResult, NaiveDateTime, Offset, SecondsFormat, TimeZone, Utc};
pub use chrono_tz::Tz;

/// The zone of stores and files that name none.
pub const DEFAULT_ZONE: Tz = Tz::UTC;

/// Parses an IANA zone name (`Europe/Paris`, `UTC`); exact spelling as in the IANA
/// database. The error names the value.
pub fn parse_zone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>()
        .map_err(|_| format!("{name:?} is not an IANA time zone name such as Europe/Paris or UTC"))
}

/// The instant a wall-clock time of `zone` stands for; a time skipped or repeated by a
/// daylight-saving change is refused (module rules).
pub fn from_local(local: NaiveDateTime, zone: Tz) -> Result<DateTime<Utc>, String> {
    let shown = local.format("%Y-%m-%d %H:%M");
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => Err(format!(
            "{shown} happens twice in {zone} (at {} and at {}: the clocks go back); write \
             the time with its offset, such as {}",
            a.offset().fix(),
            b.offset().fix(),
            a.to_rfc3339_opts(SecondsFormat::Secs, true)
        )),
        LocalResult::None => Err(format!(
            "{shown} does not exist in {zone} (the clocks go forward over it); write the \
             time with its offset or choose another time"
        )),
    }
}

/// A time as the import reads it: RFC 3339 with an offset (kept as that instant), or
/// `YYYY-MM-DD HH:MM` / `YYYY-MM-DDTHH:MM:SS` read as wall-clock time of `zone`.
pub fn parse_time(v: &str, zone: Tz) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(local) = NaiveDateTime::parse_from_str(v, format) {
            return from_local(local, zone);
        }
    }
    Err(format!(
        "{v:?} is not an RFC 3339 time (such as 2026-07-19T21:00:00+02:00) nor \
         YYYY-MM-DD HH:MM (read in {zone})"
    ))
}

/// `t` as RFC 3339 with `zone`'s offset at that instant, to the second
/// (`2026-07-19T21:00:00+02:00`; `Z` where the offset is zero).
pub fn rfc3339_in(t: DateTime<Utc>, zone: Tz) -> String {
    t.with_timezone(&zone)
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `t` moved by `days` calendar days of `zone` (negative: back), by the module's rule
/// for skipped and repeated hours. `None` only past the calendar's range.
pub fn add_days(t: DateTime<Utc>, days: i64, zone: Tz) -> Option<DateTime<Utc>> {
    let here = t.with_timezone(&zone);
    let local = here.naive_local();
    let moved = if days >= 0 {
        local.checked_add_days(Days::new(days.unsigned_abs()))?
    } else {
        local.checked_sub_days(Days::new(days.unsigned_abs()))?
    };
    Some(match zone.from_local_datetime(&moved) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        // In a gap: read the wall clock with the offset in force just before it.
        LocalResult::None => {
            let before = zone
                .offset_from_utc_datetime(&(moved - chrono::Duration::days(1)))
                .fix();
            (moved - before).and_utc()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paris() -> Tz {
        parse_zone("Europe/Paris").unwrap()
    }

    #[test]
    fn local_times_take_the_zone_offset() {
        let t = parse_time("2026-07-19 21:00", paris()).unwrap();
        assert_eq!(rfc3339_in(t, paris()), "2026-07-19T21:00:00+02:00");
        assert_eq!(t.to_rfc3339(), "2026-07-19T19:00:00+00:00");
        let w = parse_time("2026-12-19 21:00", paris()).unwrap();
        assert_eq!(rfc3339_in(w, paris()), "2026-12-19T21:00:00+01:00");
        // An offset wins over the zone; UTC shows as Z.
        let z = parse_time("2026-07-19T19:00:00Z", paris()).unwrap();
        assert_eq!(z, t);
        assert_eq!(rfc3339_in(z, DEFAULT_ZONE), "2026-07-19T19:00:00Z");
    }

    #[test]
    fn skipped_and_repeated_hours_are_refused() {
        let gap = parse_time("2026-03-29 02:30", paris()).unwrap_err();
        assert!(gap.contains("does not exist in Europe/Paris"), "{gap}");
        let twice = parse_time("2026-10-25 02:30", paris()).unwrap_err();
        assert!(twice.contains("happens twice in Europe/Paris"), "{twice}");
        assert!(twice.contains("2026-10-25T02:30:00+02:00"), "{twice}");
    }

    #[test]
    fn unknown_zones_are_named() {
        let e = parse_zone("Mars/Olympus").unwrap_err();
        assert!(e.contains("\"Mars/Olympus\""), "{e}");
        assert_eq!(parse_zone("UTC").unwrap(), Tz::UTC);
    }

    #[test]
    fn days_are_calendar_days_of_the_venue() {
        // 24 October 2026 20:00 in Paris (+02:00) + 1 day = 25 October 20:00 (+01:00):
        // 25 hours later.
        let t = parse_time("2026-10-24 20:00", paris()).unwrap();
        let next = add_days(t, 1, paris()).unwrap();
        assert_eq!(rfc3339_in(next, paris()), "2026-10-25T20:00:00+01:00");
        assert_eq!((next - t).num_hours(), 25);
        assert_eq!(add_days(next, -1, paris()), Some(t));
        // Into the spring gap: 02:30 does not exist on 29 March, it is 03:30.
        let before = parse_time("2026-03-28 02:30", paris()).unwrap();
        let moved = add_days(before, 1, paris()).unwrap();
        assert_eq!(rfc3339_in(moved, paris()), "2026-03-29T03:30:00+02:00");
        // Into the autumn repeat: the first 02:30.
        let before = parse_time("2026-10-24 02:30", paris()).unwrap();
        let moved = add_days(before, 1, paris()).unwrap();
        assert_eq!(rfc3339_in(moved, paris()), "2026-10-25T02:30:00+02:00");
    }
}
