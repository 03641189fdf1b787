"""assistant/ingest/loaders.py: every format, its metadata and its errors."""

import json
import zipfile

import pytest

from assistant.ingest import loaders
from assistant.ingest.loaders import LoadError, find_files, iso_date, load_file

from .conftest import CORPUS, shared_file

MB = 10_000_000


def one(path):
    loaded = load_file(path, MB)
    assert len(loaded.documents) == 1
    return loaded.documents[0]


def test_markdown_front_matter(tmp_path):
    p = tmp_path / "a.md"
    p.write_text("---\ndoc_id: rail-1\ntitle: Rail traffic\nsource: Pacific Wire\nauthor: [A. B, C. D]\n"
                 "date: 2023-10-06\nurl: https://example.org/x\n---\n# Heading\n\nBody text here.\n")
    d = one(p)
    assert d.meta == {"doc_id": "rail-1", "title": "Rail traffic", "source": "Pacific Wire", "author": "A. B, C. D",
                      "date": "2023-10-06", "url": "https://example.org/x"}
    assert d.text.startswith("# Heading")


def test_title_falls_back_to_heading_then_first_line(tmp_path):
    (tmp_path / "h.md").write_text("Intro line\n\n# The Heading\n\nText.")
    (tmp_path / "t.txt").write_text("\n\n  First line is the title\nMore text.")
    assert one(tmp_path / "h.md").meta["title"] == "The Heading"
    assert one(tmp_path / "t.txt").meta["title"] == "First line is the title"


def test_html_meta_and_boilerplate(tmp_path):
    p = tmp_path / "a.html"
    p.write_text("""<html><head><title>Page title</title>
      <meta property="og:title" content="OG title"><meta property="og:site_name" content="Seoul Ledger">
      <meta name="author" content="Kim Reporter">
      <meta property="article:published_time" content="2023-09-14T08:30:00+09:00">
      <meta property="og:url" content="https://example.org/a"></head>
      <body><nav>Home | World</nav><article><h1>Head</h1><p>First   paragraph.</p><p>Second.</p></article>
      <footer>Copyright</footer><script>alert(1)</script></body></html>""")
    d = one(p)
    assert d.meta["title"] == "OG title" and d.meta["source"] == "Seoul Ledger"
    assert d.meta["author"] == "Kim Reporter" and d.meta["date"] == "2023-09-14"
    assert d.meta["url"] == "https://example.org/a"
    assert d.text == "Head\n\nFirst paragraph.\n\nSecond."


def test_corpus_pdf_and_docx_metadata():
    pdfs, docxs = sorted(CORPUS.glob("*.pdf")), sorted(CORPUS.glob("*.docx"))
    assert pdfs and docxs
    for path in pdfs + docxs:
        d = one(path)
        assert d.meta["doc_id"] and d.meta["title"] and d.meta["source"] and d.meta["date"], path
        assert len(d.text) > 500, path


def test_find_files_walks_folders_and_skips(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.md").write_text("x y z")
    (tmp_path / "README.md").write_text("about the folder")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / ".hidden.md").write_text("secret")
    (tmp_path / "loop").symlink_to(tmp_path)
    files, errors, skipped = find_files([tmp_path, tmp_path / "sub" / "a.md", tmp_path / "missing.md"])
    assert [f.name for f in files] == ["a.md"]
    assert skipped == [str(tmp_path / "image.png")]
    assert errors == [(str(tmp_path / "missing.md"), f"{tmp_path / 'missing.md'}: no such file or folder")]


@pytest.mark.parametrize("name,content,reason", [
    ("empty.txt", b"", "empty file"),
    ("blank.md", b"  \n\t\n", "empty file"),
    ("junk.txt", b"\x00\x01\x02binary\x00", "binary data"),
    ("latin1.txt", "caf\u00e9 cr\u00e8me".encode("latin-1"), "not valid UTF-8"),
    ("notes.rtf", b"{\\rtf1 hello}", "unsupported file type .rtf"),
    ("broken.pdf", b"%PDF-1.4 this is not a pdf", "not a readable PDF"),
    ("fake.docx", b"not a zip at all", "not a .docx"),
])
def test_bad_files_name_file_and_reason(tmp_path, name, content, reason):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(LoadError) as err:
        load_file(p, MB)
    assert str(p) in str(err.value) and reason in str(err.value)


def test_docx_zip_bomb_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(loaders, "MAX_DOCX_UNCOMPRESSED", 1000)
    p = tmp_path / "bomb.docx"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("word/document.xml", "0" * 100_000)
    with pytest.raises(LoadError, match="zip bomb"):
        load_file(p, MB)


def test_size_limit(tmp_path):
    p = tmp_path / "big.txt"
    p.write_text("word " * 1000)
    with pytest.raises(LoadError, match="over the 0 MB limit"):
        load_file(p, 100)


def test_jsonl_rows_errors_and_outlet_from_url(tmp_path):
    p = tmp_path / "news.jsonl"
    rows = [
        {"doc_id": "n1", "title": "One", "body": "Body one.", "url": "https://www.example.com/a",
         "published_at": "2023-01-05"},
        {"text": "Body two has no id.", "source": "Wire", "date": "2023/01/07"},
        "not json",
        {"title": "no body"},
    ]
    p.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    loaded = load_file(p, MB)
    assert [d.meta.get("doc_id") for d in loaded.documents] == ["n1", None]
    assert loaded.documents[0].meta["source"] == "example.com"
    assert loaded.documents[0].meta["date"] == "2023-01-05" and loaded.documents[1].meta["date"] == "2023-01-07"
    assert loaded.errors[0].startswith(f"{p}:3: not valid JSON")
    assert loaded.errors[1] == f"{p}:4: no 'body' or 'text'"


@pytest.mark.parametrize("url,expected", [
    ("https://www.usatoday.com/story/sports/nfl/2023/01/05/damar-hamlin-health/10991034002/", "2023-01-05"),
    ("http://example.org/news/2018/10/21", "2018-10-21"), ("https://example.org/2023/02/30/x", None),
    ("https://example.org/news/12345/2023-story", None), ("https://example.org/?d=/2023/01/05/", None),
])
def test_a_page_with_no_date_takes_the_one_in_its_url(url, expected):
    assert loaders.url_date(url) == expected


def test_jsonl_row_without_a_date_is_dated_by_its_url_and_a_given_date_wins(tmp_path):
    p = tmp_path / "news.jsonl"
    url = "https://example.com/story/2023/01/05/a/"
    p.write_text(json.dumps({"body": "Text one.", "url": url}) + "\n"
                 + json.dumps({"body": "Text two.", "url": url, "date": "2023-01-09"}) + "\n")
    assert [d.meta["date"] for d in load_file(p, MB).documents] == ["2023-01-05", "2023-01-09"]


def test_realtimeqa_jsonl_sample(tmp_path):
    src = shared_file("data/realtimeqa/docs.jsonl")
    sample = tmp_path / "sample.jsonl"
    sample.write_text("".join(src.read_text().splitlines(keepends=True)[:100]))
    loaded = load_file(sample, MB)
    assert len(loaded.documents) == 100 and not loaded.errors
    assert all(d.meta["source"] and d.meta["doc_id"].startswith("rt-") for d in loaded.documents)


@pytest.mark.parametrize("value,expected", [
    ("2023-10-06", "2023-10-06"), ("2023-09-14T08:30:00+09:00", "2023-09-14"),
    ("D:20231006103600+00'00'", "2023-10-06"),
    ("2023/01/07/05:11", "2023-01-07"), ("6 October 2023", "2023-10-06"), ("", None), ("no date here", None),
])
def test_iso_date(value, expected):
    assert iso_date(value) == expected


def test_default_doc_id_is_stable_and_readable(tmp_path):
    (tmp_path / "a.txt").write_text("Kim meets Putin\nText of the report.")
    first, again = one(tmp_path / "a.txt"), one(tmp_path / "a.txt")
    assert loaders.default_doc_id(first) == loaders.default_doc_id(again)
    assert loaders.default_doc_id(first).startswith("kim-meets-putin-")
