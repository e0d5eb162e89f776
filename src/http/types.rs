//! Wire types for time: timestamps as RFC 3339 in UTC with `Z`, calendar
//! dates as `date` (poem-openapi's defaults print `+00:00` and `naive-date`).

use std::borrow::Cow;

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Timelike, Utc};
use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type},
};
use serde_json::Value;

/// A point in time. Requests may carry any offset; responses are UTC (`Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

impl From<DateTime<Utc>> for Timestamp {
    fn from(t: DateTime<Utc>) -> Self {
        Self(t)
    }
}

fn parse_timestamp(text: &str) -> ParseResult<Timestamp> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| Timestamp(t.with_timezone(&Utc)))
        .map_err(|_| ParseError::custom("expected a timestamp such as 2026-11-28T09:30:00Z"))
}

impl Type for Timestamp {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string_date-time".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut schema = MetaSchema::new_with_format("string", "date-time");
        schema.example = Some(Value::String("2026-11-28T09:30:00Z".to_owned()));
        MetaSchemaRef::Inline(Box::new(schema))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromJSON for Timestamp {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(s) => parse_timestamp(&s),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl ParseFromParameter for Timestamp {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        parse_timestamp(value)
    }
}

impl ToJSON for Timestamp {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.to_text()))
    }
}

impl Timestamp {
    /// RFC 3339 in UTC with `Z`, as every response writes it.
    pub(crate) fn to_text(self) -> String {
        let mut buf = [0; TIMESTAMP_MAX];
        match timestamp_text(&self.0, &mut buf) {
            Some(text) => text.to_owned(),
            None => self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        }
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0; TIMESTAMP_MAX];
        match timestamp_text(&self.0, &mut buf) {
            Some(text) => s.serialize_str(text),
            None => s.serialize_str(&self.to_text()),
        }
    }
}

// Dates and timestamps written digit by digit. chrono writes them through
// `core::fmt`, a call per character; a list page of 50 placements writes 200
// dates and 100 timestamps, and that was an eighth of the request's CPU. The
// text is chrono's exactly (a test compares them over the whole range); years
// outside 0-9999 and leap seconds, which chrono writes differently, are left
// to chrono.

/// Built with the `chrono-text` feature, every date and timestamp is left to
/// chrono: the build the benchmark compares this one with.
const CHRONO_TEXT: bool = cfg!(feature = "chrono-text");

const TIMESTAMP_MAX: usize = "2026-11-28T09:30:00.123456789Z".len();

fn two(out: &mut [u8], at: usize, n: u32) {
    out[at] = b'0' + (n / 10 % 10) as u8;
    out[at + 1] = b'0' + (n % 10) as u8;
}

/// `YYYY-MM-DD` into `out[..10]`, if the year has four digits.
fn date_digits(date: NaiveDate, out: &mut [u8]) -> Option<()> {
    if CHRONO_TEXT {
        return None;
    }
    let year = u32::try_from(date.year()).ok().filter(|y| *y <= 9999)?;
    two(out, 0, year / 100);
    two(out, 2, year % 100);
    out[4] = b'-';
    two(out, 5, date.month());
    out[7] = b'-';
    two(out, 8, date.day());
    Some(())
}

/// A date as chrono writes it (`2026-11-28`), or `None` where it would not be
/// four digits of year.
pub(crate) fn date_text(date: NaiveDate, buf: &mut [u8; 10]) -> Option<&str> {
    date_digits(date, buf)?;
    std::str::from_utf8(buf).ok()
}

/// A timestamp as `to_rfc3339_opts(SecondsFormat::AutoSi, true)` writes it:
/// no fraction, or 3, 6 or 9 digits, whichever is exact.
fn timestamp_text<'b>(t: &DateTime<Utc>, buf: &'b mut [u8; TIMESTAMP_MAX]) -> Option<&'b str> {
    // UTC's offset is zero: the naive parts are the text's (each accessor
    // of the `DateTime` itself would add the offset again)
    let naive = t.naive_utc();
    let (date, time) = (naive.date(), naive.time());
    let nanos = time.nanosecond();
    if CHRONO_TEXT || nanos >= 1_000_000_000 {
        return None; // a leap second
    }
    date_digits(date, buf)?;
    buf[10] = b'T';
    let seconds = time.num_seconds_from_midnight();
    two(buf, 11, seconds / 3600);
    buf[13] = b':';
    two(buf, 14, seconds / 60 % 60);
    buf[16] = b':';
    two(buf, 17, seconds % 60);
    let (fraction, digits) = if nanos == 0 {
        (0, 0)
    } else if nanos % 1_000_000 == 0 {
        (nanos / 1_000_000, 3)
    } else if nanos % 1_000 == 0 {
        (nanos / 1_000, 6)
    } else {
        (nanos, 9)
    };
    let mut end = 19;
    if digits > 0 {
        buf[end] = b'.';
        let mut rest = fraction;
        for i in (0..digits).rev() {
            buf[end + 1 + i] = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        end += 1 + digits;
    }
    buf[end] = b'Z';
    std::str::from_utf8(&buf[..=end]).ok()
}

/// `serialize_with` for a date: the same text as chrono's `Serialize`.
pub(crate) fn serialize_date<S: serde::Serializer>(
    date: &NaiveDate,
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut buf = [0; 10];
    match date_text(*date, &mut buf) {
        Some(text) => s.serialize_str(text),
        None => serde::Serialize::serialize(date, s),
    }
}

/// `serialize_with` for an optional date.
pub(crate) fn serialize_optional_date<S: serde::Serializer>(
    date: &Option<NaiveDate>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match date {
        Some(d) => serialize_date(d, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
#[cfg(not(feature = "chrono-text"))]
mod tests {
    use chrono::{NaiveDate, SecondsFormat, TimeDelta, TimeZone, Utc};

    use super::{date_text, Timestamp};

    fn chrono_date(d: NaiveDate) -> String {
        serde_json::to_value(d)
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn dates_are_written_as_chrono_writes_them() {
        // every day of the years around the ends of the four-digit range and
        // of two centuries in between
        let mut fast = 0;
        for (from, to) in [(-3, 40), (1890, 2110), (9960, 10_002)] {
            let mut day = NaiveDate::from_ymd_opt(from, 1, 1).unwrap();
            let last = NaiveDate::from_ymd_opt(to, 12, 31).unwrap();
            while day <= last {
                let mut buf = [0; 10];
                let expected = chrono_date(day);
                match date_text(day, &mut buf) {
                    Some(text) => {
                        assert_eq!(text, expected);
                        fast += 1;
                    }
                    // only the years chrono writes with a sign or five digits
                    None => assert!(expected.starts_with('+') || expected.starts_with('-')),
                }
                let mut out = Vec::new();
                super::serialize_date(&day, &mut serde_json::Serializer::new(&mut out)).unwrap();
                assert_eq!(out, serde_json::to_vec(&day).unwrap());
                day += TimeDelta::days(1);
            }
        }
        // the years 0-40, 1890-2110 and 9960-9999 took the fast path
        let years = |from: i32, to: i32| {
            let first = NaiveDate::from_ymd_opt(from, 1, 1).unwrap();
            (NaiveDate::from_ymd_opt(to + 1, 1, 1).unwrap() - first).num_days()
        };
        assert_eq!(fast, years(0, 40) + years(1890, 2110) + years(9960, 9999));
        let mut out = Vec::new();
        super::serialize_optional_date(&None, &mut serde_json::Serializer::new(&mut out)).unwrap();
        assert_eq!(out, b"null");
    }

    #[test]
    fn timestamps_are_written_as_chrono_writes_them() {
        let check = |t: chrono::DateTime<Utc>| {
            let expected = t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
            let stamp = Timestamp(t);
            assert_eq!(stamp.to_text(), expected);
            assert_eq!(
                serde_json::to_string(&stamp).unwrap(),
                format!("\"{expected}\"")
            );
        };
        // no fraction, milliseconds, microseconds and nanoseconds, over
        // every hour, minute and second of a day and some years
        let fractions = [
            0,
            1,
            7,
            999,
            1_000,
            120_000,
            999_999,
            1_000_000,
            5_000_000,
            123_456_789,
            999_000_000,
            999_999_999,
        ];
        for year in [0, 1, 999, 1970, 2026, 9999] {
            let midnight = Utc.with_ymd_and_hms(year, 12, 31, 0, 0, 0).unwrap();
            for second in (0..86_400).step_by(59) {
                for nanos in fractions {
                    check(midnight + TimeDelta::seconds(second) + TimeDelta::nanoseconds(nanos));
                }
            }
        }
        // years chrono writes otherwise, and a leap second, go through chrono
        check(Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap());
        check(Utc.with_ymd_and_hms(-1, 1, 1, 0, 0, 0).unwrap());
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap()
            .and_utc();
        check(leap);
        assert!(Timestamp(leap).to_text().contains(":60.5"));
    }
}
