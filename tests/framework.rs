//! The framework as a user's own app sees it, through the test client: state, scopes and their
//! middleware, typed extraction and its 422s, and the generated OpenAPI document.

use std::sync::atomic::{AtomicU64, Ordering};

use pollserve::app::extract::{Json, Path, Query};
use pollserve::app::middleware::{Exchange, Middleware};
use pollserve::app::openapi::{Info, op};
use pollserve::app::{App, Context, HeaderValue, Request, Response};
use pollserve::http::status::StatusCode;
use pollserve::testing::{TestClient, TestResponse};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// An app's state: a counter its handlers and hooks share.
#[derive(Default)]
struct Hits(AtomicU64);

fn count(_: &Request<'_>, context: &mut Context<'_, Hits>) -> Response {
    let n = context.state().0.fetch_add(1, Ordering::Relaxed) + 1;
    Response::text(StatusCode::OK, n.to_string())
}

/// Refuses requests without `X-Key: yes`, and tags what it lets through.
struct NeedsKey;

impl Middleware for NeedsKey {
    fn before(&self, request: &Request<'_>, _: &mut Exchange) -> Option<Response> {
        match request.header("x-key") {
            Some(b"yes") => None,
            _ => Some(Response::text(StatusCode::UNAUTHORIZED, "no key")),
        }
    }

    fn after(&self, _: &Exchange, response: &mut Response) {
        response.headers.push(("X-Scoped", HeaderValue::from_static("1")));
    }
}

#[test]
fn handlers_and_hooks_share_the_apps_state() {
    let app = App::new().with_state(Hits::default()).get("/count", count).before(
        |hits: &Hits, _: &Request<'_>, _: &mut Exchange| {
            hits.0.fetch_add(10, Ordering::Relaxed);
            None
        },
    );
    let client = TestClient::new(app);
    assert_eq!(client.get("/count").text(), "11");
    assert_eq!(client.get("/count").text(), "22");
}

#[test]
fn a_scopes_middleware_runs_for_its_routes_only_and_after_routing() {
    let open = |_: &Request<'_>, _: &mut Context<'_>| Response::text(StatusCode::OK, "open");
    let app = App::new().get("/items", open).scope("/admin", |admin| {
        admin.with(NeedsKey).get("/stats", open).scope("/deep", |deep| deep.post("/x", open))
    });
    let client = TestClient::new(app);
    let public = client.get("/items");
    assert_eq!((public.status, public.header("x-scoped")), (200, None));
    assert_eq!(client.get("/admin/stats").status, 401);
    let with_key = client.request("GET", "/admin/stats").header("X-Key", "yes").send();
    assert_eq!((with_key.status, with_key.header("x-scoped")), (200, Some("1")));
    // The nested scope starts with its parent's middleware.
    assert_eq!(client.request("POST", "/admin/deep/x").send().status, 401);
    // Routing answers first: no such path is 404 and no such method 405, key or not.
    assert_eq!(client.get("/admin/nothing").status, 404);
    assert_eq!(client.request("DELETE", "/admin/stats").send().status, 405);
}

#[test]
fn routes_added_before_the_state_keep_working() {
    let hello = |_: &Request<'_>, _: &mut Context<'_>| Response::text(StatusCode::OK, "hi");
    let app = App::new().get("/hi", hello).with_state(Hits::default()).get("/count", count);
    let client = TestClient::new(app);
    assert_eq!(client.get("/hi").text(), "hi");
    assert_eq!(client.get("/count").text(), "1");
}

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

fn fields(response: &TestResponse) -> Vec<(String, String)> {
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
    assert_eq!(client.get("/pets").json::<serde_json::Value>().unwrap(), json!({ "page": null, "tags": [] }));
}

#[test]
fn inputs_that_do_not_fit_get_422_naming_every_field() {
    let client = TestClient::new(app());
    let bad =
        client.request("POST", "/owners/7/pets").json(&json!({ "name": "", "age": 99, "tags": "x" })).send();
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
    assert_eq!((owner.status, fields(&owner)), (422, vec![("owner".into(), "must be an integer".into())]));
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
    assert_eq!(add["requestBody"]["required"], true);
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

#[test]
fn a_body_taken_as_it_comes_is_documented_as_optional() {
    let echo = |request: &Request<'_>, _: &mut Context<'_>| {
        Response::text(StatusCode::OK, request.body().len().to_string())
    };
    let app = App::new()
        .post("/echo", op(echo).accepts("text/plain"))
        .openapi("/openapi.json", Info::new("e", "1"));
    let doc: serde_json::Value = TestClient::new(app).get("/openapi.json").json().unwrap();
    let body = &doc["paths"]["/echo"]["post"]["requestBody"];
    assert_eq!(
        (body["required"].clone(), body["content"]["text/plain"]["schema"]["type"].clone()),
        (json!(false), json!("string"))
    );
}
