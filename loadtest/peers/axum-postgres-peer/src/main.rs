//! axum + tokio-postgres peer: the /api routes the load test's PostgreSQL scenarios use (register,
//! login, create an item, read an item), written the way an axum user would: a deadpool-postgres
//! pool of 16 connections, statements prepared through the pool's statement cache, one query per
//! round trip, bearer tokens looked up by their SHA-256 on every request, password hashing in
//! `spawn_blocking`. The same schema as pollserve's.
//! Usage: DATABASE_URL=postgres://… axum-postgres-peer ADDR THREADS

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio_postgres::NoTls;

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

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS users (id bigserial PRIMARY KEY, username text NOT NULL UNIQUE,
        password_hash text NOT NULL, created_at bigint NOT NULL);
    CREATE TABLE IF NOT EXISTS tokens (token_hash bytea PRIMARY KEY, user_id bigint NOT NULL REFERENCES users(id),
        expires_at bigint NOT NULL, revoked boolean NOT NULL DEFAULT false);
    CREATE TABLE IF NOT EXISTS items (id bigserial PRIMARY KEY, title text NOT NULL, body text NOT NULL DEFAULT '',
        done boolean NOT NULL DEFAULT false, owner bigint NOT NULL REFERENCES users(id),
        created_at bigint NOT NULL, updated_at bigint NOT NULL);";

const SELECT: &str = "SELECT i.id, i.title, i.body, i.done, u.username, i.created_at, i.updated_at \
                      FROM items i JOIN users u ON u.id = i.owner WHERE i.id = $1";

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

fn item_json(row: &tokio_postgres::Row, owner: Option<&str>) -> Value {
    let owner = owner.map_or_else(|| row.get::<_, String>(4), str::to_owned);
    json!({
        "id": row.get::<_, i64>(0), "title": row.get::<_, String>(1), "body": row.get::<_, String>(2),
        "done": row.get::<_, bool>(3), "owner": owner,
        "created_at": rfc3339(row.get(5)), "updated_at": rfc3339(row.get(6)),
    })
}

async fn create_user(State(pool): State<Pool>, Json(c): Json<Credentials>) -> Response {
    let password = c.password.clone();
    let hash = tokio::task::spawn_blocking(move || {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(internal)?;
        let salt = SaltString::encode_b64(&bytes).map_err(internal)?;
        Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(internal)
    })
    .await;
    let hash = match hash {
        Ok(Ok(hash)) => hash,
        Ok(Err(response)) => return response,
        Err(e) => return internal(e),
    };
    let result = async {
        let client = pool.get().await.map_err(internal)?;
        let statement = client
            .prepare_cached(
                "INSERT INTO users (username, password_hash, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (username) DO NOTHING RETURNING id",
            )
            .await
            .map_err(internal)?;
        let created = now();
        let row = client.query_opt(&statement, &[&c.username, &hash, &created]).await.map_err(internal)?;
        let Some(row) = row else { return Err(error(StatusCode::CONFLICT, "username already taken")) };
        let id: i64 = row.get(0);
        Ok((StatusCode::CREATED, Json(json!({ "id": id, "username": c.username, "created_at": rfc3339(created) })))
            .into_response())
    }
    .await;
    result.unwrap_or_else(|e| e)
}

async fn login(State(pool): State<Pool>, Json(c): Json<Credentials>) -> Response {
    let result = async {
        let client = pool.get().await.map_err(internal)?;
        let statement =
            client.prepare_cached("SELECT id, password_hash FROM users WHERE username = $1").await.map_err(internal)?;
        let user = client.query_opt(&statement, &[&c.username]).await.map_err(internal)?;
        let user: Option<(i64, String)> = user.map(|row| (row.get(0), row.get(1)));
        let password = c.password.clone();
        let checked = user.clone();
        let valid = tokio::task::spawn_blocking(move || {
            checked.is_some_and(|(_, phc)| {
                PasswordHash::new(&phc).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
            })
        })
        .await
        .map_err(internal)?;
        let Some((user_id, _)) = user.filter(|_| valid) else {
            return Err(error(StatusCode::UNAUTHORIZED, "invalid username or password"));
        };
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(internal)?;
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let expires = now() + 86_400;
        let digest = Sha256::digest(token.as_bytes()).to_vec();
        let statement = client
            .prepare_cached("INSERT INTO tokens (token_hash, user_id, expires_at) VALUES ($1, $2, $3)")
            .await
            .map_err(internal)?;
        client.execute(&statement, &[&digest, &user_id, &expires]).await.map_err(internal)?;
        Ok(Json(json!({ "token": token, "expires_at": rfc3339(expires) })).into_response())
    }
    .await;
    result.unwrap_or_else(|e| e)
}

async fn get_item(State(pool): State<Pool>, Path(id): Path<i64>) -> Response {
    let result = async {
        let client = pool.get().await.map_err(internal)?;
        let statement = client.prepare_cached(SELECT).await.map_err(internal)?;
        let row = client.query_opt(&statement, &[&id]).await.map_err(internal)?;
        row.map(|row| Json(item_json(&row, None)).into_response())
            .ok_or_else(|| error(StatusCode::NOT_FOUND, "no such item"))
    }
    .await;
    result.unwrap_or_else(|e| e)
}

async fn create_item(State(pool): State<Pool>, headers: HeaderMap, Json(item): Json<ItemInput>) -> Response {
    let result = async {
        let unauthorized = || error(StatusCode::UNAUTHORIZED, "invalid token");
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(unauthorized)?;
        if item.title.is_empty() || item.title.chars().count() > 200 {
            return Err(error(StatusCode::UNPROCESSABLE_ENTITY, "validation failed"));
        }
        let digest = Sha256::digest(token.as_bytes()).to_vec();
        let client = pool.get().await.map_err(internal)?;
        let lookup = client
            .prepare_cached(
                "SELECT t.user_id, u.username FROM tokens t JOIN users u ON u.id = t.user_id
                 WHERE t.token_hash = $1 AND NOT t.revoked AND t.expires_at > $2",
            )
            .await
            .map_err(internal)?;
        let caller = client.query_opt(&lookup, &[&digest, &now()]).await.map_err(internal)?.ok_or_else(unauthorized)?;
        let (owner, username): (i64, String) = (caller.get(0), caller.get(1));
        let insert = client
            .prepare_cached(
                "INSERT INTO items (title, body, done, owner, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)
                 RETURNING id, title, body, done, owner, created_at, updated_at",
            )
            .await
            .map_err(internal)?;
        let row = client.query_one(&insert, &[&item.title, &item.body, &item.done, &owner, &now()]).await.map_err(internal)?;
        let id: i64 = row.get(0);
        let item = item_json(&row, Some(&username));
        Ok((StatusCode::CREATED, [(header::LOCATION, format!("/api/items/{id}"))], Json(item)).into_response())
    }
    .await;
    result.unwrap_or_else(|e| e)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8003".into());
    let threads: usize = args.next().and_then(|t| t.parse().ok()).unwrap_or(1);
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_io().enable_time().build().unwrap();
    runtime.block_on(async {
        let config: tokio_postgres::Config = url.parse().expect("a PostgreSQL URL");
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager).max_size(16).build().expect("the pool");
        pool.get().await.expect("connect").batch_execute(SCHEMA).await.expect("create the schema");
        let app = Router::new()
            .route("/api/users", post(create_user))
            .route("/api/login", post(login))
            .route("/api/items", post(create_item))
            .route("/api/items/{id}", get(get_item))
            .with_state(pool);
        let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
        println!("axum-postgres listening on http://{}", listener.local_addr().unwrap());
        axum::serve(listener, app).await.unwrap();
    });
}
