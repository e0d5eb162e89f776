//! Deprecations and their signals. A request that uses a deprecated feature
//! is served as before, and its answer says so: `Deprecation` (RFC 9745,
//! the moment it was deprecated, as `@<unix time>`), `Sunset` (RFC 8594,
//! the moment after which it may stop working) and a `Link` with
//! `rel="deprecation"` to the changelog's entry. The policy is in the
//! README ("Deprecations"): at least six months between the two, and a
//! feature goes only with a new major version.

use std::cell::RefCell;

use poem::{http::HeaderValue, Response};

/// A deprecated feature.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Deprecated {
    /// For the log.
    pub name: &'static str,
    /// When it was deprecated (unix time).
    pub since: i64,
    /// When it may stop working (an HTTP date), at least six months later.
    pub sunset: &'static str,
}

/// Clearing a field of a `PATCH` with an empty text (`""`): send `null`, as
/// JSON Merge Patch does.
pub(crate) const EMPTY_TEXT_CLEARS: Deprecated = Deprecated {
    name: "empty-text-clears",
    since: 1_796_601_600, // 2026-12-07T00:00:00Z
    sunset: "Mon, 07 Jun 2027 00:00:00 GMT",
};

/// Every feature deprecated now (the spec and the tests list them).
pub(crate) const ALL: &[&Deprecated] = &[&EMPTY_TEXT_CLEARS];

/// Where a client reads what is deprecated and what to do instead.
pub(crate) const LINK: &str =
    "<https://github.com/casedesk/casedesk/blob/main/CHANGELOG.md#deprecated>; rel=\"deprecation\"; type=\"text/markdown\"";

tokio::task_local! {
    static USED: RefCell<Vec<&'static Deprecated>>;
}

/// Notes that the request being served used `feature` (outside a request:
/// nothing).
pub(crate) fn used(feature: &'static Deprecated) {
    let _ = USED.try_with(|u| {
        let mut u = u.borrow_mut();
        if !u.contains(&feature) {
            u.push(feature);
        }
    });
}

/// Runs the request `f`, and answers what it gave with the deprecated
/// features it used.
pub(crate) async fn scope<F: std::future::Future>(f: F) -> (F::Output, Vec<&'static Deprecated>) {
    USED.scope(RefCell::new(Vec::new()), async {
        let out = f.await;
        let used = USED.with(|u| u.borrow().clone());
        (out, used)
    })
    .await
}

/// The signals of `used` on `resp`: the earliest deprecation and sunset.
pub(crate) fn set_headers(resp: &mut Response, used: &[&'static Deprecated]) {
    let Some(first) = used.iter().min_by_key(|d| d.since) else {
        return;
    };
    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("@{}", first.since)) {
        headers.insert("deprecation", v);
    }
    headers.insert("sunset", HeaderValue::from_static(first.sunset));
    headers.append(poem::http::header::LINK, HeaderValue::from_static(LINK));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sunset_is_at_least_six_months_after_its_deprecation() {
        for d in ALL {
            let sunset = chrono::DateTime::parse_from_rfc2822(d.sunset)
                .unwrap_or_else(|e| panic!("{}: {e}", d.name));
            let months = (sunset.timestamp() - d.since) / (24 * 3600);
            assert!(months >= 182, "{}: {months} days", d.name);
        }
    }
}
