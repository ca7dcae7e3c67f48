//! `/docs`: Swagger UI for an app's OpenAPI document. Its files ship inside the
//! `utoipa-swagger-ui` crate (vendored: nothing is downloaded, at build or at run time) and are
//! served from the binary, from the same origin as the API.

use std::sync::Arc;

use utoipa_swagger_ui::Config;

use super::response::HeaderValue;
use super::{HttpError, Response};
use crate::http::status::StatusCode;

/// The page for one document.
pub(super) struct Page {
    /// Where the page is: its folder, with the trailing `/`.
    folder: HeaderValue,
    config: Arc<Config<'static>>,
}

impl Page {
    /// The page at `path/` for the document at `openapi_url`.
    pub(super) fn new(path: &str, openapi_url: &str) -> Page {
        let folder = [path, "/"].concat();
        let folder = HeaderValue::try_from_bytes(folder.as_bytes()).unwrap_or(HeaderValue::from_static("/"));
        Page { folder, config: Arc::new(Config::new([openapi_url.to_owned()])) }
    }

    /// `path` itself: a redirect to the folder, where the page's relative links work.
    pub(super) fn redirect(&self) -> Response {
        Response::new(StatusCode::PERMANENT_REDIRECT).with_header("Location", self.folder.clone())
    }

    /// A file of the page (`""`: the page).
    pub(super) fn file(&self, name: &str) -> Response {
        match utoipa_swagger_ui::serve(name, Arc::clone(&self.config)) {
            Ok(Some(file)) => {
                let mut response = Response::bytes(
                    StatusCode::OK,
                    content_type(&file.content_type),
                    file.bytes.into_owned(),
                );
                if file.gzpipped {
                    response = response.with_header("Content-Encoding", HeaderValue::from_static("gzip"));
                }
                response
            }
            Ok(None) => HttpError::not_found("no such file").into(),
            Err(error) => {
                HttpError::internal("the documentation page could not be built").with_cause(error).into()
            }
        }
    }
}

/// The page's media types as static strings (a response's `Content-Type` is one).
fn content_type(guessed: &str) -> &'static str {
    match guessed {
        "text/html" => "text/html; charset=utf-8",
        "text/css" => "text/css; charset=utf-8",
        "application/javascript" | "text/javascript" => "text/javascript; charset=utf-8",
        "image/png" => "image/png",
        "application/json" => "application/json",
        _ => "application/octet-stream",
    }
}
