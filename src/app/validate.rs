//! Checking request data against the rules declared on its type.
//!
//! A request type derives `schemars::JsonSchema` next to `serde::Deserialize`, and declares its
//! rules there (`#[schemars(length(min = 1, max = 200))]`, `range(…)`, `regex(pattern = …)`).
//! The same schema goes into the OpenAPI document, so what the document promises is what is
//! checked. [`Rules::check`] walks a JSON value against it and reports every field that breaks
//! a rule, with a message made from the rule: a client learns all its mistakes at once, where
//! serde would stop at the first.
//!
//! The checks cover the keywords schemars writes for plain structs: `type` (and `nullable`),
//! `required`, `properties`, `additionalProperties: false`, `enum`, `minLength`/`maxLength`,
//! `pattern`, `minimum`/`maximum` (and the integer formats' ranges), `items`,
//! `minItems`/`maxItems`. Anything else is left to serde, whose error still answers 422.

use std::any::TypeId;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use regex::Regex;
use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};

use super::response::FieldError;

/// A type's schema with its subschemas inlined, and its patterns compiled.
#[derive(Debug)]
pub struct Rules {
    schema: Value,
    patterns: HashMap<String, Regex>,
}

/// The rules of `T`, built once per type and thread. Each worker keeps its own: a request reads
/// them with no lock and no atomic operation, so workers never contend for them.
pub fn rules_for<T: JsonSchema + 'static>() -> Rc<Rules> {
    thread_local! {
        static CACHE: RefCell<HashMap<TypeId, Rc<Rules>>> = RefCell::default();
    }
    CACHE.with(|cache| {
        if let Some(rules) = cache.borrow().get(&TypeId::of::<T>()) {
            return Rc::clone(rules);
        }
        let rules = Rc::new(Rules::new(inline_schema::<T>()));
        cache.borrow_mut().insert(TypeId::of::<T>(), Rc::clone(&rules));
        rules
    })
}

/// `T`'s schema as OpenAPI 3.0 writes it, with no references to other schemas.
fn inline_schema<T: JsonSchema>() -> Value {
    let settings = SchemaSettings::openapi3().with(|s| s.inline_subschemas = true);
    let mut schema: Value = settings.into_generator().into_root_schema_for::<T>().into();
    if let Some(object) = schema.as_object_mut() {
        object.remove("$schema");
    }
    schema
}

impl Rules {
    fn new(schema: Value) -> Rules {
        let mut patterns = HashMap::new();
        collect_patterns(&schema, &mut patterns);
        Rules { schema, patterns }
    }

    /// The top-level properties: name, schema, required.
    pub fn properties(&self) -> impl Iterator<Item = (&str, &Value, bool)> {
        let required =
            |name: &str| self.schema["required"].as_array().is_some_and(|r| r.iter().any(|n| n == name));
        self.schema["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(move |(name, schema)| (name.as_str(), schema, required(name)))
    }

    /// The schema of the top-level property `name`, if the type has one.
    pub fn property(&self, name: &str) -> Option<&Value> {
        self.schema["properties"].get(name)
    }

    /// Every field of `value` that breaks a rule (empty: it keeps them all). `name` is what a
    /// fault of the value as a whole is reported as (`(body)`).
    pub fn check(&self, value: &Value, name: &str) -> Vec<FieldError> {
        let mut faults = Vec::new();
        self.check_at(value, &self.schema, name, &mut faults);
        faults
    }

    fn check_at(&self, value: &Value, schema: &Value, at: &str, faults: &mut Vec<FieldError>) {
        let mut fault = |message: String| faults.push(FieldError { field: at.to_owned(), message });
        if value.is_null() && (schema["nullable"] == true || type_allows(schema, "null")) {
            return;
        }
        if let Some(expected) = type_fault(value, schema) {
            return fault(expected);
        }
        if let Some(allowed) = schema["enum"].as_array()
            && !allowed.contains(value)
        {
            let names: Vec<String> =
                allowed.iter().map(|v| v.as_str().map_or(v.to_string(), str::to_owned)).collect();
            return fault(format!("must be one of: {}", names.join(", ")));
        }
        let broken = match value {
            Value::String(text) => self.string_fault(text, schema),
            Value::Number(_) => number_fault(value, schema),
            Value::Array(items) => return self.array_faults(items, schema, at, faults),
            Value::Object(object) => return self.object_faults(object, schema, at, faults),
            _ => None,
        };
        if let Some(message) = broken {
            fault(message);
        }
    }

    fn string_fault(&self, text: &str, schema: &Value) -> Option<String> {
        let length = text.chars().count() as u64;
        let (min, max) = (schema["minLength"].as_u64(), schema["maxLength"].as_u64());
        if min.is_some_and(|min| length < min) || max.is_some_and(|max| length > max) {
            return Some(format!("must be {} characters", bounds(min, max)));
        }
        let pattern = schema["pattern"].as_str()?;
        let matches = self.patterns.get(pattern).is_none_or(|regex| regex.is_match(text));
        (!matches).then(|| format!("must match the pattern {pattern}"))
    }

    fn array_faults(&self, items: &[Value], schema: &Value, at: &str, faults: &mut Vec<FieldError>) {
        let count = items.len() as u64;
        let (min, max) = (schema["minItems"].as_u64(), schema["maxItems"].as_u64());
        if min.is_some_and(|min| count < min) || max.is_some_and(|max| count > max) {
            let message = format!("must have {} items", bounds(min, max));
            return faults.push(FieldError { field: at.to_owned(), message });
        }
        if let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) {
            for (i, item) in items.iter().enumerate() {
                self.check_at(item, item_schema, &format!("{at}[{i}]"), faults);
            }
        }
    }

    fn object_faults(
        &self,
        object: &Map<String, Value>,
        schema: &Value,
        at: &str,
        faults: &mut Vec<FieldError>,
    ) {
        let field = |name: &str| if at.starts_with('(') { name.to_owned() } else { format!("{at}.{name}") };
        let properties = schema["properties"].as_object();
        for (name, property) in properties.into_iter().flatten() {
            match object.get(name) {
                Some(value) => self.check_at(value, property, &field(name), faults),
                None if schema["required"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|n| n == name.as_str())) =>
                {
                    faults.push(FieldError { field: field(name), message: "is required".to_owned() });
                }
                None => {}
            }
        }
        if schema["additionalProperties"] == false {
            let known = |name: &String| properties.is_some_and(|p| p.contains_key(name));
            for name in object.keys().filter(|name| !known(name)) {
                faults.push(FieldError { field: field(name), message: "is not allowed".to_owned() });
            }
        }
    }
}

/// `from 1 to 200`, `at least 1`, `at most 200`, `exactly 3` (for a rule's message).
fn bounds<T: std::fmt::Display + PartialEq>(min: Option<T>, max: Option<T>) -> String {
    match (min, max) {
        (Some(min), Some(max)) if min == max => format!("exactly {min}"),
        (Some(min), Some(max)) => format!("{min} to {max}"),
        (Some(min), None) => format!("at least {min}"),
        (None, Some(max)) => format!("at most {max}"),
        (None, None) => String::new(),
    }
}

/// Whether the schema's `type` names `name` (as the type or one of a list).
pub fn type_allows(schema: &Value, name: &str) -> bool {
    match &schema["type"] {
        Value::String(t) => t == name,
        Value::Array(types) => types.iter().any(|t| t == name),
        _ => false,
    }
}

/// The types the schema's `type` names, `null` aside (none when it names none).
fn types(schema: &Value) -> Vec<&str> {
    match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(types) => types.iter().filter_map(Value::as_str).filter(|t| *t != "null").collect(),
        _ => Vec::new(),
    }
}

/// `must be an integer`, `must be a string or an array`: what a value of these types is.
fn must_be(types: &[&str]) -> String {
    let names: Vec<&str> = types.iter().map(|t| type_name(t)).collect();
    format!("must be {}", names.join(" or "))
}

/// The message when `value` is not of the schema's type.
fn type_fault(value: &Value, schema: &Value) -> Option<String> {
    let types = types(schema);
    if types.is_empty() {
        return None;
    }
    let fits = |t: &&str| match *t {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    };
    if types.iter().any(fits) {
        return None;
    }
    Some(must_be(&types))
}

/// How a message names a JSON Schema type.
fn type_name(json_type: &str) -> &'static str {
    match json_type {
        "string" => "a string",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "true or false",
        "array" => "an array",
        "object" => "an object",
        _ => "a value",
    }
}

/// The message when a number is out of the schema's range (or its integer format's).
fn number_fault(value: &Value, schema: &Value) -> Option<String> {
    let n = value.as_f64()?;
    let (format_min, format_max) = format_range(schema["format"].as_str().unwrap_or(""));
    let min = schema["minimum"].as_f64().or(format_min);
    let max = schema["maximum"].as_f64().or(format_max);
    if min.is_some_and(|min| n < min) || max.is_some_and(|max| n > max) {
        return Some(format!("must be {}", bounds(min.map(Whole), max.map(Whole))));
    }
    let above = schema["exclusiveMinimum"].as_f64().filter(|&m| n <= m);
    let below = schema["exclusiveMaximum"].as_f64().filter(|&m| n >= m);
    above
        .map(|m| format!("must be greater than {}", Whole(m)))
        .or(below.map(|m| format!("must be less than {}", Whole(m))))
}

/// The range of an integer `format` schemars writes for Rust's integer types.
fn format_range(format: &str) -> (Option<f64>, Option<f64>) {
    match format {
        "int8" => (Some(i8::MIN.into()), Some(i8::MAX.into())),
        "int16" => (Some(i16::MIN.into()), Some(i16::MAX.into())),
        "int32" => (Some(i32::MIN.into()), Some(i32::MAX.into())),
        "uint8" => (Some(0.0), Some(u8::MAX.into())),
        "uint16" => (Some(0.0), Some(u16::MAX.into())),
        "uint32" | "uint" => (Some(0.0), Some(u32::MAX.into())),
        "uint64" => (Some(0.0), None),
        _ => (None, None),
    }
}

/// A bound as a message shows it: `100`, not `100.0`.
#[derive(PartialEq)]
struct Whole(f64);

impl std::fmt::Display for Whole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.fract() == 0.0 && self.0.abs() < 1e16 {
            write!(f, "{}", self.0 as i64)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

fn collect_patterns(schema: &Value, patterns: &mut HashMap<String, Regex>) {
    match schema {
        Value::Object(object) => {
            if let Some(Value::String(pattern)) = object.get("pattern")
                && let Ok(regex) = Regex::new(pattern)
            {
                patterns.insert(pattern.clone(), regex);
            }
            object.values().for_each(|v| collect_patterns(v, patterns));
        }
        Value::Array(values) => values.iter().for_each(|v| collect_patterns(v, patterns)),
        _ => {}
    }
}

/// A string from a path or query turned into the JSON value the schema's type asks for, or the
/// message saying what it should have been.
pub fn coerce(raw: &str, schema: &Value) -> Result<Value, String> {
    let wanted = |t: &str| type_allows(schema, t);
    let fault = || must_be(&types(schema));
    if wanted("integer") {
        let number = raw.parse::<i64>().map(Value::from).or_else(|_| raw.parse::<u64>().map(Value::from));
        number.map_err(|_| fault())
    } else if wanted("number") {
        raw.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(Value::Number).ok_or_else(fault)
    } else if wanted("boolean") {
        match raw {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(fault()),
        }
    } else {
        Ok(Value::String(raw.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Signup {
        #[schemars(length(min = 3, max = 32), regex(pattern = r"^[a-z]+$"))]
        name: String,
        #[schemars(range(min = 1, max = 120))]
        age: u8,
        nickname: Option<String>,
        #[serde(default)]
        tags: Vec<String>,
    }

    fn faults(value: Value) -> Vec<(String, String)> {
        let rules = rules_for::<Signup>();
        rules.check(&value, "(body)").into_iter().map(|f| (f.field, f.message)).collect()
    }

    #[test]
    fn every_broken_rule_is_reported_with_a_message_made_from_the_rule() {
        assert_eq!(faults(json!({ "name": "ann", "age": 30 })), []);
        assert_eq!(faults(json!({ "name": "ann", "age": 30, "nickname": null, "tags": ["a"] })), []);
        assert_eq!(
            faults(json!({ "name": "a", "age": 0, "nickname": 3, "tags": [1] })),
            [
                ("name".into(), "must be 3 to 32 characters".into()),
                ("age".into(), "must be 1 to 120".into()),
                ("nickname".into(), "must be a string".into()),
                ("tags[0]".into(), "must be a string".into()),
            ]
        );
        assert_eq!(
            faults(json!({ "name": "ANN" })),
            [("name".into(), "must match the pattern ^[a-z]+$".into()), ("age".into(), "is required".into())]
        );
        assert_eq!(faults(json!([1])), [("(body)".into(), "must be an object".into())]);
    }

    #[test]
    fn path_and_query_strings_become_the_types_the_schema_asks_for() {
        let rules = rules_for::<Signup>();
        let age = rules.properties().find(|(name, _, _)| *name == "age").unwrap().1;
        assert_eq!(coerce("42", age), Ok(json!(42)));
        assert_eq!(coerce("x", age), Err("must be an integer".to_owned()));
        let name = rules.properties().find(|(name, _, _)| *name == "name").unwrap();
        assert_eq!((coerce("42", name.1), name.2), (Ok(json!("42")), true));
    }
}
