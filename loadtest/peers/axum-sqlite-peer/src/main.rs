//! axum + rusqlite peer: the /api routes the load test's database scenarios use (register, login,
//! create an item, read an item), written the way an axum user would: an r2d2 pool of read
//! connections, one writer connection behind a mutex, every database call in `spawn_blocking`,
//! prepared statements cached per connection, bearer tokens looked up by their SHA-256.
//! WAL and `synchronous=NORMAL`, like pollserve; `PEER_SYNC=full` for `synchronous=FULL`.
//! Usage: POLLSERVE_PEER_DB=/tmp/peer.db axum-sqlite-peer ADDR THREADS

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use r2d2_sqlite::SqliteConnectionManager;
use r2d2_sqlite::rusqlite::{self, Connection, OptionalExtension, params};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

type Pool = r2d2::Pool<SqliteConnectionManager>;

#[derive(Clone)]
struct Db {
    readers: Pool,
    writer: Arc<Mutex<Connection>>,
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

#[derive(Deserialize)]
struct ItemInput {
    title: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    done: bool,
}

const SELECT: &str = "SELECT i.id, i.title, i.body, i.done, u.username, i.created_at, i.updated_at \
                      FROM items i JOIN users u ON u.id = i.owner WHERE i.id = ?1";

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn rfc3339(t: i64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(t as u64)).to_string()
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": { "status": status.as_u16(), "message": message } }))).into_response()
}

fn internal<E: std::fmt::Display>(e: E) -> Response {
    error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())
}

fn configure(c: &Connection, sync: &str) -> rusqlite::Result<()> {
    c.pragma_update(None, "journal_mode", "WAL")?;
    c.pragma_update(None, "synchronous", sync)?;
    c.pragma_update(None, "foreign_keys", "ON")?;
    c.busy_timeout(Duration::from_secs(5))
}

fn item_json(row: &rusqlite::Row<'_>) -> rusqlite::Result<Value> {
    Ok(json!({
        "id": row.get::<_, i64>(0)?, "title": row.get::<_, String>(1)?, "body": row.get::<_, String>(2)?,
        "done": row.get::<_, bool>(3)?, "owner": row.get::<_, String>(4)?,
        "created_at": rfc3339(row.get(5)?), "updated_at": rfc3339(row.get(6)?),
    }))
}

/// Runs blocking database work off the async workers.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T, Response> + Send + 'static) -> Result<T, Response> {
    tokio::task::spawn_blocking(work).await.map_err(internal)?
}

async fn create_user(State(db): State<Db>, Json(c): Json<Credentials>) -> Response {
    blocking(move || {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(internal)?;
        let salt = SaltString::encode_b64(&bytes).map_err(internal)?;
        let hash = Argon2::default().hash_password(c.password.as_bytes(), &salt).map_err(internal)?.to_string();
        let created = now();
        let writer = db.writer.lock().unwrap_or_else(|e| e.into_inner());
        let inserted = writer
            .prepare_cached("INSERT INTO users (username, password_hash, created_at) VALUES (?1, ?2, ?3)")
            .and_then(|mut s| s.execute(params![c.username, hash, created]));
        match inserted {
            Ok(_) => Ok((
                StatusCode::CREATED,
                Json(json!({ "id": writer.last_insert_rowid(), "username": c.username, "created_at": rfc3339(created) })),
            )
                .into_response()),
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                Err(error(StatusCode::CONFLICT, "username already taken"))
            }
            Err(e) => Err(internal(e)),
        }
    })
    .await
    .unwrap_or_else(|e| e)
}

async fn login(State(db): State<Db>, Json(c): Json<Credentials>) -> Response {
    blocking(move || {
        let reader = db.readers.get().map_err(internal)?;
        let user: Option<(i64, String)> = reader
            .prepare_cached("SELECT id, password_hash FROM users WHERE username = ?1")
            .and_then(|mut s| s.query_row([&c.username], |r| Ok((r.get(0)?, r.get(1)?))).optional())
            .map_err(internal)?;
        let valid = user.as_ref().is_some_and(|(_, phc)| {
            PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(c.password.as_bytes(), &h).is_ok())
        });
        let Some((user_id, _)) = user.filter(|_| valid) else {
            return Err(error(StatusCode::UNAUTHORIZED, "invalid username or password"));
        };
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(internal)?;
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let expires = now() + 86_400;
        let digest = Sha256::digest(token.as_bytes()).to_vec();
        let writer = db.writer.lock().unwrap_or_else(|e| e.into_inner());
        writer
            .prepare_cached("INSERT INTO tokens (token_hash, user_id, expires_at) VALUES (?1, ?2, ?3)")
            .and_then(|mut s| s.execute(params![digest, user_id, expires]))
            .map_err(internal)?;
        Ok(Json(json!({ "token": token, "expires_at": rfc3339(expires) })).into_response())
    })
    .await
    .unwrap_or_else(|e| e)
}

async fn get_item(State(db): State<Db>, Path(id): Path<i64>) -> Response {
    blocking(move || {
        let reader = db.readers.get().map_err(internal)?;
        let item = reader
            .prepare_cached(SELECT)
            .and_then(|mut s| s.query_row([id], item_json).optional())
            .map_err(internal)?;
        item.map(|item| Json(item).into_response()).ok_or_else(|| error(StatusCode::NOT_FOUND, "no such item"))
    })
    .await
    .unwrap_or_else(|e| e)
}

/// The caller's user id from `Authorization: Bearer …`, looked up by the token's SHA-256.
fn caller(db: &Db, headers: &HeaderMap) -> Result<i64, Response> {
    let unauthorized = || error(StatusCode::UNAUTHORIZED, "invalid token");
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(unauthorized)?;
    let digest = Sha256::digest(token.as_bytes()).to_vec();
    let reader = db.readers.get().map_err(internal)?;
    let row: Option<(i64, i64, bool)> = reader
        .prepare_cached("SELECT user_id, expires_at, revoked FROM tokens WHERE token_hash = ?1")
        .and_then(|mut s| s.query_row([digest], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional())
        .map_err(internal)?;
    match row {
        Some((user_id, expires, false)) if expires > now() => Ok(user_id),
        _ => Err(unauthorized()),
    }
}

async fn create_item(State(db): State<Db>, headers: HeaderMap, Json(item): Json<ItemInput>) -> Response {
    blocking(move || {
        let owner = caller(&db, &headers)?;
        if item.title.is_empty() || item.title.chars().count() > 200 {
            return Err(error(StatusCode::UNPROCESSABLE_ENTITY, "validation failed"));
        }
        let created = now();
        let writer = db.writer.lock().unwrap_or_else(|e| e.into_inner());
        writer
            .prepare_cached(
                "INSERT INTO items (title, body, done, owner, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            )
            .and_then(|mut s| s.execute(params![item.title, item.body, item.done, owner, created]))
            .map_err(internal)?;
        let id = writer.last_insert_rowid();
        let item = writer.prepare_cached(SELECT).and_then(|mut s| s.query_row([id], item_json)).map_err(internal)?;
        Ok((StatusCode::CREATED, [(header::LOCATION, format!("/api/items/{id}"))], Json(item)).into_response())
    })
    .await
    .unwrap_or_else(|e| e)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8002".into());
    let threads: usize = args.next().and_then(|t| t.parse().ok()).unwrap_or(1);
    let path = std::env::var("POLLSERVE_PEER_DB").unwrap_or_else(|_| "peer.db".into());
    let sync = if std::env::var("PEER_SYNC").is_ok_and(|s| s == "full") { "FULL" } else { "NORMAL" };
    let writer = Connection::open(&path).expect("open the database");
    configure(&writer, sync).expect("configure the database");
    writer
        .execute_batch(
            "CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, username TEXT NOT NULL UNIQUE,
                 password_hash TEXT NOT NULL, created_at INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS tokens (token_hash BLOB PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id),
                 expires_at INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);
             CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL DEFAULT '',
                 done INTEGER NOT NULL DEFAULT 0, owner INTEGER NOT NULL REFERENCES users(id),
                 created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);",
        )
        .expect("create the schema");
    let manager = SqliteConnectionManager::file(&path).with_init(move |c| configure(c, sync));
    let readers = r2d2::Pool::builder().max_size((threads * 4) as u32).build(manager).expect("reader pool");
    let db = Db { readers, writer: Arc::new(Mutex::new(writer)) };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_io().build().unwrap();
    runtime.block_on(async {
        let app = Router::new()
            .route("/api/users", post(create_user))
            .route("/api/login", post(login))
            .route("/api/items", post(create_item))
            .route("/api/items/{id}", get(get_item))
            .with_state(db);
        let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
        println!("axum-sqlite listening on http://{}", listener.local_addr().unwrap());
        axum::serve(listener, app).await.unwrap();
    });
}
