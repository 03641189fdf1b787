"""assistant/ingest/loaders.py and pipeline.py: Bad input: each kind gets a clear error naming the file and the reason;
the rest of a batch is stored; what was stored before is untouched (issue 8). See docs/limits.md."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from assistant.ingest import loaders
from assistant.ingest.loaders import LoadError, load_file

from .conftest import CORPUS

MB = 10**6


def pdf_bytes(text: str | None = None, image: bool = False, password: str | None = None) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    if text:
        pdf.set_font("helvetica", size=12)
        pdf.multi_cell(0, 10, text)
    if image:  # a scanned page: a picture of text, no text layer
        from PIL import Image, ImageDraw

        picture = Image.new("L", (600, 200), 255)
        ImageDraw.Draw(picture).text((20, 80), "Rail traffic rose sharply at Tumangang.", fill=0)
        pdf.image(picture, x=10, y=10, w=180)
    if password:
        pdf.set_encryption(owner_password=password + "-owner", user_password=password)
    return bytes(pdf.output())


def refused(path: Path, *reasons: str, max_bytes: int = 100 * MB, max_chars: int = 10 * MB) -> str:
    with pytest.raises(LoadError) as err:
        load_file(path, max_bytes, max_chars)
    message = str(err.value)
    assert message.startswith(str(path)), message
    for reason in reasons:
        assert reason in message, message
    return message


def test_encrypted_pdf(tmp_path):
    p = tmp_path / "leaked memo.pdf"
    p.write_bytes(pdf_bytes("Secret text of the memo.", password="s3cret"))
    refused(p, "encrypted", "remove the password")


def test_scanned_pdf_without_a_text_layer(tmp_path):
    p = tmp_path / "scan.pdf"
    p.write_bytes(pdf_bytes(image=True))
    refused(p, "no text layer", "OCR is not supported")


def test_corrupt_pdf_and_a_good_one(tmp_path):
    good = tmp_path / "good.pdf"
    good.write_bytes(pdf_bytes("Rail traffic rose sharply at Tumangang in October."))
    assert "Tumangang" in load_file(good, 100 * MB).documents[0].text
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(pdf_bytes("x")[:200])  # cut short
    refused(bad, "not a readable PDF")


def test_utf16_text_is_read_and_broken_utf16_refused(tmp_path):
    p = tmp_path / "utf16.txt"
    p.write_bytes("Überfall auf die Grenze: 73 Güterwagen.".encode("utf-16"))
    assert load_file(p, MB).documents[0].text.startswith("Überfall")
    broken = tmp_path / "broken16.txt"
    broken.write_bytes(b"\xff\xfe" + "abc".encode("utf-16-le") + b"\x00\xd8")  # a lone surrogate half
    refused(broken, "invalid UTF-16")


def test_nul_bytes_anywhere_mean_binary(tmp_path):
    p = tmp_path / "tail.txt"
    p.write_bytes(b"ordinary text " * 2000 + b"\x00\x00binary tail")
    refused(p, "binary data", "NUL")


def test_a_50_mb_text_file_is_refused_with_the_limit_and_its_setting(tmp_path):
    p = tmp_path / "dump.txt"
    with p.open("w") as f:
        line = "The committee met again on Tuesday and discussed the rail traffic at length. " * 10 + "\n"
        for _ in range(50 * MB // len(line) + 1):
            f.write(line)
    message = refused(p, "over the limit", "max_document_mb")
    assert "50." in message or "51." in message  # its size, said


def test_a_5_mb_line_without_spaces_is_not_text(tmp_path):
    p = tmp_path / "blob.md"
    p.write_text("# Attachment\n\n" + "QUJD" * (5 * MB // 4) + "\n")
    refused(p, "without a space", "not text")


def test_jsonl_bad_rows_fail_alone_with_their_line_numbers(tmp_path):
    p = tmp_path / "archive.jsonl"
    rows = [json.dumps({"doc_id": "a", "title": "A", "body": "Ferry crews walked out on Friday."}),
            "{broken json",
            json.dumps({"doc_id": "b", "title": "B"}),
            json.dumps({"doc_id": "c", "title": "C", "body": "x" * 200_000}),
            json.dumps({"doc_id": "d", "title": "D", "body": "The port reopened on Monday."})]
    p.write_text("\n".join(rows) + "\n")
    loaded = load_file(p, MB)
    assert [d.meta["doc_id"] for d in loaded.documents] == ["a", "d"]
    assert loaded.errors[0].startswith(f"{p}:2: not valid JSON")
    assert loaded.errors[1] == f"{p}:3: no 'body' or 'text'"
    assert loaded.errors[2].startswith(f"{p}#c: a run of 200,000 characters without a space")


def test_unreadable_file_is_named(tmp_path, monkeypatch):
    p = tmp_path / "locked.txt"
    p.write_text("text")
    real = Path.read_bytes

    def read_bytes(self):
        if self == p:
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)  # root reads anything: simulate what a user meets
    refused(p, "cannot read", "Permission denied")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read a file without permissions")
def test_unreadable_file_for_real(tmp_path):
    p = tmp_path / "locked.txt"
    p.write_text("text")
    p.chmod(0)
    refused(p, "cannot read")


def test_a_folder_with_a_symlink_loop_and_an_unreadable_subfolder(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "report.md").write_text("# Report\n\nText of the report.")
    (tmp_path / "a" / "loop").symlink_to(tmp_path)
    (tmp_path / "locked").mkdir()
    real = Path.iterdir

    def iterdir(self):
        if self == tmp_path / "locked":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)  # root reads any folder: simulate what a user meets
    files, errors, _ = loaders.find_files([tmp_path])
    assert [f.name for f in files] == ["report.md"]
    assert any("locked" in path and "Permission denied" in message for path, message in errors)


def test_odd_file_names_and_the_same_file_twice(fresh, tmp_path):
    name = "Über die Grenze $(touch pwned); 'quoted' & [draft] #2.md"
    p = tmp_path / name
    p.write_text("---\ntitle: Border report\n---\nTrains crossed the border at Tumangang on Friday.\n")
    report = fresh.ingest([p, p, tmp_path / name])
    assert (report.added, report.failed) == (1, 0)
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()
    doc = fresh.documents()[0]
    assert doc.path.endswith(name) and doc.title == "Border report"


def test_a_bad_batch_keeps_the_good_files_and_what_was_stored(fresh, tmp_path):
    fresh.ingest([CORPUS / "2023-10-06-tumangang-freight-cars.md"])
    before = {d.doc_id: d.hash for d in fresh.documents()}
    chunks = fresh.store.chunk_count()
    (tmp_path / "good.md").write_text("# Ferry strike\n\nFerry crews walked out on Friday, halting 42 crossings.")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "junk.txt").write_bytes(os.urandom(2000) + b"\x00")
    (tmp_path / "fake.docx").write_bytes(b"not a zip")
    report = fresh.ingest([tmp_path])
    assert (report.added, report.failed) == (1, 3)
    assert all(str(tmp_path) in d.error for d in report.documents if d.status == "failed")
    after = {d.doc_id: d.hash for d in fresh.documents()}
    assert {k: after[k] for k in before} == before and len(after) == len(before) + 1
    assert fresh.store.chunk_count() > chunks


@pytest.mark.parametrize("question", ["?!?...", "¿¡…—", "freight " * 4000, "x" * 20_000])
def test_odd_questions_answer_or_abstain(assistant, question):
    answer = assistant.ask(question)
    assert answer.abstained or answer.citations


def test_a_docx_that_is_fine(tmp_path):
    import docx

    document = docx.Document()
    document.add_heading("Ferry strike", 1)
    document.add_paragraph("Ferry crews walked out on Friday.")
    buffer = io.BytesIO()
    document.save(buffer)
    p = tmp_path / "ok.docx"
    p.write_bytes(buffer.getvalue())
    assert "walked out" in load_file(p, MB).documents[0].text
