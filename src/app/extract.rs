//! Typed inputs: path parameters, query strings and JSON bodies deserialized into a handler's
//! types (see [`handler`](super::handler)).
//!
//! Each type derives `serde::Deserialize` and `schemars::JsonSchema`, and declares its rules
//! with `#[schemars(…)]`: `length(min, max)`, `range(min, max)`, `regex(pattern = …)`. Input
//! that does not fit answers **422** with every field at fault:
//! `{"error":{"status":422,"message":"validation failed","fields":[{"field":…,"message":…}]}}`.
//! A JSON body answers 415 when `Content-Type` is not JSON and 400 when it is not JSON at all.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::openapi::Operation;
use super::response::{FieldError, HttpError};
use super::validate::{Rules, coerce, rules_for, type_allows};
use super::{Context, Request};

/// An input a handler can take: made from the request, and described in the document.
pub trait Extract<S>: Sized {
    /// Takes the input from the request, or says why it cannot (the answer).
    fn extract(request: &Request<'_>, context: &Context<'_, S>) -> Result<Self, HttpError>;

    /// Adds what the input takes (parameters, a body) and the errors it answers.
    fn describe(operation: &mut Operation) {
        let _ = operation;
    }
}

/// The route's path parameters, as a struct with a field per `{name}`.
#[derive(Debug)]
pub struct Path<T>(pub T);

/// The query string, as a struct with a field per key (`Option` or `#[serde(default)]` for
/// optional ones; a `Vec` takes every value of a repeated key).
#[derive(Debug)]
pub struct Query<T>(pub T);

/// The JSON request body.
#[derive(Debug)]
pub struct Json<T>(pub T);

/// A type its extractors can read: deserializable, with a schema.
pub trait Input: DeserializeOwned + schemars::JsonSchema + 'static {}
impl<T: DeserializeOwned + schemars::JsonSchema + 'static> Input for T {}

impl<S, T: Input> Extract<S> for Path<T> {
    fn extract(request: &Request<'_>, _: &Context<'_, S>) -> Result<Self, HttpError> {
        let pairs = request.params().iter().map(|(name, value)| (*name, value.as_ref()));
        from_strings(&rules_for::<T>(), pairs, "(path)").map(Path)
    }

    fn describe(operation: &mut Operation) {
        for (name, schema, _) in rules_for::<T>().properties() {
            operation.parameter(name, "path", true, schema.clone());
        }
        operation.errors(&[422]);
    }
}

impl<S, T: Input> Extract<S> for Query<T> {
    fn extract(request: &Request<'_>, _: &Context<'_, S>) -> Result<Self, HttpError> {
        let query = request.query()?;
        let pairs = query.pairs().iter().map(|(key, value)| (key.as_ref(), value.as_ref()));
        from_strings(&rules_for::<T>(), pairs, "(query)").map(Query)
    }

    fn describe(operation: &mut Operation) {
        for (name, schema, required) in rules_for::<T>().properties() {
            operation.parameter(name, "query", required, schema.clone());
        }
        operation.errors(&[400, 422]);
    }
}

impl<S, T: Input> Extract<S> for Json<T> {
    fn extract(request: &Request<'_>, _: &Context<'_, S>) -> Result<Self, HttpError> {
        let value: Value = request.json()?;
        checked(&rules_for::<T>(), value, "(body)").map(Json)
    }

    fn describe(operation: &mut Operation) {
        operation.json_body::<T>();
        operation.errors(&[400, 413, 415, 422]);
    }
}

/// Path parameters or query pairs as the JSON object the type's schema describes: each value
/// converted to its field's type (every value, in a list, for an array field; the first,
/// otherwise).
fn from_strings<'a, T: DeserializeOwned>(
    rules: &Rules,
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
    whole: &str,
) -> Result<T, HttpError> {
    let mut object = Map::new();
    let mut faults = Vec::new();
    for (key, raw) in pairs {
        let schema = rules.property(key);
        let is_list = schema.is_some_and(|s| type_allows(s, "array"));
        let item_schema = if is_list { schema.map(|s| &s["items"]) } else { schema };
        let value = match item_schema.map_or(Ok(Value::String(raw.to_owned())), |s| coerce(raw, s)) {
            Ok(value) => value,
            Err(message) => {
                faults.push(FieldError { field: key.to_owned(), message });
                continue;
            }
        };
        match object.get_mut(key) {
            Some(Value::Array(values)) if is_list => values.push(value),
            Some(_) => {}
            None if is_list => drop(object.insert(key.to_owned(), Value::Array(vec![value]))),
            None => drop(object.insert(key.to_owned(), value)),
        }
    }
    if !faults.is_empty() {
        return Err(HttpError::invalid_fields(faults));
    }
    checked(rules, Value::Object(object), whole)
}

/// `value` as a `T`, once it keeps every rule of `T`'s schema (422 naming the fields).
fn checked<T: DeserializeOwned>(rules: &Rules, value: Value, whole: &str) -> Result<T, HttpError> {
    let faults = rules.check(&value, whole);
    if !faults.is_empty() {
        return Err(HttpError::invalid_fields(faults));
    }
    // A rule the checks do not model is still serde's to refuse: 422 with its message.
    serde_json::from_value(value).map_err(|error| {
        HttpError::invalid_fields(vec![FieldError { field: whole.to_owned(), message: error.to_string() }])
    })
}

macro_rules! tuple_inputs {
    ($($name:ident),+) => {
        impl<S, $($name: Extract<S>),+> Extract<S> for ($($name,)+) {
            fn extract(request: &Request<'_>, context: &Context<'_, S>) -> Result<Self, HttpError> {
                Ok(($($name::extract(request, context)?,)+))
            }

            fn describe(operation: &mut Operation) {
                $($name::describe(operation);)+
            }
        }
    };
}

tuple_inputs!(A);
tuple_inputs!(A, B);
tuple_inputs!(A, B, C);
tuple_inputs!(A, B, C, D);
