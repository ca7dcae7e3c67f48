"""FastAPI peer (the blog post's next step), run by uvicorn with one worker.

Usage: uvicorn fastapi_app:app --host 127.0.0.1 --port PORT --no-access-log
"""

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, Response

HELLO = b'{"message": "Hello bro, this is your HTTP response"}'

app = FastAPI()


@app.get("/")
async def root():
    return Response(content=HELLO, media_type="application/json")


@app.get("/json")
async def json_test():
    # FastAPI serializes the dict per request: {"message":"Hello, World!"}
    return {"message": "Hello, World!"}


@app.get("/plaintext")
async def plaintext():
    return PlainTextResponse("Hello, World!")
