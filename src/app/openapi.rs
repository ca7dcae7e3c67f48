//! The OpenAPI 3.0 document of an app, built from its routes.
//!
//! Each route carries an [`Operation`]: what its extractors say (parameters, request body and
//! the errors they answer), what its scope's middleware says (authentication), and what the
//! route declares with [`op`] (a summary, its responses and their types). [`App::openapi`]
//! serves the document; schemas come from the types' `schemars::JsonSchema` derives, so a
//! type's rules are stated once, for the document and the checks alike.
//!
//! ```no_run
//! use pollserve::app::extract::Json;
//! use pollserve::app::openapi::{Info, op};
//! use pollserve::app::{App, Context, Request, Response};
//! use pollserve::http::status::StatusCode;
//!
//! #[derive(serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
//! struct Note {
//!     #[schemars(length(min = 1, max = 100))]
//!     text: String,
//! }
//!
//! fn add(_: &Request<'_>, _: &mut Context<'_>, Json(note): Json<Note>) -> Response {
//!     Response::json(StatusCode::CREATED, &note)
//! }
//!
//! let app = App::new()
//!     .post("/notes", op(add).summary("Add a note").responds::<Note>(201, "the note"))
//!     .openapi("/openapi.json", Info::new("notes", "1.0"));
//! ```
//!
//! [`App::openapi`]: super::App::openapi

use std::collections::BTreeSet;

use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::{JsonSchema, Schema};
use serde_json::{Map, Value, json};

use super::TypedHandler;
use super::handler::IntoHandler;

/// Makes the schema of a type, in the document's generator (named types become components).
type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// A body's media type and schema.
#[derive(Clone)]
struct Content {
    media: &'static str,
    schema: Option<SchemaFn>,
}

/// A documented response.
#[derive(Clone)]
struct Documented {
    /// The status code, or `default`.
    status: String,
    description: String,
    content: Option<Content>,
}

/// What the document says about one route.
#[derive(Clone, Default)]
pub struct Operation {
    summary: Option<String>,
    description: Option<String>,
    parameters: Vec<Value>,
    body: Vec<Content>,
    /// Whether a request must have a body (a JSON extractor's); an accepted body is optional.
    body_required: bool,
    responses: Vec<Documented>,
    errors: BTreeSet<u16>,
    secured: bool,
    /// Left out of the document (the documentation page's own routes).
    hidden: bool,
}

impl std::fmt::Debug for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operation").field("summary", &self.summary).finish_non_exhaustive()
    }
}

fn schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

impl Operation {
    /// Adds a parameter (`location`: `path`, `query` or `header`).
    pub fn parameter(&mut self, name: &str, location: &str, required: bool, schema: Value) {
        let parameter = json!({ "name": name, "in": location, "required": required, "schema": schema });
        self.parameters.push(parameter);
    }

    /// Documents a JSON request body of type `T`.
    pub fn json_body<T: JsonSchema>(&mut self) {
        self.body.push(Content { media: "application/json", schema: Some(schema_of::<T>) });
        self.body_required = true;
    }

    /// Documents an optional request body of `media` type and any content.
    pub fn any_body(&mut self, media: &'static str) {
        self.body.push(Content { media, schema: None });
    }

    /// Adds error statuses this operation can answer (with the error body).
    pub fn errors(&mut self, statuses: &[u16]) {
        self.errors.extend(statuses);
    }

    /// Marks the operation as needing a bearer token (and so answering 401).
    pub fn secured(&mut self) {
        self.secured = true;
        self.errors.insert(401);
    }

    /// Adds what `other` says (its summary wins when it has one).
    fn merge(&mut self, other: Operation) {
        self.summary = other.summary.or(self.summary.take());
        self.description = other.description.or(self.description.take());
        self.parameters.extend(other.parameters);
        self.body.extend(other.body);
        self.body_required |= other.body_required;
        self.responses.extend(other.responses);
        self.errors.extend(other.errors);
        self.secured |= other.secured;
        self.hidden |= other.hidden;
    }

    /// The operation as JSON, for `method` on `pattern`; adds its schemas to `generator`.
    fn render(&self, method: &str, pattern: &str, generator: &mut SchemaGenerator) -> Value {
        let mut out = Map::new();
        if let Some(summary) = &self.summary {
            out.insert("summary".into(), summary.as_str().into());
        }
        if let Some(description) = &self.description {
            out.insert("description".into(), description.as_str().into());
        }
        out.insert("operationId".into(), operation_id(method, pattern).into());
        let parameters = self.parameters_for(pattern);
        if !parameters.is_empty() {
            out.insert("parameters".into(), parameters.into());
        }
        if !self.body.is_empty() {
            let content: Map<String, Value> =
                self.body.iter().map(|c| (c.media.into(), media(c, generator))).collect();
            out.insert("requestBody".into(), json!({ "required": self.body_required, "content": content }));
        }
        out.insert("responses".into(), self.render_responses(generator).into());
        if self.secured {
            out.insert("security".into(), json!([{ "bearerAuth": [] }]));
        }
        out.into()
    }

    /// The declared parameters, and a string path parameter for each of the pattern's
    /// parameters nothing declared.
    fn parameters_for(&self, pattern: &str) -> Vec<Value> {
        let mut parameters = self.parameters.clone();
        for name in super::router::parameter_names(pattern) {
            let declared = parameters.iter().any(|p| p["in"] == "path" && p["name"] == name);
            if !declared {
                parameters.push(
                    json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }),
                );
            }
        }
        parameters
    }

    fn render_responses(&self, generator: &mut SchemaGenerator) -> Map<String, Value> {
        let mut responses = Map::new();
        for response in &self.responses {
            let mut doc = json!({ "description": response.description });
            if let Some(content) = &response.content {
                doc["content"] = json!({ content.media: media(content, generator) });
            }
            responses.insert(response.status.clone(), doc);
        }
        if responses.is_empty() {
            responses.insert("200".into(), json!({ "description": "OK" }));
        }
        // Every request can be refused for its size before it is routed.
        let refusals = [414, 431];
        for status in self.errors.iter().chain(&refusals) {
            let error = json!({ "$ref": "#/components/responses/Error" });
            responses.entry(status.to_string()).or_insert(error);
        }
        responses
    }
}

fn media(content: &Content, generator: &mut SchemaGenerator) -> Value {
    match content.schema {
        Some(schema) => json!({ "schema": schema(generator) }),
        None if content.media.starts_with("text/") => json!({ "schema": { "type": "string" } }),
        None => json!({}),
    }
}

/// `get_api_items_id` for GET `/api/items/{id}`.
fn operation_id(method: &str, pattern: &str) -> String {
    let words = pattern.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty());
    let mut id = method.to_owned();
    for word in words {
        id.push('_');
        id.push_str(word);
    }
    if pattern == "/" {
        id.push_str("_root");
    }
    id
}

/// A route pattern as OpenAPI writes it (`{*rest}` is `{rest}`).
fn openapi_path(pattern: &str) -> String {
    pattern.replace("{*", "{")
}

/// A handler with what the document says of it: made by [`op`].
pub struct Op<H> {
    handler: H,
    doc: Operation,
}

/// Documents `handler`: chain [`Op::summary`], [`Op::responds`] and the rest, and pass the
/// result where the handler would go.
pub fn op<H>(handler: H) -> Op<H> {
    Op { handler, doc: Operation::default() }
}

impl<H> Op<H> {
    /// A one-line summary.
    pub fn summary(mut self, summary: &str) -> Op<H> {
        self.doc.summary = Some(summary.to_owned());
        self
    }

    /// A longer description.
    pub fn description(mut self, description: &str) -> Op<H> {
        self.doc.description = Some(description.to_owned());
        self
    }

    /// A response with a JSON body of type `T`.
    pub fn responds<T: JsonSchema>(self, status: u16, description: &str) -> Op<H> {
        self.response(
            status.to_string(),
            description,
            Some(Content { media: "application/json", schema: Some(schema_of::<T>) }),
        )
    }

    /// A response with a body of `media` type (any content; `text/*` is a string).
    pub fn responds_with(self, status: u16, media: &'static str, description: &str) -> Op<H> {
        self.response(status.to_string(), description, Some(Content { media, schema: None }))
    }

    /// A response without a body.
    pub fn responds_empty(self, status: u16, description: &str) -> Op<H> {
        self.response(status.to_string(), description, None)
    }

    /// The response for every status not listed (any JSON).
    pub fn responds_otherwise(self, description: &str) -> Op<H> {
        self.response(
            "default".to_owned(),
            description,
            Some(Content { media: "application/json", schema: None }),
        )
    }

    /// A request body of `media` type the handler takes, if sent (any content; `text/*` is a
    /// string).
    pub fn accepts(mut self, media: &'static str) -> Op<H> {
        self.doc.any_body(media);
        self
    }

    /// Leaves the route out of the document.
    pub fn hidden(mut self) -> Op<H> {
        self.doc.hidden = true;
        self
    }

    /// Error statuses the handler answers (with the error body).
    pub fn errors(mut self, statuses: &[u16]) -> Op<H> {
        self.doc.errors(statuses);
        self
    }

    fn response(mut self, status: String, description: &str, content: Option<Content>) -> Op<H> {
        self.doc.responses.push(Documented { status, description: description.to_owned(), content });
        self
    }
}

impl<S, M, H> IntoHandler<S, M> for Op<H>
where
    H: IntoHandler<S, M>,
    S: 'static,
    M: 'static,
{
    fn into_parts(self) -> (TypedHandler<S>, Operation) {
        let (handler, mut doc) = self.handler.into_parts();
        doc.merge(self.doc);
        (handler, doc)
    }
}

/// The document's `info`: the API's title, version and description.
#[derive(Debug, Clone)]
pub struct Info {
    /// The API's name.
    pub title: String,
    /// Its version.
    pub version: String,
    /// What it is (Markdown).
    pub description: Option<String>,
}

impl Info {
    /// A title and a version.
    pub fn new(title: &str, version: &str) -> Info {
        Info { title: title.to_owned(), version: version.to_owned(), description: None }
    }

    /// With a description.
    pub fn with_description(mut self, description: &str) -> Info {
        self.description = Some(description.to_owned());
        self
    }
}

/// One route as the document sees it: method, pattern, and its operation with its
/// middleware's notes added.
pub struct Entry<'a> {
    /// `get`, `post` …
    pub method: String,
    /// The route pattern.
    pub pattern: &'a str,
    /// What to say of it.
    pub operation: Operation,
}

/// Builds the document from the routes, in order.
pub fn document<'a>(info: &Info, routes: impl IntoIterator<Item = Entry<'a>>) -> Value {
    let settings = SchemaSettings::openapi3().with(|s| s.definitions_path = "#/components/schemas/".into());
    let mut generator = settings.into_generator();
    let mut paths = Map::new();
    let mut secured = false;
    for entry in routes.into_iter().filter(|entry| !entry.operation.hidden) {
        secured |= entry.operation.secured;
        let rendered = entry.operation.render(&entry.method, entry.pattern, &mut generator);
        let item = paths.entry(openapi_path(entry.pattern)).or_insert_with(|| json!({}));
        item[entry.method] = rendered;
    }
    let mut schemas: Map<String, Value> = generator.take_definitions(true).into_iter().collect();
    schemas.insert("Error".into(), error_schema());
    let mut components = json!({
        "schemas": schemas,
        "responses": { "Error": {
            "description": "an error: its status, a message, and for 422 the fields at fault",
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
        } }
    });
    if secured {
        components["securitySchemes"] = json!({ "bearerAuth": { "type": "http", "scheme": "bearer" } });
    }
    let mut info_json = json!({ "title": info.title, "version": info.version });
    if let Some(description) = &info.description {
        info_json["description"] = description.as_str().into();
    }
    json!({ "openapi": "3.0.3", "info": info_json, "paths": paths, "components": components })
}

/// Every error body: `{"error":{"status":N,"message":"…","fields":[…]}}`.
fn error_schema() -> Value {
    let field = json!({
        "type": "object", "required": ["field", "message"],
        "properties": { "field": { "type": "string" }, "message": { "type": "string" } }
    });
    json!({
        "type": "object", "required": ["error"],
        "properties": { "error": {
            "type": "object", "required": ["status", "message"],
            "properties": {
                "status": { "type": "integer" },
                "message": { "type": "string" },
                "fields": { "type": "array", "items": field }
            }
        } }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_and_paths_come_from_the_pattern() {
        assert_eq!(operation_id("get", "/api/items/{id}"), "get_api_items_id");
        assert_eq!(operation_id("get", "/"), "get_root");
        assert_eq!(openapi_path("/files/{*rest}"), "/files/{rest}");
        assert_eq!(super::super::router::parameter_names("/a/{x}/b/{*rest}"), ["x", "rest"]);
    }
}
