"""FastAPI + SQLite peer for the load test's database scenarios: the same /api routes pollserve
serves (users, login, items), written the way a careful FastAPI user would (issue 12): sqlite3 from
the standard library with one connection per worker thread (opened once, WAL, statements cached by
sqlite3), sync endpoints (FastAPI runs them in its thread pool), Argon2id password hashes
(argon2-cffi), random tokens stored as SHA-256 and kept in memory once seen (the same strategy as
pollserve's token cache; a miss looks the token up, so tokens issued by another worker process are
found too).

Usage: POLLSERVE_PEER_DB=/tmp/peer.db uvicorn fastapi_db_app:app --port PORT --no-access-log
"""

import hashlib
import os
import secrets
import sqlite3
import threading
import time
from datetime import datetime, timezone

from argon2 import PasswordHasher
from argon2.exceptions import VerifyMismatchError
from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

DB = os.environ.get("POLLSERVE_PEER_DB", "peer.db")
hasher = PasswordHasher()
app = FastAPI()


_local = threading.local()


def open_connection():
    conn = sqlite3.connect(DB, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL" if os.environ.get("PEER_SYNC") == "full" else "PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def connect():
    """This thread's connection, opened on first use and kept."""
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = open_connection()
    return conn


# token SHA-256 -> (user id, expiry): filled at login and on a lookup that finds one.
_tokens = {}
_tokens_lock = threading.Lock()


with open_connection() as c:
    c.executescript(
        """
        CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, username TEXT NOT NULL UNIQUE,
            password_hash TEXT NOT NULL, created_at INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS tokens (token_hash BLOB PRIMARY KEY, user_id INTEGER NOT NULL,
            expires_at INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL DEFAULT '',
            done INTEGER NOT NULL DEFAULT 0, owner INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
        """
    )


def rfc3339(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Credentials(BaseModel):
    username: str = Field(min_length=3, max_length=32)
    password: str = Field(min_length=8, max_length=128)


class ItemInput(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    body: str = ""
    done: bool = False


def item_json(row):
    return {"id": row[0], "title": row[1], "body": row[2], "done": bool(row[3]), "owner": row[4],
            "created_at": rfc3339(row[5]), "updated_at": rfc3339(row[6])}


SELECT = "SELECT i.id, i.title, i.body, i.done, u.username, i.created_at, i.updated_at FROM items i JOIN users u ON u.id = i.owner"


def current_user(authorization: str = Header(default="")):
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "authentication required", headers={"WWW-Authenticate": "Bearer"})
    digest = hashlib.sha256(token.encode()).digest()
    with _tokens_lock:
        known = _tokens.get(digest)
    if known is None:
        row = connect().execute(
            "SELECT user_id, expires_at FROM tokens WHERE token_hash = ? AND revoked = 0", (digest,)).fetchone()
        if row is not None:
            known = (row[0], row[1])
            with _tokens_lock:
                _tokens[digest] = known
    if known is None or known[1] <= time.time():
        raise HTTPException(401, "invalid token", headers={"WWW-Authenticate": "Bearer"})
    return known[0]


@app.post("/api/users", status_code=201)
def create_user(credentials: Credentials):
    now = int(time.time())
    try:
        with connect() as c:
            cur = c.execute("INSERT INTO users (username, password_hash, created_at) VALUES (?, ?, ?)",
                            (credentials.username, hasher.hash(credentials.password), now))
    except sqlite3.IntegrityError:
        raise HTTPException(409, "username already taken")
    return {"id": cur.lastrowid, "username": credentials.username, "created_at": rfc3339(now)}


@app.post("/api/login")
def login(credentials: Credentials):
    with connect() as c:
        row = c.execute("SELECT id, password_hash FROM users WHERE username = ?", (credentials.username,)).fetchone()
        try:
            if row is None:
                raise VerifyMismatchError()
            hasher.verify(row[1], credentials.password)
        except VerifyMismatchError:
            raise HTTPException(401, "invalid username or password")
        token = secrets.token_hex(32)
        expires = int(time.time()) + 86400
        digest = hashlib.sha256(token.encode()).digest()
        c.execute("INSERT INTO tokens (token_hash, user_id, expires_at) VALUES (?, ?, ?)", (digest, row[0], expires))
    with _tokens_lock:
        _tokens[digest] = (row[0], expires)
    return {"token": token, "expires_at": rfc3339(expires)}


@app.get("/api/items/{item_id}")
def get_item(item_id: int):
    with connect() as c:
        row = c.execute(SELECT + " WHERE i.id = ?", (item_id,)).fetchone()
    if row is None:
        raise HTTPException(404, "no such item")
    return item_json(row)


@app.post("/api/items", status_code=201)
def create_item(item: ItemInput, user_id: int = Depends(current_user)):
    now = int(time.time())
    with connect() as c:
        cur = c.execute("INSERT INTO items (title, body, done, owner, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                        (item.title, item.body, item.done, user_id, now, now))
        row = c.execute(SELECT + " WHERE i.id = ?", (cur.lastrowid,)).fetchone()
    return JSONResponse(item_json(row), status_code=201, headers={"Location": f"/api/items/{row[0]}"})
