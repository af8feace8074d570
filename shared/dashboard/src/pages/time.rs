//! Dates as the pages show them, in UTC (the logs' timestamps are Unix
//! seconds; no time-zone database is needed for UTC).

use secure2fa_core::UnixTime;

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
pub(crate) fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `2026-11-27`
pub(crate) fn date(t: UnixTime) -> String {
    let (y, m, d) = civil(t.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `2026-11-27 17:05:09 UTC`
pub(crate) fn date_time(t: UnixTime) -> String {
    let s = t.rem_euclid(86_400);
    format!("{} {:02}:{:02}:{:02} UTC", date(t), s / 3600, s % 3600 / 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_match_known_days() {
        assert_eq!(date_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(date_time(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(date_time(1_795_798_800 + 3_723), "2026-11-27 18:02:03 UTC");
        assert_eq!(date(-1), "1969-12-31");
    }
}
