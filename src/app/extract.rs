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
use super::validate::{Rules, coerce, rules_for};
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
    let schemas: Vec<(&str, &Value)> = rules.properties().map(|(name, schema, _)| (name, schema)).collect();
    for (key, raw) in pairs {
        let schema = schemas.iter().find(|(name, _)| *name == key).map(|(_, schema)| *schema);
        let is_list = schema.is_some_and(|s| s["type"] == "array");
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

#[cfg(test)]
mod tests {
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};
    use serde_json::json;

    use super::*;
    use crate::app::openapi::{Info, op};
    use crate::app::{App, Response};
    use crate::http::status::StatusCode;
    use crate::testing::TestClient;

    #[derive(Deserialize, Serialize, JsonSchema)]
    struct NewPet {
        #[schemars(length(min = 1, max = 20))]
        name: String,
        #[schemars(range(min = 0, max = 50))]
        age: u8,
        #[serde(default)]
        tags: Vec<String>,
    }

    #[derive(Deserialize, JsonSchema)]
    struct Listing {
        #[serde(default)]
        #[schemars(range(min = 1, max = 10))]
        page: Option<u32>,
        #[serde(default)]
        tag: Vec<String>,
    }

    #[derive(Deserialize, JsonSchema)]
    struct Owner {
        owner: u32,
    }

    fn add(
        _: &Request<'_>,
        _: &mut Context<'_>,
        (Path(owner), Json(pet)): (Path<Owner>, Json<NewPet>),
    ) -> Response {
        Response::json(StatusCode::CREATED, &json!({ "owner": owner.owner, "pet": pet }))
    }

    fn list(_: &Request<'_>, _: &mut Context<'_>, Query(listing): Query<Listing>) -> Response {
        Response::json(StatusCode::OK, &json!({ "page": listing.page, "tags": listing.tag }))
    }

    fn app() -> App {
        App::new()
            .post("/owners/{owner}/pets", op(add).summary("Add a pet").responds::<NewPet>(201, "the pet"))
            .get("/pets", list)
            .openapi("/openapi.json", Info::new("pets", "1"))
    }

    fn fields(response: &crate::testing::TestResponse) -> Vec<(String, String)> {
        let body: serde_json::Value = response.json().unwrap();
        let fields = body["error"]["fields"].as_array().cloned().unwrap_or_default();
        fields
            .iter()
            .map(|f| (f["field"].as_str().unwrap().into(), f["message"].as_str().unwrap().into()))
            .collect()
    }

    #[test]
    fn inputs_that_fit_reach_the_handler_typed() {
        let client = TestClient::new(app());
        let added = client.request("POST", "/owners/7/pets").json(&json!({ "name": "Rex", "age": 3 })).send();
        assert_eq!(added.status, 201);
        assert_eq!(added.json::<serde_json::Value>().unwrap()["owner"], 7);
        let listed = client.get("/pets?page=2&tag=a&tag=b").json::<serde_json::Value>().unwrap();
        assert_eq!(listed, json!({ "page": 2, "tags": ["a", "b"] }));
        assert_eq!(
            client.get("/pets").json::<serde_json::Value>().unwrap(),
            json!({ "page": null, "tags": [] })
        );
    }

    #[test]
    fn inputs_that_do_not_fit_get_422_naming_every_field() {
        let client = TestClient::new(app());
        let bad = client
            .request("POST", "/owners/7/pets")
            .json(&json!({ "name": "", "age": 99, "tags": "x" }))
            .send();
        assert_eq!(bad.status, 422);
        assert_eq!(
            fields(&bad),
            [
                ("name".into(), "must be 1 to 20 characters".into()),
                ("age".into(), "must be 0 to 50".into()),
                ("tags".into(), "must be an array".into()),
            ]
        );
        let missing = client.request("POST", "/owners/7/pets").json(&json!({})).send();
        assert_eq!(
            fields(&missing),
            [("name".into(), "is required".into()), ("age".into(), "is required".into())]
        );
        let owner = client.request("POST", "/owners/x/pets").json(&json!({ "name": "a", "age": 1 })).send();
        assert_eq!(
            (owner.status, fields(&owner)),
            (422, vec![("owner".into(), "must be an integer".into())])
        );
        assert_eq!(fields(&client.get("/pets?page=0")), [("page".into(), "must be 1 to 10".into())]);
        assert_eq!(fields(&client.get("/pets?page=x")), [("page".into(), "must be an integer".into())]);
    }

    #[test]
    fn a_body_that_is_not_json_is_415_or_400() {
        let client = TestClient::new(app());
        let text = client.request("POST", "/owners/1/pets").body("name=Rex", "text/plain").send();
        assert_eq!(text.status, 415);
        let broken = client.request("POST", "/owners/1/pets").body("{\"name\":", "application/json").send();
        assert_eq!(broken.status, 400);
        assert_eq!(client.get("/pets?page=%zz").status, 400);
    }

    #[test]
    fn the_document_describes_the_inputs_and_their_rules() {
        let doc: serde_json::Value = TestClient::new(app()).get("/openapi.json").json().unwrap();
        let add = &doc["paths"]["/owners/{owner}/pets"]["post"];
        assert_eq!(add["summary"], "Add a pet");
        assert_eq!(add["parameters"][0]["name"], "owner");
        assert_eq!(add["parameters"][0]["in"], "path");
        assert_eq!(
            add["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/NewPet"
        );
        for status in ["201", "400", "413", "415", "422"] {
            assert!(add["responses"][status].is_object(), "{status}");
        }
        let pet = &doc["components"]["schemas"]["NewPet"];
        assert_eq!(
            (pet["properties"]["name"]["minLength"].clone(), pet["properties"]["name"]["maxLength"].clone()),
            (json!(1), json!(20))
        );
        assert_eq!(pet["required"], json!(["name", "age"]));
        let list = &doc["paths"]["/pets"]["get"];
        let names: Vec<&str> =
            list["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["page", "tag"]);
        assert_eq!(list["parameters"][0]["required"], false);
        assert!(doc["paths"]["/openapi.json"]["get"].is_object());
    }
}
