"""Build the PDF and DOCX sample reports in this folder.

The text of the four binary reports lives in this script, so the generated
files can always be rebuilt from source:

    .venv/bin/python corpus/build_binary_reports.py

Output is deterministic: fixed creation dates, fixed ZIP timestamps in the
DOCX files, and fixed document IDs in the PDF files, so running the script
twice produces byte-identical files.

PDF text uses the core Helvetica font, so it is restricted to Latin-1
characters (plain hyphens, straight quotes).
"""

from __future__ import annotations

import io
import zipfile
from datetime import datetime, timezone
from pathlib import Path

from docx import Document
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

HERE = Path(__file__).resolve().parent

# ---------------------------------------------------------------------------
# Report texts
# ---------------------------------------------------------------------------

PDF_REPORTS = [
    {
        "filename": "2023-10-19-khasan-rajin-rail-trade.pdf",
        "doc_id": "khasan-rajin-trade-abd",
        "title": "Khasan-Rajin line: a quiet freight corridor back in the spotlight",
        "source": "Amur Business Daily",
        "author": "Sofia Levandovskaya",
        "date": datetime(2023, 10, 19, 9, 0, tzinfo=timezone.utc),
        "subject": "Rail and port trade between Russia and North Korea",
        "paragraphs": [
            "For most of the past decade, the railway from the Russian border village of Khasan to the North Korean port of Rajin has been one of the quietest freight corridors in the region. Since the September summit between Kim Jong-un and Vladimir Putin, it has become one of the most closely watched.",
            "The railway between Khasan and Rajin runs for about 54 kilometres and is laid with dual-gauge track, so that both Russian broad-gauge wagons and North Korean standard-gauge wagons can use it.",
            "The line was rebuilt by a Russian-North Korean joint venture and reopened in 2013, together with a terminal at Rajin port. The idea was simple: Russian goods would travel by rail to an ice-free port on the Sea of Japan and be loaded onto ships there, avoiding congested Russian harbours further north.",
            "Before the pandemic, the main cargo on the route was Russian coal, unloaded at a dedicated terminal in Rajin and shipped onward by sea.",
            "That trade survived several rounds of UN sanctions because coal that could be shown to come from Russia was exempted from the ban on North Korean coal exports. Volumes were never large, however, and the project struggled to attract the foreign partners it had hoped for.",
            "Then came COVID-19. North Korea closed its borders in early 2020, and traffic on the line fell to a handful of trains. Freight forwarders in Vladivostok say they largely stopped offering the route to customers.",
            "The picture changed this autumn. A study published on 5 October by Beyond Parallel, a website of the Center for Strategic and International Studies in Washington, counted 73 freight cars at Tumangang station, the North Korean stop closest to the border. That was far more than at any point in the previous five years, and the authors said the jump possibly indicated deliveries of weapons and ammunition to Russia.",
            "For traders, the change in the type of rolling stock is as interesting as the numbers. Open coal wagons show what they carry; covered wagons and containers do not. Containers are harder to read from orbit than open coal wagons, because their contents are hidden from view.",
            "Port activity at Rajin is the other piece of the puzzle. Ships can load containers at the port and sail to Russian Pacific harbours within a day or two, so rail and sea traffic may be two halves of the same flow.",
            "Businesses in Primorye that hoped the summit would revive ordinary trade are cautious. Several said they had seen no new commercial contracts for the corridor and no change in customs procedures. If the line is busy again, one logistics manager said, it is not with cargo that appears on his order books.",
        ],
    },
    {
        "filename": "2023-11-08-border-rail-follow-up.pdf",
        "doc_id": "border-rail-followup-erg",
        "title": "A month on, questions remain over North Korea-Russia rail traffic",
        "source": "Eastern Rail Gazette",
        "author": "Hugo Vandermeer",
        "date": datetime(2023, 11, 8, 8, 0, tzinfo=timezone.utc),
        "subject": "Follow-up on border rail traffic",
        "paragraphs": [
            "A month after satellite pictures showed an unusual build-up of wagons at the border between North Korea and Russia, the short railway that links the two countries remains at the centre of a debate about what, exactly, is being moved.",
            "The Beyond Parallel study that first drew attention to the traffic was released on 6 October and counted 73 freight cars at Tumangang station in Rason.",
            "Its authors, Joseph Bermudez, Victor Cha and Jennifer Jun, described the figure as far higher than anything seen at the station in the preceding five years. They suggested that the increase possibly reflected weapons and ammunition going to Russia, while stressing that covers on the wagons and containers meant the cargo could not be conclusively identified.",
            "Since then, the argument has moved from satellite images to official statements. In mid-October the White House said North Korea had delivered military equipment and munitions to Russia, and officials in Seoul have briefed lawmakers along similar lines. Moscow and Pyongyang have not acknowledged any such deliveries.",
            "For railway observers, the official claims raise practical questions. The line between the border and the port of Rajin is short and single-track, and Tumangang station has only limited room for wagons. A sustained flow of heavy cargo would require careful scheduling of trains on both sides of the Tumen River bridge, as well as space to transfer loads between wagons of different gauges.",
            "None of these questions can be settled from public information alone. Images of covered wagons and sealed containers can show that traffic has increased, but not what is inside. Intelligence agencies may have other sources; independent analysts do not.",
            "What is clear is how much has changed since the summit at the Vostochny Cosmodrome on 13 September. For most of the pandemic, the Tumangang-Khasan link was almost idle. It is now one of the most closely watched stretches of railway in Asia, and every new satellite pass over Rason is studied for signs of how the relationship between Pyongyang and Moscow is developing.",
            "The Eastern Rail Gazette will continue to report on traffic through the crossing as new information becomes available.",
        ],
    },
]

DOCX_REPORTS = [
    {
        "filename": "2023-09-14-putin-space-cooperation.docx",
        "doc_id": "putin-space-cooperation-nam",
        "title": "Putin signals room for military and space cooperation with Pyongyang",
        "source": "Northeast Asia Monitor",
        "author": "Ingrid Solberg",
        "date": datetime(2023, 9, 14, 7, 30, tzinfo=timezone.utc),
        "paragraphs": [
            "Russian President Vladimir Putin gave the clearest hint yet of what he and Kim Jong-un discussed at their summit, suggesting that Moscow is prepared to work with North Korea in areas that Western governments have tried for years to keep closed.",
            "Speaking after the talks, Putin said there was room for military and space cooperation with Pyongyang.",
            "He did not go into detail, and the Kremlin released no account of the closed-door part of the meeting at the Vostochny Cosmodrome on 13 September. But the venue itself pointed in one direction. Putin suggested that Russia might help North Korea build satellites, and the two leaders toured the spaceport's launch facilities together before their talks.",
            "Pyongyang has good reason to want that help. North Korea tried twice this year to put a military reconnaissance satellite into orbit, and both launches failed. Russia has decades of experience in building rockets and satellites and could shorten North Korea's path considerably.",
            "Western officials and analysts see a problem with that. North Korean satellite launches rely on the same rocket technology as its long-range ballistic missiles, and UN Security Council resolutions bar Pyongyang from any launch that uses ballistic missile technology. Help with space launches could therefore feed directly into the country's weapons programmes.",
            "Putin's remarks on military cooperation were even vaguer. He did not mention ammunition or any specific weapons. Governments in Seoul and Washington have nonetheless warned that any exchange of arms would breach UN resolutions that Russia itself supported.",
            "Kim, for his part, used the visit to express support for Moscow in its confrontation with the West and described relations with Russia as a priority for his country.",
            "The details of what, if anything, was agreed are likely to emerge only slowly. Analysts say the clearest evidence may come from satellite images of launch sites, ports and the rail crossing between the two countries in the months ahead.",
        ],
    },
    {
        "filename": "2023-09-27-un-resolutions-explainer.docx",
        "doc_id": "un-resolutions-explainer-cpr",
        "title": "Explainer: the UN resolutions at stake in a Russia-North Korea arms deal",
        "source": "Capital Policy Review",
        "author": "Alicia Brennan",
        "date": datetime(2023, 9, 27, 12, 0, tzinfo=timezone.utc),
        "paragraphs": [
            "When officials in Seoul and Washington warn that an arms exchange between Russia and North Korea would be illegal, they are pointing to a body of UN Security Council resolutions built up over almost two decades. Here is what those measures say and why Russia's own votes matter.",
            "The first of them, Resolution 1718, was adopted in October 2006, days after North Korea carried out its first nuclear test.",
            "That resolution set up a sanctions committee and restricted trade in major weapons with North Korea. Over the following decade, after further nuclear tests and missile launches, the Council tightened the measures several times. Today, UN member states are barred from buying any arms or related materiel from North Korea and from selling it any.",
            "Every one of those resolutions passed without a single vote against, which means Russia, a permanent member with a veto, supported them all.",
            "That is why the prospect of Moscow buying North Korean shells has drawn such strong criticism. US intelligence officials, quoted by American media, have said Pyongyang might supply millions of artillery shells and anti-tank missiles. Any such purchase would breach measures that Russia voted for.",
            "The other side of a possible bargain raises its own problems. The resolutions also prohibit transfers that could help North Korea's nuclear and ballistic missile programmes. Satellite technology and help with nuclear-powered submarines, both reportedly on Pyongyang's wish list, would fall squarely into that category.",
            "Enforcement is the weak point. A panel of experts reports to the sanctions committee on violations, but the Council can only punish a breach by adopting new measures, and Russia can veto any of them. In practice, the response to a Russia-North Korea deal would have to come from national sanctions imposed by the United States, South Korea, Japan and European governments.",
            "None of this is likely to deter a determined buyer and seller. But it explains why Western officials keep repeating the same warning: an arms exchange would not only help Russia in Ukraine, it would also undermine a sanctions system that Russia itself helped to build.",
        ],
    },
]

# ---------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------


def _check_latin1(report: dict) -> None:
    for text in [report["title"], report["author"], report["source"], *report["paragraphs"]]:
        text.encode("latin-1")


def build_pdf(report: dict) -> Path:
    _check_latin1(report)
    pdf = FPDF(format="A4")
    pdf.set_margins(20, 20, 20)
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.set_title(report["title"])
    pdf.set_author(report["author"])
    pdf.set_subject(report["subject"])
    pdf.set_creator("Report Assistant sample corpus")
    pdf.set_producer("fpdf2")
    pdf.set_creation_date(report["date"])
    pdf.add_page()

    pdf.set_font("Helvetica", "B", 16)
    pdf.multi_cell(0, 8, report["title"], new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("Helvetica", "I", 10)
    byline = f"By {report['author']}, {report['source']} - {report['date']:%d %B %Y}"
    pdf.multi_cell(0, 6, byline, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", "", 11)
    for paragraph in report["paragraphs"]:
        pdf.multi_cell(0, 6, paragraph, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)

    raw = bytes(pdf.output())

    # Add the custom /Source and /DocId info keys with pypdf.
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(raw)))
    writer.add_metadata({"/Source": report["source"], "/DocId": report["doc_id"]})
    buffer = io.BytesIO()
    writer.write(buffer)

    path = HERE / report["filename"]
    path.write_bytes(buffer.getvalue())
    return path


def _normalise_zip(data: bytes) -> bytes:
    """Rewrite a DOCX zip with fixed timestamps so the output is reproducible."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            info = zipfile.ZipInfo(item.filename, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            target.writestr(info, source.read(item.filename))
    return out.getvalue()


def build_docx(report: dict) -> Path:
    document = Document()
    props = document.core_properties
    created = report["date"].replace(tzinfo=None)
    props.title = report["title"]
    props.author = report["author"]
    props.created = created
    props.modified = created
    props.last_modified_by = report["author"]
    props.revision = 1
    props.subject = report["source"]
    props.identifier = report["doc_id"]

    document.add_heading(report["title"], level=1)
    for paragraph in report["paragraphs"]:
        document.add_paragraph(paragraph)

    buffer = io.BytesIO()
    document.save(buffer)
    path = HERE / report["filename"]
    path.write_bytes(_normalise_zip(buffer.getvalue()))
    return path


def main() -> None:
    for report in PDF_REPORTS:
        print("wrote", build_pdf(report).name)
    for report in DOCX_REPORTS:
        print("wrote", build_docx(report).name)


if __name__ == "__main__":
    main()
