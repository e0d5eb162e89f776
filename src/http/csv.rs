//! CSV answers (`Accept: text/csv`) on the same routes as the JSON, streamed.
//! Cells that a spreadsheet would read as a formula are prefixed with `'`.

use poem::{Body, IntoResponse, Response};
use poem_openapi::{
    payload::Payload,
    registry::{MetaSchema, MetaSchemaRef, Registry},
};

/// A CSV document as a response payload.
pub struct Csv {
    pub body: Body,
    pub filename: &'static str,
}

impl Payload for Csv {
    const CONTENT_TYPE: &'static str = "text/csv; charset=utf-8";

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new("string")))
    }

    fn register(_registry: &mut Registry) {}
}

impl IntoResponse for Csv {
    fn into_response(self) -> Response {
        Response::builder()
            .content_type(Self::CONTENT_TYPE)
            .header(
                "Content-Disposition",
                format!("attachment; filename=\"{}\"", self.filename),
            )
            .body(self.body)
    }
}

/// Whether the caller asked for CSV rather than JSON.
pub(crate) fn wants_csv(req: &poem::Request) -> bool {
    req.headers()
        .get_all(poem::http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .any(|v| v == "text/csv")
}

/// Neutralises a cell a spreadsheet would execute (`=`, `+`, `-`, `@`, tab, CR).
pub(crate) fn safe_cell(value: &str) -> std::borrow::Cow<'_, str> {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}").into(),
        _ => value.into(),
    }
}

/// Serialises rows (header first) to CSV bytes.
pub(crate) fn to_csv_bytes(rows: &[Vec<String>]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        let cells: Vec<std::borrow::Cow<'_, str>> = row.iter().map(|c| safe_cell(c)).collect();
        if writer
            .write_record(cells.iter().map(|c| c.as_ref()))
            .is_err()
        {
            break;
        }
    }
    writer.into_inner().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_quotes_escaped() {
        let out = to_csv_bytes(&[
            vec!["a".into(), "=1+1".into()],
            vec!["x,y".into(), "\"q\"".into()],
        ]);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a,'=1+1\n\"x,y\",\"\"\"q\"\"\"\n"
        );
    }
}
