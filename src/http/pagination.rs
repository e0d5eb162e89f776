//! Keyset pagination shared by every list: `?limit=` (1-200, default 50),
//! an opaque `?cursor=`, a `{"items", "next"}` body and a `Link` header.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde::{de::DeserializeOwned, Serialize};

use super::problem::{ApiError, InvalidParam};

pub(crate) const DEFAULT_LIMIT: u32 = 50;
pub(crate) const MAX_LIMIT: u32 = 200;
/// Longest cursor accepted; real ones are far shorter.
pub(crate) const MAX_CURSOR_LEN: usize = 512;

/// The page a caller asked for, parsed.
#[derive(Debug, Clone)]
pub(crate) struct PageRequest<K> {
    pub limit: u32,
    /// The key of the last item of the previous page; `None` for the first page.
    pub after: Option<K>,
}

impl<K: DeserializeOwned> PageRequest<K> {
    /// Parses the `limit` and `cursor` query values. `limit` bounds are
    /// declared on the operation and checked by poem-openapi; this checks
    /// them again so a list cannot be misused from another route.
    pub(crate) fn parse(limit: Option<u32>, cursor: Option<&str>) -> Result<Self, ApiError> {
        Self::parse_named(limit, cursor, "cursor")
    }

    /// Like [`PageRequest::parse`], for a cursor parameter of another name.
    pub(crate) fn parse_named(
        limit: Option<u32>,
        cursor: Option<&str>,
        name: &str,
    ) -> Result<Self, ApiError> {
        let mut problems = Vec::new();
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            problems.push(InvalidParam::new(
                "limit",
                "out_of_range",
                format!("limit must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let after = match cursor {
            None | Some("") => None,
            Some(c) => {
                match decode_cursor::<K>(c) {
                    Some(k) => Some(k),
                    None => {
                        problems.push(InvalidParam::new(
                        name,
                        "invalid",
                        format!("{name} is not a cursor this service issued; start again without it"),
                    ));
                        None
                    }
                }
            }
        };
        if problems.is_empty() {
            Ok(Self { limit, after })
        } else {
            Err(ApiError::invalid(problems))
        }
    }

    /// How many rows to fetch: one more than the page, to know whether there is a next.
    pub(crate) fn fetch_limit(&self) -> u64 {
        u64::from(self.limit) + 1
    }
}

impl<K: Serialize> PageRequest<K> {
    /// The fetched rows (at most [`PageRequest::fetch_limit`]) cut to this
    /// page, with the next page's cursor made from the last row's key.
    pub(crate) fn cut<R>(
        &self,
        rows: Vec<R>,
        key_of: impl Fn(&R) -> K,
    ) -> Result<Page<R>, ApiError> {
        let (rows, next) = paginate(rows, self.limit, key_of)?;
        Ok(Page { rows, next })
    }
}

/// One page of rows (or of the items shown for them) and the cursor of the
/// next page: what every list answers with ([`list_types!`]'s `page`).
#[derive(Debug)]
pub(crate) struct Page<R> {
    pub rows: Vec<R>,
    /// `None` on the last page.
    pub next: Option<String>,
}

impl<R> Page<R> {
    /// Each row shown as an item.
    pub(crate) fn map<T>(self, show: impl FnMut(R) -> T) -> Page<T> {
        Page {
            rows: self.rows.into_iter().map(show).collect(),
            next: self.next,
        }
    }

    /// Each row shown as an item; a row that cannot be shown fails the page
    /// (an internal error, never a shorter page).
    pub(crate) fn try_map<T, E>(self, show: impl FnMut(R) -> Result<T, E>) -> Result<Page<T>, E> {
        Ok(Page {
            rows: self.rows.into_iter().map(show).collect::<Result<_, _>>()?,
            next: self.next,
        })
    }
}

/// Encodes a keyset position as an opaque cursor.
/// A key that cannot be written is an internal error, never an empty cursor
/// (which would read as "no more pages", or start the list again).
pub(crate) fn encode_cursor<K: Serialize>(key: &K) -> Result<String, ApiError> {
    let json = serde_json::to_vec(key).map_err(|e| {
        tracing::error!(error = %e, "a page cursor could not be written");
        ApiError::internal()
    })?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

fn decode_cursor<K: DeserializeOwned>(cursor: &str) -> Option<K> {
    if cursor.len() > MAX_CURSOR_LEN {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Cuts the fetched rows (at most `limit + 1`) to a page and makes the next cursor.
fn paginate<R, K: Serialize>(
    mut rows: Vec<R>,
    limit: u32,
    key_of: impl Fn(&R) -> K,
) -> Result<(Vec<R>, Option<String>), ApiError> {
    let limit = limit as usize;
    if rows.len() > limit {
        rows.truncate(limit);
        let next = rows
            .last()
            .map(|last| encode_cursor(&key_of(last)))
            .transpose()?;
        Ok((rows, next))
    } else {
        Ok((rows, None))
    }
}

/// The `Link` header value for the next page: the same address and query, with
/// the cursor replaced.
///
/// `uri` is the request's, as a handler sees it: poem's `nest` has taken
/// `/api/v1` off its path (the original URI still has it; both work), and the
/// link is made under `CASEDESK_PUBLIC_URL` with any path prefix it has.
pub(crate) fn next_link(
    public_url: &url::Url,
    uri: &poem::http::Uri,
    next: &str,
) -> Option<String> {
    let path = uri.path();
    let path = path.strip_prefix(super::API_BASE).unwrap_or(path);
    let mut link = url::Url::parse(&super::resource_url(public_url, path)).ok()?;
    let kept: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .filter(|(k, _)| k != "cursor")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    {
        let mut query = link.query_pairs_mut();
        query.clear();
        for (k, v) in &kept {
            query.append_pair(k, v);
        }
        query.append_pair("cursor", next);
    }
    Some(format!("<{link}>; rel=\"next\""))
}

/// Declares a list body (`{"items": [...], "next": ...}`) and the 200 response
/// that carries it with its `Link` header.
///
/// `list_types!(serde Page, ...)` is the form for the hot lists: the body is
/// written straight from `serde::Serialize` ([`crate::http::json::SerdeJson`]),
/// so the item type must serialise exactly as its `ToJSON` (a test per item
/// type holds them equal).
#[macro_export]
macro_rules! list_types {
    ($page:ident, $response:ident, $item:ty, $what:literal) => {
        $crate::list_types!(@with [poem_openapi::payload::Json] [] $page, $response, $item, $what);
    };
    (serde $page:ident, $response:ident, $item:ty, $what:literal) => {
        $crate::list_types!(@with [$crate::http::json::SerdeJson] [, serde::Serialize] $page, $response, $item, $what);
    };
    (@with [$($payload:tt)+] [$($derive:tt)*] $page:ident, $response:ident, $item:ty, $what:literal) => {
        #[doc = concat!("A page of ", $what, ".")]
        #[derive(Debug, Clone, poem_openapi::Object $($derive)*)]
        #[oai(rename_all = "camelCase")]
        pub struct $page {
            #[doc = concat!("The ", $what, " on this page.")]
            pub items: Vec<$item>,
            /// The cursor of the next page, or null on the last page.
            pub next: Option<String>,
        }

        #[derive(Debug, poem_openapi::ApiResponse)]
        pub enum $response {
            #[doc = concat!("A page of ", $what, ".")]
            #[oai(status = 200)]
            Ok(
                $($payload)+<$page>,
                /// `<...>; rel="next"` when there is a next page.
                #[oai(header = "Link")]
                Option<String>,
            ),
        }

        impl $response {
            /// The answer to a list request (`uri`, as the handler sees it):
            /// the page's items, its `next` cursor and the `Link` to it.
            pub(crate) fn page(
                page: $crate::http::pagination::Page<$item>,
                public_url: &url::Url,
                uri: &poem::http::Uri,
            ) -> Self {
                let $crate::http::pagination::Page { rows: items, next } = page;
                let link = next
                    .as_deref()
                    .and_then(|n| $crate::http::pagination::next_link(public_url, uri, n));
                Self::Ok($($payload)+($page { items, next }), link)
            }
        }
    };
}

/// Declares the 201 answer of a create: the new resource, its absolute
/// address in `Location` ([`crate::http::resource_url`]) and its `ETag`.
#[macro_export]
macro_rules! created_response {
    ($response:ident, $item:ty, $what:literal) => {
        #[derive(Debug, poem_openapi::ApiResponse)]
        pub enum $response {
            #[doc = concat!("The ", $what, ", created.")]
            #[oai(status = 201)]
            Created(
                poem_openapi::payload::Json<$item>,
                #[doc = concat!("The ", $what, "'s address.")]
                #[oai(header = "Location")]
                String,
                /// The version, for `If-Match`.
                #[oai(header = "ETag")]
                String,
            ),
        }

        impl $response {
            /// The answer to a create: the item, its address (`path` under
            /// the public URL) and its version's ETag.
            pub fn at(item: $item, public_url: &url::Url, path: &str, version: i32) -> Self {
                Self::Created(
                    poem_openapi::payload::Json(item),
                    $crate::http::resource_url(public_url, path),
                    $crate::http::etag(version),
                )
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_rejects_garbage() {
        let c = encode_cursor(&("2026-01-01".to_owned(), 42_u64)).unwrap_or_default();
        let page = PageRequest::<(String, u64)>::parse(Some(10), Some(&c)).ok();
        assert_eq!(
            page.and_then(|p| p.after),
            Some(("2026-01-01".to_owned(), 42))
        );
        assert!(PageRequest::<(String, u64)>::parse(None, Some("not a cursor")).is_err());
        assert!(PageRequest::<u64>::parse(Some(0), None).is_err());
        assert!(PageRequest::<u64>::parse(Some(201), None).is_err());
    }

    #[test]
    fn paginate_sets_next_only_when_more() {
        let (rows, next) = paginate(vec![1, 2, 3], 2, |r| *r).unwrap_or_default();
        assert_eq!(rows, vec![1, 2]);
        assert_eq!(next, encode_cursor(&2).ok());
        let (rows, next) = paginate(vec![1, 2], 2, |r| *r).unwrap_or_default();
        assert_eq!((rows.len(), next), (2, None));
    }

    #[test]
    fn link_keeps_the_api_base_and_the_public_urls_prefix() {
        let base = url::Url::parse("https://city.example/casedesk/").ok();
        // as a handler under `nest("/api/v1", ...)` sees it
        let uri: poem::http::Uri = "/placements?limit=1".parse().unwrap_or_default();
        let link = base.and_then(|b| next_link(&b, &uri, "C"));
        assert_eq!(
            link.as_deref(),
            Some(
                "<https://city.example/casedesk/api/v1/placements?limit=1&cursor=C>; rel=\"next\""
            )
        );
    }

    #[test]
    fn link_replaces_cursor_and_keeps_filters() {
        let base = url::Url::parse("https://casedesk.example/").ok();
        let uri: poem::http::Uri = "/api/v1/staff?role=admin&cursor=old&limit=2"
            .parse()
            .unwrap_or_default();
        let link = base.and_then(|b| next_link(&b, &uri, "NEW"));
        assert_eq!(
            link.as_deref(),
            Some("<https://casedesk.example/api/v1/staff?role=admin&limit=2&cursor=NEW>; rel=\"next\"")
        );
    }
}
