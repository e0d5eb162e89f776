//! Strings with a rule of their own in request bodies: e-mail addresses and
//! ISO country codes here; an area defines its own (the Erasmus code in
//! `exchange::views`, the codename in `shelter::views`) with [`Format`] and
//! [`Formatted`], and the body check finds it by its name, registered when
//! the body's schema is. The spec names each rule as the field's
//! `format`, and the body check applies it in the same round as every other
//! schema rule, so one request lists all its problems at once. Handlers
//! still normalise the text with the same function (the one definition of
//! what is accepted), which can no longer fail on what passed the check.

use std::{borrow::Cow, marker::PhantomData, ops::Deref, sync::RwLock};

use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef, Registry},
    types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type},
};
use serde_json::Value;

use crate::text::{parse_country, Email};

/// A rule a string of a request body follows.
pub(crate) trait Format: Send + Sync + 'static {
    /// The spec's `format`.
    const NAME: &'static str;
    const MAX_LEN: usize;
    const EXAMPLE: &'static str;
    /// Whether the text follows the rule, and if not, why not (in the words
    /// of the function that normalises it).
    fn check(text: &str) -> Result<(), &'static str>;
}

/// An e-mail address (empty where the field allows none).
pub(crate) struct EmailFormat;
impl Format for EmailFormat {
    const NAME: &'static str = "email";
    const MAX_LEN: usize = Email::MAX_LEN;
    const EXAMPLE: &'static str = "name@example.org";
    fn check(text: &str) -> Result<(), &'static str> {
        if text.trim().is_empty() {
            return Ok(());
        }
        Email::parse(text).map(drop)
    }
}

/// An ISO 3166-1 alpha-2 country code.
pub(crate) struct CountryFormat;
impl Format for CountryFormat {
    const NAME: &'static str = "iso-3166-alpha-2";
    const MAX_LEN: usize = 2;
    const EXAMPLE: &'static str = "NL";
    fn check(text: &str) -> Result<(), &'static str> {
        parse_country(text).map(drop)
    }
}

/// The rule of a `format`, for the body check, as the sentence a problem
/// gives: `None` for formats this module does not define.
/// A format is registered with the schema of a body that has a field of it,
/// so before any such body is checked.
pub(crate) fn check(format: &str, text: &str) -> Option<Result<(), String>> {
    let rules = RULES
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let (_, rule) = rules.iter().find(|(name, _)| *name == format)?;
    Some(rule(text).map_err(sentence))
}

type Rule = fn(&str) -> Result<(), &'static str>;

/// The rules of the formats registered so far, by name.
static RULES: RwLock<Vec<(&'static str, Rule)>> = RwLock::new(Vec::new());

fn register_rule<F: Format>() {
    let known = |rules: &[(&'static str, Rule)]| rules.iter().any(|(name, _)| *name == F::NAME);
    if known(
        &RULES
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner()),
    ) {
        return;
    }
    let mut rules = RULES
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !known(&rules) {
        rules.push((F::NAME, F::check));
    }
}

/// "must be ..." as a problem's reason: "Must be ...".
fn sentence(reason: &str) -> String {
    let mut chars = reason.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

/// A string of a request body that follows the rule `F`.
pub(crate) struct Formatted<F>(pub String, PhantomData<F>);

pub(crate) type EmailText = Formatted<EmailFormat>;
pub(crate) type CountryCode = Formatted<CountryFormat>;

impl<F> Formatted<F> {
    pub(crate) fn new(text: impl Into<String>) -> Self {
        Self(text.into(), PhantomData)
    }
}

impl<F> Clone for Formatted<F> {
    fn clone(&self) -> Self {
        Self::new(self.0.clone())
    }
}

impl<F> std::fmt::Debug for Formatted<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<F> Deref for Formatted<F> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<F: Format> Type for Formatted<F> {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        format!("string_{}", F::NAME).into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut schema = MetaSchema::new_with_format("string", F::NAME);
        schema.max_length = Some(F::MAX_LEN);
        schema.example = Some(Value::String(F::EXAMPLE.to_owned()));
        MetaSchemaRef::Inline(Box::new(schema))
    }

    fn register(_: &mut Registry) {
        register_rule::<F>();
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

impl<F: Format> ParseFromJSON for Formatted<F> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(s) => match F::check(&s) {
                Ok(()) => Ok(Self::new(s)),
                Err(reason) => Err(ParseError::custom(reason)),
            },
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl<F: Format> ToJSON for Formatted<F> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}
