"""`assistant serve`: the chat (ui.py) and a plain HTTP JSON API on one port, over one Assistant.

- Questions run in parallel, up to `workers` at once; the chat, the API and Gradio's `/ask` share the gate.
- Uploads and removals run beside them: the store shows each question a consistent library (store.py).
- It loads everything and answers one question before it says ready; `GET /api/health` tells.
- Users come from --auth USER:PASS or an --auth-file of USER:PASSWORD or USER:pbkdf2_sha256$... lines;
  the chat asks for them on a login page, the API as HTTP Basic auth.
- The API's page (`/api/docs`) is served from files inside the package (fastapi-offline): no CDN.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import tempfile
import threading
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Literal

# FastAPI reads the route functions' annotations, so what they name is imported here, not in a function.
import anyio
import httpx
from fastapi import APIRouter, Depends, File, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..core import Assistant
from ..index.pg_catalog import CatalogUnavailable
from ..index.store import StoreUnavailable
from ..models import Filters
from ..settings import Answerer
from .service import Service
from .users import Users

# --- the HTTP API ------------------------------------------------------------------------------------------

class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: str


class AskRequest(BaseModel):
    """The body of POST /api/ask: the options of `assistant ask`."""

    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1, description="The question.")
    history: list[Turn] = Field(default_factory=list, description="The conversation so far, oldest first.")
    filters: Filters | None = Field(default=None, description="Only these outlets, dates or documents.")
    top_k: int | None = Field(default=None, ge=1, le=100, description="Passages to retrieve.")
    answerer: Answerer | None = None
    strict: bool | None = Field(default=None, description="Remove sentences no passage supports.")


class TimelineRequest(BaseModel):
    """The body of POST /api/timeline: the options of `assistant timeline`."""

    model_config = ConfigDict(extra="forbid")
    topic: str = Field(min_length=1, description="What the timeline is about.")
    filters: Filters | None = Field(default=None, description="Only these outlets, dates or documents.")
    top_k: int | None = Field(default=None, ge=1, le=100, description="Passages to retrieve.")
    format: Literal["json", "markdown", "csv"] = Field(
        default="json", description="json: as `assistant timeline --json`; markdown or csv: the export, as text.")


class CompareRequest(BaseModel):
    """The body of POST /api/compare: the options of `assistant compare`."""

    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1, description="The question.")
    filters: Filters | None = Field(default=None, description="Only these outlets, dates or documents.")
    top_k: int | None = Field(default=None, ge=1, le=100, description="Passages to retrieve.")


def create_server(service: Service, users: Users | None = None):
    """The FastAPI app: /api/... routes, then the chat mounted at /."""
    import gradio as gr
    from fastapi_offline import FastAPIOffline

    from ..index.lock import StoreBusy
    from ..read.generate import LLMError
    from .ui import CSS, create_app, unsupported

    assistant = service.assistant
    max_bytes = int(assistant.settings.max_file_mb * 1e6)
    api = FastAPIOffline(title="Report Assistant API", version="1", docs_url="/api/docs", redoc_url=None,
                         openapi_url="/api/openapi.json", static_url="/api/static",
                         description="Answers about your reports, every sentence cited. Errors are "
                                     '{"error": message}. HTTP Basic auth when the server has users.')
    basic = HTTPBasic(auto_error=False)

    def authorized(credentials: HTTPBasicCredentials | None = Depends(basic)) -> None:
        if users is not None and (credentials is None or not users(credentials.username, credentials.password)):
            raise HTTPException(401, "a user name and password are needed (HTTP Basic auth)",
                                headers={"WWW-Authenticate": 'Basic realm="Report Assistant"'})

    def ready() -> None:
        if not service.ready.is_set():
            raise HTTPException(503, service.failed or "starting: the model and the store are loading")

    @api.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, exc.status_code, headers=getattr(exc, "headers", None))

    # A backend that restarts or cannot be reached: the question gets a 503 that names it, and the pool
    # reconnects by itself once it is back (pg_catalog.py).
    @api.exception_handler(CatalogUnavailable)
    @api.exception_handler(StoreUnavailable)
    async def backend_down(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": f"{exc}; try again shortly"}, 503, headers={"Retry-After": "5"})

    @api.exception_handler(httpx.TransportError)
    async def vectors_down(_request: Request, exc: Exception) -> JSONResponse:
        if not assistant.settings.chroma_url:  # no Chroma server to blame (an LLM's errors are LLMError)
            return JSONResponse({"error": f"{type(exc).__name__}: {exc}"}, 500)
        return JSONResponse({"error": f"the Chroma server at {assistant.settings.chroma_url} does not answer "
                                      f"({exc}); try again shortly"}, 503, headers={"Retry-After": "5"})

    @api.exception_handler(RequestValidationError)
    async def bad_input(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for e in exc.errors():
            where = ".".join(str(x) for x in e["loc"] if x != "body") or "body"
            problems.append(f"{where}: {str(e['msg']).removeprefix('Value error, ')}")
        return JSONResponse({"error": "; ".join(problems)}, 400)

    router = APIRouter(prefix="/api", dependencies=[Depends(authorized)])

    limiters: list[anyio.CapacityLimiter] = []  # made in the event loop, on the first question

    async def run(call):
        """Questions waiting their turn wait here, holding no thread: the server's thread pool stays free
        for health, jobs and the chat however many questions queue."""
        if not limiters:
            limiters.append(anyio.CapacityLimiter(service.workers))
        try:
            return await anyio.to_thread.run_sync(call, limiter=limiters[0])
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        except LLMError as exc:
            raise HTTPException(502, str(exc)) from None

    @router.post("/ask", dependencies=[Depends(ready)])
    async def ask(request: AskRequest) -> JSONResponse:
        """Answer a question: exactly the JSON of `assistant ask --json`."""
        answer = await run(functools.partial(service.ask, request.question, top_k=request.top_k,
                                             filters=request.filters, history=[t.model_dump() for t in request.history],
                                             answerer=request.answerer, strict=request.strict))
        return JSONResponse(answer.model_dump(mode="json"))

    @router.post("/timeline", dependencies=[Depends(ready)], response_model=None)
    async def timeline(request: TimelineRequest) -> JSONResponse | PlainTextResponse:
        """The dated events the reports state about a topic, oldest first: `assistant timeline --json`, or
        its Markdown or CSV export."""
        from ..read.timeline_export import to_csv, to_markdown

        result = await run(functools.partial(service.timeline, request.topic, filters=request.filters,
                                             top_k=request.top_k))
        if request.format == "markdown":
            return PlainTextResponse(to_markdown(result), media_type="text/markdown")
        if request.format == "csv":
            return PlainTextResponse(to_csv(result), media_type="text/csv")
        return JSONResponse(result.model_dump(mode="json"))

    @router.post("/compare", dependencies=[Depends(ready)])
    async def compare(request: CompareRequest) -> JSONResponse:
        """Who said what: each outlet's sentence that best answers the question (`assistant compare --json`)."""
        result = await run(functools.partial(service.compare, request.question, filters=request.filters,
                                             top_k=request.top_k))
        return JSONResponse(result.model_dump(mode="json"))

    @router.get("/documents")
    def documents() -> JSONResponse:
        """The documents in the library, newest first (as `assistant docs list --json`)."""
        return JSONResponse([d.model_dump(mode="json") for d in assistant.documents()])

    @router.get("/documents/{doc_id}")
    def document(doc_id: str) -> JSONResponse:
        """One document with its full extracted text (as `assistant docs show ID --json`)."""
        try:
            return JSONResponse(assistant.document(doc_id).model_dump(mode="json"))
        except KeyError:
            raise HTTPException(404, f"no document with doc_id {doc_id!r}") from None

    @router.delete("/documents/{doc_id}")
    def remove(doc_id: str) -> JSONResponse:
        """Remove a document and all its chunks; questions asked meanwhile see it whole or not at all."""
        try:
            removed = assistant.remove([doc_id])
        except StoreBusy as exc:
            raise HTTPException(409, str(exc)) from None
        if not removed:
            raise HTTPException(404, f"no document with doc_id {doc_id!r}")
        return JSONResponse({"removed": removed})

    @router.post("/documents")
    def upload(files: list[UploadFile] = File(description="Reports: .txt .md .html .pdf .docx .jsonl")
               ) -> JSONResponse:
        """Add or update reports. The ingest JSON (as `assistant ingest --json`) when it is done within
        upload_wait_seconds; otherwise 202 with a job to follow at GET /api/jobs/{id}."""
        paths = stage(files)
        job = service.ingest(paths, assistant.settings.upload_wait_seconds)
        if job.status == "done":
            result = job.result or {}
            if result.get("failed") and not (result.get("added") or result.get("updated") or result.get("unchanged")):
                errors = "; ".join(d["error"] for d in result["documents"] if d.get("error"))
                return JSONResponse({"error": errors, "result": result}, 400)
            return JSONResponse(result)
        if job.status == "failed":
            raise HTTPException(409 if (job.error or "").startswith("StoreBusy") else 500, job.error)
        return JSONResponse({"job": job.id, "status": job.status, "url": f"/api/jobs/{job.id}"}, 202,
                            headers={"Location": f"/api/jobs/{job.id}"})

    def stage(files: list[UploadFile]) -> list[Path]:
        """Checks every file first (type, size), then moves them into the store's uploads folder."""
        for f in files:
            name = Path(f.filename or "").name
            if not name:
                raise HTTPException(400, "an uploaded file has no name")
            if refused := unsupported(name):
                raise HTTPException(400, refused)
            if (f.size or 0) > max_bytes:
                raise HTTPException(413, f"{name}: {f.size / 1e6:.1f} MB is more than max_file_mb "
                                         f"({assistant.settings.max_file_mb:g} MB)")
        service.uploads.mkdir(parents=True, exist_ok=True)
        paths = []
        for f in files:
            target = service.uploads / Path(f.filename).name
            # Written beside, then renamed: a file cut short never takes the place of a good one.
            with tempfile.NamedTemporaryFile(dir=service.uploads, delete=False, suffix=".part") as out:
                shutil.copyfileobj(f.file, out)
            os.replace(out.name, target)
            assistant.store.catalog.keep_upload(target)
            paths.append(target)
        return paths

    @router.get("/jobs/{job_id}")
    async def job(job_id: str) -> JSONResponse:
        """An upload's progress, then its ingest JSON in "result"."""
        found = await anyio.to_thread.run_sync(service.job, job_id)
        if found is None:
            raise HTTPException(404, f"no job {job_id!r}")
        return JSONResponse(found)

    api.include_router(router)

    @api.get("/api/health")
    def health() -> JSONResponse:
        """Ready or not, the number of documents, and each backend (catalog, vectors) with whether it answers.
        No password needed: it tells nothing of their content. 503 when not ready or a backend is down."""
        if not service.ready.is_set():
            return JSONResponse({"ready": False, "error": service.failed}, 503)
        backends = assistant.store.health()
        if not all(b["ok"] for b in backends.values()):
            return JSONResponse({"ready": False, "backends": backends,
                                 "error": "; ".join(b["error"] for b in backends.values() if not b["ok"])}, 503)
        return JSONResponse({"ready": True, "documents": assistant.store.count(), "workers": service.workers,
                             "backends": backends})

    blocks = create_app(service)
    return gr.mount_gradio_app(api, blocks, path="/", auth=users, show_error=True, css=CSS,
                               max_file_size=max_bytes)


def serve(assistant: Assistant, host: str = "127.0.0.1", port: int = 7860, users: Users | None = None) -> None:
    """Serve until stopped. Refuses (StoreServed) when another server holds the store."""
    import uvicorn

    from ..index.lock import serving

    service = Service(assistant, assistant.settings.workers)
    app = create_server(service, users)
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    # Open browser tabs keep streams open: stopping waits for them a little, never for ever.
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=3))

    def warm() -> None:
        started = time.perf_counter()
        print(f"Starting on {url}: loading the model and the store...", file=sys.stderr, flush=True)
        try:
            service.warm()
        except Exception as exc:
            print(f"error: cannot answer questions: {service.failed or exc}", file=sys.stderr, flush=True)
            return
        print(f"Ready in {time.perf_counter() - started:.1f} s: {url} ({len(assistant.documents())} documents; "
              f"{service.workers} questions at once; API at {url}api/docs)", flush=True)

    # A local store has one server; a shared catalog (PostgreSQL) has as many as the library needs.
    with serving(Path(assistant.settings.store), url) if not assistant.settings.catalog_url else nullcontext():
        threading.Thread(target=warm, name="warm-up", daemon=True).start()
        server.run()
