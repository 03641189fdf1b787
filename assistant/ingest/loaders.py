"""Load: files and folders -> extracted text plus metadata, one `LoadedDocument` per report.

llama-index's file readers are not used here: they drop the metadata a journalist needs (PDF info,
docx core properties, HTML <meta> tags, front matter) and give no stable text to point citations into.

Over 400 lines: one short loader per format (text, Markdown, HTML, PDF, docx, JSONL archives) and the metadata
rules they share.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlparse

SUPPORTED = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx", ".jsonl")
# Bumped when extraction changes, so that unchanged files are read again by the new code.
LOADER_VERSION = "1"
# A folder's README describes the folder; it is not a report.
SKIPPED_NAMES = {"readme.md", "readme.txt", "readme"}
MAX_DOCX_UNCOMPRESSED = 200 * 1024 * 1024


class LoadError(Exception):
    """A file (or one JSONL line) that cannot be read; the message names the reason."""


@dataclass
class LoadedDocument:
    text: str
    path: str
    locator: str  # what identifies the report: the file, or the file and its JSONL line
    meta: dict[str, str | None] = field(default_factory=dict)  # doc_id, title, source, author, date, url

    @property
    def hash(self) -> str:
        payload = json.dumps([self.text, sorted(self.meta.items())], ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class LoadedFile:
    path: str
    documents: list[LoadedDocument] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # per-line errors of a JSONL file


def find_files(paths: list[str | Path]) -> tuple[list[Path], list[tuple[str, str]], list[str]]:
    """Expand files and folders (recursively). Returns (files, [(path, error)], skipped): named files are
    taken whatever their type (an unsupported one fails later with a clear error); in folders, hidden
    entries, READMEs and unsupported types are skipped."""
    files: list[Path] = []
    errors: list[tuple[str, str]] = []
    skipped: list[str] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        real = p.resolve()
        if real not in seen:
            seen.add(real)
            files.append(p)

    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for child in sorted(_walk(p, errors)):
                if child.name.lower() in SKIPPED_NAMES:
                    continue
                if child.suffix.lower() in SUPPORTED:
                    add(child)
                else:
                    skipped.append(str(child))
        elif p.is_file():
            add(p)
        else:
            errors.append((str(p), f"{p}: no such file or folder"))
    return files, errors, skipped


def _walk(folder: Path, errors: list[tuple[str, str]]) -> Iterator[Path]:
    visited: set[Path] = set()
    stack = [folder]
    while stack:
        current = stack.pop()
        real = current.resolve()
        if real in visited:  # a symlink loop
            continue
        visited.add(real)
        try:
            entries = list(current.iterdir())
        except OSError as exc:
            errors.append((str(current), f"{current}: cannot read folder ({exc.strerror or exc})"))
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                stack.append(entry)
            elif entry.is_file():
                yield entry


MAX_RUN = 100_000  # characters without a space: encoded or binary data, never prose


def load_file(path: Path, max_bytes: int, max_document_chars: int = 10_000_000) -> LoadedFile:
    """Read one file. Raises LoadError with a message that names the file and the reason. `max_bytes`
    bounds the file, `max_document_chars` each report in it (a JSONL archive holds many)."""
    ext = path.suffix.lower()
    if ext not in SUPPORTED:
        raise LoadError(f"{path}: unsupported file type {ext or '(none)'} (supported: {', '.join(SUPPORTED)})")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise LoadError(f"{path}: {size / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB limit "
                            "(setting max_file_mb)")
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if not data.strip():
        raise LoadError(f"{path}: empty file")
    if ext == ".jsonl":
        loaded = _load_jsonl(path, data)
        for doc in list(loaded.documents):
            problem = _not_prose(doc.text, max_document_chars)
            if problem:
                loaded.documents.remove(doc)
                loaded.errors.append(f"{doc.locator.replace(str(path.resolve()), str(path))}: {problem}")
        if not loaded.documents:
            raise LoadError(f"{path}: no readable line ({loaded.errors[0]})")
        return loaded
    if ext not in (".pdf", ".docx") and len(data) > max_document_chars * 4:  # more than any text it could hold
        raise LoadError(f"{path}: {_not_prose('', max_document_chars, len(data))}")
    reader = {".pdf": _read_pdf, ".docx": _read_docx, ".html": _read_html, ".htm": _read_html}.get(ext, _read_text)
    text, meta = reader(path, data)
    text = _clean(text)
    if not text:
        raise LoadError(f"{path}: no text")
    problem = _not_prose(text, max_document_chars)
    if problem:
        raise LoadError(f"{path}: {problem}")
    meta.setdefault("title", None)
    meta["title"] = meta["title"] or _first_line(text) or path.stem
    return LoadedFile(str(path), [LoadedDocument(text, str(path), str(path.resolve()), _normalise(meta))])


def _not_prose(text: str, max_chars: int, size: int = 0) -> str | None:
    """Why a report's text cannot be ingested as it is, if it cannot: embedding a 50 MB dump or a
    5 MB line of base64 would take hours and answer nothing."""
    if len(text) > max_chars or size:
        amount = f"{len(text) / 1e6:.1f} million characters" if text else f"{size / 1e6:.1f} MB"
        return (f"one report of {amount} is over the limit of {max_chars / 1e6:g} million characters "
                "(setting max_document_mb); split it, or raise the limit")
    run = re.search(rf"\S{{{MAX_RUN},}}", text)
    if run:
        return (f"a run of {len(run.group(0)):,} characters without a space at character {run.start():,} "
                "(encoded or binary data?): not text")
    return None


def checksum(path: Path) -> str:
    """Fingerprint of a file's bytes and of the loader, to skip unchanged files without parsing them."""
    h = hashlib.sha256(LOADER_VERSION.encode())
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --- formats -------------------------------------------------------------------------------------

def _decode(path: Path, data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise LoadError(f"{path}: invalid UTF-16 text ({exc.reason} at byte {exc.start})") from exc
    if b"\x00" in data:
        raise LoadError(f"{path}: binary data, not text (NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start}); "
                        "save it as UTF-8 and ingest it again") from exc


FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*\n", re.S)


def _read_text(path: Path, data: bytes) -> tuple[str, dict]:
    import yaml

    text = _decode(path, data).replace("\r\n", "\n").replace("\r", "\n")
    meta: dict = {}
    m = FRONT_MATTER.match(text)
    if m:
        try:
            loaded = yaml.safe_load(m.group(1))
        except yaml.YAMLError as exc:
            raise LoadError(f"{path}: front matter is not valid YAML ({exc})") from exc
        if isinstance(loaded, dict):
            meta = {k.lower(): v for k, v in loaded.items() if isinstance(k, str)}
            text = text[m.end():]
    heading = re.search(r"^#{1,3}\s+(.+)$", text, re.M)
    if not meta.get("title") and heading:
        meta["title"] = heading.group(1).strip()
    return text, _pick(meta)


def _read_html(path: Path, data: bytes) -> tuple[str, dict]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "lxml")

    def meta_of(*names: str) -> str | None:
        for name in names:
            tag = soup.find("meta", attrs={"property": name}) or soup.find("meta", attrs={"name": name})
            if tag and tag.get("content", "").strip():
                return tag["content"].strip()
        return None

    canonical = soup.find("link", rel="canonical")
    time_tag = soup.find("time", datetime=True)
    h1 = soup.find("h1")
    meta = {
        "doc_id": meta_of("doc_id", "dc.identifier"),
        "title": meta_of("og:title", "twitter:title", "dc.title")
        or (soup.title.string.strip() if soup.title and soup.title.string else None)
        or (h1.get_text(" ", strip=True) if h1 else None),
        "source": meta_of("og:site_name", "publisher", "dc.publisher", "application-name"),
        "author": meta_of("author", "article:author", "dc.creator", "byl"),
        "date": meta_of("article:published_time", "date", "pubdate", "dc.date", "og:published_time")
        or (time_tag["datetime"] if time_tag else None),
        "url": meta_of("og:url") or (canonical.get("href") if canonical else None),
    }
    for tag in soup(["script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form",
                     "iframe", "svg"]):
        tag.decompose()
    body = soup.find("article") or soup.find("main") or soup.body or soup
    blocks = []
    for el in body.find_all(["h1", "h2", "h3", "h4", "p", "li", "blockquote", "pre", "figcaption", "td"]):
        if el.find(["p", "li", "blockquote"]):  # a container: its children are taken instead
            continue
        line = " ".join(el.get_text(" ", strip=True).split())
        if line:
            blocks.append(line)
    text = "\n\n".join(blocks) or body.get_text("\n", strip=True)
    return text, meta


def _read_pdf(path: Path, data: bytes) -> tuple[str, dict]:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise LoadError(f"{path}: the PDF is encrypted; remove the password and ingest it again")
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata or {}
    except LoadError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise LoadError(f"{path}: not a readable PDF ({exc})") from exc
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text.strip():
        raise LoadError(f"{path}: no text layer (a scan?); OCR is not supported")

    def field_of(*keys: str) -> str | None:
        for key in keys:
            value = info.get(key)
            if value and str(value).strip():
                return str(value).strip()
        return None

    meta = {
        "doc_id": field_of("/DocId", "/Identifier"),
        "title": field_of("/Title"),
        "author": field_of("/Author"),
        "source": field_of("/Source", "/Publisher"),
        "date": field_of("/PublishedDate", "/CreationDate"),
        "url": field_of("/URL", "/Url"),
    }
    return text, meta


def _read_docx(path: Path, data: bytes) -> tuple[str, dict]:
    import io

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        if sum(i.file_size for i in archive.infolist()) > MAX_DOCX_UNCOMPRESSED:
            raise LoadError(f"{path}: the .docx unpacks to more than {MAX_DOCX_UNCOMPRESSED >> 20} MB (zip bomb?)")
    except zipfile.BadZipFile as exc:
        raise LoadError(f"{path}: not a .docx (it is not a zip archive)") from exc
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises many kinds for a broken package
        raise LoadError(f"{path}: not a readable .docx ({exc})") from exc
    lines = [p.text.strip() for p in document.paragraphs if p.text.strip()]
    for table in document.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells if c.text.strip()]
            if cells:
                lines.append(" | ".join(cells))
    props = document.core_properties
    # docx core properties have no outlet field: the outlet is read from `subject`.
    meta = {
        "doc_id": props.identifier or None,
        "title": props.title or None,
        "author": props.author or None,
        "source": props.subject or None,
        "date": props.created,
    }
    return "\n\n".join(lines), meta


def _load_jsonl(path: Path, data: bytes) -> LoadedFile:
    result = LoadedFile(str(path))
    text = _decode(path, data)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            result.errors.append(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(row, dict):
            result.errors.append(f"{where}: a line must be a JSON object")
            continue
        body = row.get("body") or row.get("text")
        if not isinstance(body, str) or not _clean(body):
            result.errors.append(f"{where}: no 'body' or 'text'")
            continue
        body = _clean(body.replace("\r\n", "\n"))
        meta = _pick({k.lower(): v for k, v in row.items()})
        meta["title"] = meta.get("title") or _first_line(body)
        if not meta.get("source") and meta.get("url"):
            host = urlparse(str(meta["url"])).hostname or ""
            meta["source"] = host.removeprefix("www.") or None
        if not meta.get("date") and meta.get("url"):
            meta["date"] = url_date(str(meta["url"]))
        locator = f"{path.resolve()}#{meta.get('doc_id') or number}"
        result.documents.append(LoadedDocument(body, str(path), locator, _normalise(meta)))
    if not result.documents and result.errors:
        raise LoadError(f"{path}: no readable line ({result.errors[0]})")
    return result


# --- helpers ---------------------------------------------------------------------------------------

def _pick(meta: dict) -> dict:
    aliases = {
        "doc_id": ("doc_id", "id"),
        "title": ("title",),
        "source": ("source", "outlet", "publisher", "site_name"),
        "author": ("author", "authors", "byline"),
        "date": ("date", "published_at", "published", "pubdate"),
        "url": ("url", "link"),
        "category": ("category",),
    }
    out: dict = {}
    for key, names in aliases.items():
        for name in names:
            if meta.get(name) not in (None, "", []):
                out[key] = meta[name]
                break
    if isinstance(out.get("author"), list):
        out["author"] = ", ".join(str(a) for a in out["author"])
    return out


def _normalise(meta: dict) -> dict[str, str | None]:
    out = {k: (" ".join(str(v).split()) if v is not None else None) for k, v in meta.items() if k != "date"}
    out["date"] = iso_date(meta.get("date"))
    if out.get("doc_id"):
        out["doc_id"] = clean_doc_id(out["doc_id"])
    return out


def clean_doc_id(value: str) -> str | None:
    """A given doc_id as stored: runs of characters other than letters, digits and . _ : - become '-'."""
    return re.sub(r"[^A-Za-z0-9._:-]+", "-", " ".join(str(value).split())).strip("-") or None


URL_DATE = re.compile(r"/((?:19|20)\d\d)/(0?[1-9]|1[0-2])/(0?[1-9]|[12]\d|3[01])(?:/|$)")


def url_date(url: str) -> str | None:
    """The publication date news sites put in their article paths (/story/news/2023/01/05/...): a scraped
    page's only date when the archive gives none. A pattern of URLs, not of prose, hence the regex."""
    m = URL_DATE.search(urlparse(url).path)
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
    except ValueError:
        return None


def iso_date(value: object) -> str | None:
    """A date in any common form (ISO 8601, PDF's D:YYYYMMDD..., 2023/01/07, 6 October 2023) -> YYYY-MM-DD."""
    if value in (None, ""):
        return None
    if isinstance(value, (datetime, date)):
        return value.strftime("%Y-%m-%d")
    text = str(value).strip()
    m = re.match(r"^D:(\d{4})(\d{2})?(\d{2})?", text)
    if m:
        return f"{m.group(1)}-{m.group(2) or '01'}-{m.group(3) or '01'}"
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).strftime("%Y-%m-%d")
    except ValueError:
        pass
    from dateutil import parser

    try:
        return parser.parse(text, fuzzy=True, default=datetime(2000, 1, 1)).strftime("%Y-%m-%d")
    except (ValueError, OverflowError):
        return None


def _clean(text: str) -> str:
    text = text.replace("\x00", "").replace("\u00a0", " ")
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def _first_line(text: str) -> str | None:
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line[:200]
    return None


def default_doc_id(doc: LoadedDocument) -> str:
    """A readable id that is the same on every machine for the same report: a slug of the title and a
    short hash of the text."""
    slug = re.sub(r"[^a-z0-9]+", "-", (doc.meta.get("title") or "report").lower()).strip("-")[:48].strip("-")
    return f"{slug or 'report'}-{hashlib.sha256(doc.text.encode()).hexdigest()[:8]}"
