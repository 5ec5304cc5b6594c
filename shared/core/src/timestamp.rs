//! RFC 3339 instants in stored and served JSON, written and read without `core::fmt`.
//!
//! Every stored finding carries five instants (first and last seen, clock start, due date, the
//! timeline's entries), and chrono's serde goes through `fmt` both ways: about 7 % of a large
//! ingest's CPU was spent there. These functions give the very text chrono gives
//! (`SecondsFormat::AutoSi`, `Z`) and read it back on a fast path; any other shape (offsets,
//! leap seconds, years beyond 9999) goes to chrono, so what it accepts and rejects is unchanged.
//! Use with `#[serde(with = "crate::timestamp")]`, or `timestamp::option` for an `Option`.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, Utc};
use serde::{Deserializer, Serializer, de};

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`, the longest text the fast path writes.
const MAX_LEN: usize = 30;

pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let mut buffer = [0u8; MAX_LEN];
    match write_utc(at, &mut buffer) {
        Some(len) => serializer.serialize_str(std::str::from_utf8(&buffer[..len]).expect("ASCII digits")),
        None => serde::Serialize::serialize(at, serializer),
    }
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    deserializer.deserialize_str(InstantVisitor)
}

/// The same for an optional instant; pair with `#[serde(default)]`.
pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(at: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => serializer.serialize_some(&Instant(at)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        deserializer.deserialize_option(OptionVisitor)
    }

    struct Instant<'a>(&'a DateTime<Utc>);

    impl serde::Serialize for Instant<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            super::serialize(self.0, serializer)
        }
    }

    struct OptionVisitor;

    impl<'de> de::Visitor<'de> for OptionVisitor {
        type Value = Option<DateTime<Utc>>;

        fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
            formatter.write_str("an RFC 3339 formatted date and time string or null")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
            super::deserialize(deserializer).map(Some)
        }
    }
}

struct InstantVisitor;

impl de::Visitor<'_> for InstantVisitor {
    type Value = DateTime<Utc>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("an RFC 3339 formatted date and time string")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        match parse_utc(value.as_bytes()) {
            Some(at) => Ok(at),
            None => value
                .parse::<DateTime<FixedOffset>>()
                .map(|at| at.with_timezone(&Utc))
                .map_err(E::custom),
        }
    }
}

/// Writes chrono's `to_rfc3339_opts(SecondsFormat::AutoSi, true)` text into `buffer`; `None`
/// for what the fast path leaves to chrono (years outside 0..=9999, leap seconds).
fn write_utc(at: &DateTime<Utc>, buffer: &mut [u8; MAX_LEN]) -> Option<usize> {
    use chrono::{Datelike, Timelike};
    let year = u32::try_from(at.year()).ok().filter(|year| *year <= 9999)?;
    let nanos = at.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    put_digits(&mut buffer[0..4], year);
    buffer[4] = b'-';
    put_digits(&mut buffer[5..7], at.month());
    buffer[7] = b'-';
    put_digits(&mut buffer[8..10], at.day());
    buffer[10] = b'T';
    put_digits(&mut buffer[11..13], at.hour());
    buffer[13] = b':';
    put_digits(&mut buffer[14..16], at.minute());
    buffer[16] = b':';
    put_digits(&mut buffer[17..19], at.second());
    let (fraction, digits) = match nanos {
        0 => (0, 0),
        n if n % 1_000_000 == 0 => (n / 1_000_000, 3),
        n if n % 1_000 == 0 => (n / 1_000, 6),
        n => (n, 9),
    };
    let mut len = 19;
    if digits > 0 {
        buffer[19] = b'.';
        put_digits(&mut buffer[20..20 + digits], fraction);
        len = 20 + digits;
    }
    buffer[len] = b'Z';
    Some(len + 1)
}

/// `value` in decimal, zero-padded to fill `out`.
fn put_digits(out: &mut [u8], mut value: u32) {
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// The fast path: `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z` with a real date and a second below 60.
fn parse_utc(text: &[u8]) -> Option<DateTime<Utc>> {
    if text.len() < 20
        || text[4] != b'-'
        || text[7] != b'-'
        || text[10] != b'T'
        || text[13] != b':'
        || text[16] != b':'
        || text[text.len() - 1] != b'Z'
    {
        return None;
    }
    let nanos = match &text[19..text.len() - 1] {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            read_digits(fraction)? * 10u32.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(
        read_digits(&text[0..4])? as i32,
        read_digits(&text[5..7])?,
        read_digits(&text[8..10])?,
    )?;
    let second = read_digits(&text[17..19])?;
    if second > 59 {
        return None;
    }
    let time = NaiveTime::from_hms_nano_opt(read_digits(&text[11..13])?, read_digits(&text[14..16])?, second, nanos)?;
    Some(date.and_time(time).and_utc())
}

/// Decimal digits only (at most 9, so no overflow).
fn read_digits(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |value, digit| {
        digit.is_ascii_digit().then(|| value * 10 + u32::from(digit - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{SecondsFormat, TimeZone};
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Row {
        #[serde(with = "crate::timestamp")]
        at: DateTime<Utc>,
        #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::timestamp::option")]
        until: Option<DateTime<Utc>>,
    }

    /// chrono's own serde, the reference.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct ChronoRow {
        at: DateTime<Utc>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<DateTime<Utc>>,
    }

    fn instants() -> impl Iterator<Item = DateTime<Utc>> {
        // xorshift: instants spread over years 0..=9999 with every kind of fraction
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let first = Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap().timestamp();
        let last = Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap().timestamp();
        (0..50_000).map(move |i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let seconds = first + (state % (last - first) as u64) as i64;
            let nanos = match i % 4 {
                0 => 0,
                1 => (state >> 40) as u32 % 1_000 * 1_000_000,
                2 => (state >> 34) as u32 % 1_000_000 * 1_000,
                _ => (state >> 32) as u32 % 1_000_000_000,
            };
            Utc.timestamp_opt(seconds, nanos).unwrap()
        })
    }

    #[test]
    fn instants_are_written_and_read_as_chrono_writes_and_reads_them() {
        for at in instants().chain([
            Utc.with_ymd_and_hms(2026, 11, 29, 5, 31, 46).unwrap(),
            Utc.timestamp_opt(1_795_000_000, 546_447_222).unwrap(),
            Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 12, 31, 23, 59, 59).unwrap(),
            // a leap second
            Utc.timestamp_opt(1_483_228_799, 1_500_000_000).unwrap(),
        ]) {
            let ours = serde_json::to_string(&Row { at, until: Some(at) }).unwrap();
            let chrono = serde_json::to_string(&ChronoRow { at, until: Some(at) }).unwrap();
            assert_eq!(ours, chrono, "{at:?}");
            assert_eq!(
                serde_json::from_str::<Row>(&chrono).unwrap(),
                Row { at, until: Some(at) },
                "{chrono}"
            );
            assert!(
                ours.contains(&at.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
                "{ours}"
            );
        }
    }

    #[test]
    fn other_shapes_are_accepted_and_refused_exactly_as_chrono_does() {
        for text in [
            "2026-11-29T05:31:46Z",
            "2026-11-29T05:31:46.5Z",
            "2026-11-29T05:31:46.123456789Z",
            "2026-11-29T05:31:46.1234567891Z",
            "2026-11-29T05:31:46+02:00",
            "2026-11-29T05:31:46.25-07:30",
            "2026-11-29t05:31:46z",
            "2026-11-29 05:31:46Z",
            "2016-12-31T23:59:60Z",
            "2026-02-29T00:00:00Z",
            "2024-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-31T00:00:00Z",
            "2026-11-29T24:00:00Z",
            "2026-11-29T05:60:00Z",
            "2026-11-29T05:31:46.Z",
            "2026-11-29T05:31:46",
            "2026-11-29",
            "+2026-11-29T05:31:46Z",
            "2026-1a-29T05:31:46Z",
            "",
        ] {
            let json = format!(r#"{{"at":"{text}"}}"#);
            let ours = serde_json::from_str::<Row>(&json)
                .map(|row| row.at)
                .map_err(|e| e.to_string());
            let chrono = serde_json::from_str::<ChronoRow>(&json)
                .map(|row| row.at)
                .map_err(|e| e.to_string());
            assert_eq!(ours, chrono, "{text}");
        }
    }

    #[test]
    fn an_absent_or_null_optional_instant_is_none_and_is_not_written() {
        let row: Row = serde_json::from_str(r#"{"at":"2026-11-29T05:31:46Z","until":null}"#).unwrap();
        assert_eq!(row.until, None);
        let row: Row = serde_json::from_str(r#"{"at":"2026-11-29T05:31:46Z"}"#).unwrap();
        assert_eq!(row.until, None);
        assert_eq!(serde_json::to_string(&row).unwrap(), r#"{"at":"2026-11-29T05:31:46Z"}"#);
        assert!(serde_json::from_str::<Row>(r#"{"at":"2026-11-29T05:31:46Z","until":7}"#).is_err());
    }
}
