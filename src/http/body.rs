//! `JsonBody<T>`: the request body of every operation. Unlike poem-openapi's
//! `Json<T>`, which stops at the first problem, it checks the whole body
//! against the schema the spec publishes and reports **all** problems at once
//! in `invalidParams`, and it refuses fields the schema does not know.

use std::ops::Deref;

use poem::{FromRequest, Request, RequestBody, Result};
use poem_openapi::{
    payload::{ParsePayload, Payload},
    registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry},
    types::{ParseFromJSON, Type},
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
};
use serde_json::Value;

use super::problem::{ApiError, InvalidParam};

/// A JSON request body, validated against its published schema.
#[derive(Debug, Clone)]
pub(crate) struct JsonBody<T>(pub T);

impl<T> Deref for JsonBody<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<T: Type> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        is_json(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ParseFromJSON> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> Result<Self> {
        let data = <Vec<u8> as FromRequest>::from_request(request, body).await?;
        let merge_patch = request.method() == poem::http::Method::PATCH;
        let value = parse_and_check::<T>(&data, merge_patch)?;
        match T::parse_from_json(Some(value)) {
            Ok(v) => Ok(Self(v)),
            Err(err) => Err(ApiError::invalid(vec![InvalidParam::new(
                "body",
                "invalid",
                err.into_message(),
            )])
            .into()),
        }
    }
}

impl<'a, T: ParseFromJSON> ApiExtractor<'a> for JsonBody<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Self as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: <Self as Payload>::CONTENT_TYPE,
                schema: <Self as Payload>::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> Result<Self> {
        match request.content_type() {
            Some(ct) if is_json(ct) => <Self as ParsePayload>::from_request(request, body).await,
            Some(ct) => Err(poem_openapi::error::ContentTypeError::NotSupported {
                content_type: ct.to_owned(),
            }
            .into()),
            None => Err(poem_openapi::error::ContentTypeError::ExpectContentType.into()),
        }
    }
}

/// Deepest nesting accepted in a body; real bodies are shallow.
const MAX_DEPTH: usize = 32;

/// The body as JSON, checked against `T`'s schema; a `merge_patch` body (a
/// PATCH, RFC 7396) may send `null` only for a field that can be cleared.
fn parse_and_check<T: Type>(
    data: &[u8],
    merge_patch: bool,
) -> std::result::Result<Value, ApiError> {
    if data.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid(vec![InvalidParam::new(
            "body",
            "required",
            "A JSON body is required.",
        )]));
    }
    let mut value: Value = serde_json::from_slice(data).map_err(|e| {
        ApiError::invalid(vec![InvalidParam::new(
            "body",
            "malformed_json",
            format!(
                "The body is not valid JSON ({} at line {}, column {}).",
                match e.classify() {
                    serde_json::error::Category::Eof => "it ends too early",
                    serde_json::error::Category::Syntax => "syntax error",
                    serde_json::error::Category::Data => "wrong data",
                    serde_json::error::Category::Io => "unreadable",
                },
                e.line(),
                e.column()
            ),
        )])
    })?;
    if has_duplicate_keys(data) {
        return Err(ApiError::invalid(vec![InvalidParam::new(
            "body",
            "duplicate_key",
            "An object in the body names the same key twice; send each key once.",
        )]));
    }
    let mut registry = Registry::new();
    T::register(&mut registry);
    let mut problems = Vec::new();
    check(
        &registry,
        &T::schema_ref(),
        &mut value,
        "",
        0,
        &mut problems,
    );
    if merge_patch {
        check_clearing(&registry, &T::schema_ref(), &value, &mut problems);
    }
    if problems.is_empty() {
        Ok(value)
    } else {
        Err(ApiError::invalid(problems))
    }
}

/// Whether any object in the (already well-formed) JSON repeats a key:
/// `serde_json` would keep the last, so the service could store something
/// other than what a reader of the body sees first.
fn has_duplicate_keys(data: &[u8]) -> bool {
    use serde::de::{DeserializeSeed, Deserializer, Error, MapAccess, SeqAccess, Visitor};

    struct Walk;
    impl<'de> DeserializeSeed<'de> for Walk {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
            d.deserialize_any(Walk)
        }
    }
    impl<'de> Visitor<'de> for Walk {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_bool<E>(self, _: bool) -> std::result::Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> std::result::Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> std::result::Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> std::result::Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> std::result::Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> std::result::Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
            while seq.next_element_seed(Walk)?.is_some() {}
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
            let mut seen = std::collections::HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                if !seen.insert(key) {
                    return Err(A::Error::custom("duplicate key"));
                }
                map.next_value_seed(Walk)?;
            }
            Ok(())
        }
    }
    let mut de = serde_json::Deserializer::from_slice(data);
    Walk.deserialize(&mut de).is_err()
}

/// In a JSON Merge Patch `null` removes a field: refused for a field that
/// cannot be empty (the schema does not allow `null` for it), where leaving
/// it out keeps it. The top level only: nested objects are replaced whole.
fn check_clearing(
    registry: &Registry,
    schema: &MetaSchemaRef,
    value: &Value,
    out: &mut Vec<InvalidParam>,
) {
    let (Some(schema), Some(map)) = (resolve(registry, schema), value.as_object()) else {
        return;
    };
    for (key, item) in map {
        let Some((_, prop)) = schema.properties.iter().find(|(n, _)| n == key) else {
            continue;
        };
        let nullable = matches!(prop, MetaSchemaRef::Inline(p) if p.nullable);
        if nullable && item.as_str() == Some("") {
            // clearing with "" still works, deprecated: `null` is the way
            super::deprecation::used(&super::deprecation::EMPTY_TEXT_CLEARS);
        }
        if item.is_null() && !nullable && !schema.required.contains(&key.as_str()) {
            out.push(InvalidParam::new(
                key.clone(),
                "not_clearable",
                "This field cannot be cleared: leave it out to keep it as it is.",
            ));
        }
    }
}

fn resolve<'r>(registry: &'r Registry, schema: &'r MetaSchemaRef) -> Option<&'r MetaSchema> {
    match schema {
        MetaSchemaRef::Inline(s) => Some(s),
        MetaSchemaRef::Reference(name) => registry.schemas.get(name),
    }
}

fn field(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

fn shown(path: &str) -> String {
    if path.is_empty() {
        "body".to_owned()
    } else {
        path.to_owned()
    }
}

fn check(
    registry: &Registry,
    schema: &MetaSchemaRef,
    value: &mut Value,
    path: &str,
    depth: usize,
    out: &mut Vec<InvalidParam>,
) {
    let Some(schema) = resolve(registry, schema) else {
        return;
    };
    if depth > MAX_DEPTH {
        out.push(InvalidParam::new(
            shown(path),
            "too_deep",
            "The body is nested too deeply.",
        ));
        return;
    }
    for part in &schema.all_of {
        check(registry, part, value, path, depth + 1, out);
    }
    if value.is_null() {
        if !schema.nullable && !schema.ty.is_empty() {
            out.push(InvalidParam::new(
                shown(path),
                "required",
                "A value is required.",
            ));
        }
        return;
    }
    let wrong_type = |expected: &str, out: &mut Vec<InvalidParam>| {
        out.push(InvalidParam::new(
            shown(path),
            "wrong_type",
            format!("Expected {expected}."),
        ));
    };
    match schema.ty {
        "object" => {
            let Some(map) = value.as_object_mut() else {
                return wrong_type("an object", out);
            };
            for name in &schema.required {
                if map.get(*name).is_none_or(Value::is_null) {
                    out.push(InvalidParam::new(
                        field(path, name),
                        "required",
                        "This field is required.",
                    ));
                }
            }
            let closed = !schema.properties.is_empty() && schema.additional_properties.is_none();
            for (key, item) in map.iter_mut() {
                match schema.properties.iter().find(|(n, _)| n == key) {
                    Some((_, prop)) => {
                        let required = schema.required.contains(&key.as_str());
                        if !item.is_null() || required {
                            check(registry, prop, item, &field(path, key), depth + 1, out);
                        }
                    }
                    None if closed => out.push(InvalidParam::new(
                        field(path, &truncated(key)),
                        "unknown_field",
                        "This field is not part of the request schema.",
                    )),
                    None => {
                        if let Some(extra) = &schema.additional_properties {
                            check(registry, extra, item, &field(path, key), depth + 1, out);
                        }
                    }
                }
            }
        }
        "array" => {
            let Some(items) = value.as_array_mut() else {
                return wrong_type("an array", out);
            };
            if let Some(max) = schema.max_items {
                if items.len() > max {
                    out.push(InvalidParam::new(
                        shown(path),
                        "too_many",
                        format!("At most {max} items."),
                    ));
                }
            }
            if let Some(min) = schema.min_items {
                if items.len() < min {
                    out.push(InvalidParam::new(
                        shown(path),
                        "too_few",
                        format!("At least {min} items."),
                    ));
                }
            }
            if let Some(item_schema) = &schema.items {
                for (i, item) in items.iter_mut().enumerate().take(1000) {
                    check(
                        registry,
                        item_schema,
                        item,
                        &format!("{}[{i}]", shown(path)),
                        depth + 1,
                        out,
                    );
                }
            }
        }
        "string" => {
            let Some(s) = value.as_str() else {
                return wrong_type("a string", out);
            };
            check_string(schema, s, path, out);
        }
        "integer" => {
            // JSON Schema counts 401.0 as an integer, and so do generators
            // of requests: taken as 401 (exactly, below 2^53)
            if let Some(n) = value
                .as_f64()
                .filter(|n| value.is_f64() && n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0)
            {
                *value = Value::from(n as i64);
            }
            if !(value.is_i64() || value.is_u64()) {
                return wrong_type("an integer", out);
            }
            check_number(schema, value.as_f64().unwrap_or(f64::MAX), path, out);
            check_integer_format(schema, value, path, out);
        }
        "number" => match value.as_f64() {
            Some(n) => check_number(schema, n, path, out),
            None => wrong_type("a number", out),
        },
        "boolean" if !value.is_boolean() => wrong_type("true or false", out),
        _ => {}
    }
}

fn truncated(key: &str) -> String {
    key.chars().take(64).collect()
}

fn check_string(schema: &MetaSchema, s: &str, path: &str, out: &mut Vec<InvalidParam>) {
    let before = out.len();
    let len = s.chars().count();
    if let Some(max) = schema.max_length {
        if len > max {
            out.push(InvalidParam::new(
                shown(path),
                "too_long",
                format!("At most {max} characters."),
            ));
        }
    }
    if let Some(min) = schema.min_length {
        // white space alone is no name, city or title: handlers trim it away
        if s.trim().chars().count() < min {
            out.push(InvalidParam::new(
                shown(path),
                "too_short",
                format!("At least {min} characters."),
            ));
        }
    }
    if !schema.enum_items.is_empty() && !schema.enum_items.iter().any(|e| e.as_str() == Some(s)) {
        let allowed: Vec<&str> = schema.enum_items.iter().filter_map(Value::as_str).collect();
        out.push(InvalidParam::new(
            shown(path),
            "not_allowed",
            format!("One of: {}.", allowed.join(", ")),
        ));
    }
    // one problem per field: a text too long is not also given a format
    if out.len() > before {
        return;
    }
    let problem = match schema.format {
        Some("date") | Some("naive-date") => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .is_err()
            .then(|| "Expected a calendar date such as 2026-11-28.".to_owned()),
        Some("date-time") => chrono::DateTime::parse_from_rfc3339(s)
            .is_err()
            .then(|| "Expected a timestamp such as 2026-11-28T09:30:00Z.".to_owned()),
        Some("uuid") => uuid::Uuid::parse_str(s)
            .is_err()
            .then(|| "Expected a UUID.".to_owned()),
        Some(other) => super::formats::check(other, s).and_then(Result::err),
        None => None,
    };
    if let Some(reason) = problem {
        out.push(InvalidParam::new(shown(path), "invalid_format", reason));
    }
}

fn check_number(schema: &MetaSchema, n: f64, path: &str, out: &mut Vec<InvalidParam>) {
    if let Some(max) = schema.maximum {
        if n > max {
            out.push(InvalidParam::new(
                shown(path),
                "too_large",
                format!("At most {max}."),
            ));
        }
    }
    if let Some(min) = schema.minimum {
        if n < min {
            out.push(InvalidParam::new(
                shown(path),
                "too_small",
                format!("At least {min}."),
            ));
        }
    }
}

fn check_integer_format(
    schema: &MetaSchema,
    value: &Value,
    path: &str,
    out: &mut Vec<InvalidParam>,
) {
    let fits = match schema.format {
        Some("int32") => value.as_i64().is_some_and(|v| i32::try_from(v).is_ok()),
        Some("uint32") => value.as_u64().is_some_and(|v| u32::try_from(v).is_ok()),
        Some("int64") => value.as_i64().is_some(),
        Some("uint64") => value.as_u64().is_some(),
        Some("int16") => value.as_i64().is_some_and(|v| i16::try_from(v).is_ok()),
        Some("uint16") => value.as_u64().is_some_and(|v| u16::try_from(v).is_ok()),
        _ => true,
    };
    if !fits {
        out.push(InvalidParam::new(
            shown(path),
            "out_of_range",
            "The number is out of range.",
        ));
    }
}

/// A clearable text of a JSON Merge Patch as the text parsers read it:
/// left out `None`; `null` the empty text, which clears; a value as sent.
pub(crate) fn patch_text(field: &poem_openapi::types::MaybeUndefined<String>) -> Option<&str> {
    field.as_opt_deref().map(|v| v.unwrap_or(""))
}
