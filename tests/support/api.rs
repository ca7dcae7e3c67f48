//! Calling the JSON API from wire tests.

use serde_json::{Value, json};

use super::Client;

/// A request to the JSON API, with a bearer token and a body if given.
pub fn request(method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> Vec<u8> {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let body = body.map(Value::to_string).unwrap_or_default();
    format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Sends a request and returns the status and the JSON body (`Null` when empty).
pub fn call(
    client: &mut Client,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let response = client.request(&request(method, path, token, body.as_ref()));
    let json =
        if response.body.is_empty() { Value::Null } else { serde_json::from_slice(&response.body).unwrap() };
    (response.status, json)
}

/// Registers `name` and logs in; returns the token.
pub fn user(client: &mut Client, name: &str) -> String {
    let credentials = json!({ "username": name, "password": "correct horse" });
    let (status, _) = call(client, "POST", "/api/users", None, Some(credentials.clone()));
    assert_eq!(status, 201);
    let (status, login) = call(client, "POST", "/api/login", None, Some(credentials));
    assert_eq!(status, 200);
    login["token"].as_str().unwrap().to_owned()
}
