"""Evaluation sweeps: one evaluation set run under every combination of some settings, into one table and plot.

An evaluator deciding on a chunk size, a top-k, a retrieval mode or an answerer wants to see them side by side
on the same questions, with how far each figure could move by chance and what each costs in time. `run_sweep`
runs the set once per combination of the --grid values (run.run_eval, each into a run folder of its own with
its report.md/.html), then writes beside those folders:

- sweep.json: every combination with its settings, store, headline metrics, their 95% intervals and latency;
- sweep.md: the same as a table, one row per combination;
- sweep.png: answer quality against latency, one point per combination, with its interval as an error bar;
- sweep.html: the table and the plot on one self-contained page, linking to each run's report.

Settings that change what a store holds (BUILD) get a store of their own, ingested once and shared by every
combination with the same build settings; the others (top_k, retrieval_mode, answerer, ...) only change the
Assistant asking. The embedding model is loaded once and shared by every Assistant that uses it.
"""

from __future__ import annotations

import difflib
import hashlib
import html
import itertools
import json
import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from .report import STYLE, _fmt, write_report
from .run import HEADLINE, declared_corpus, eval_store, headline, load_set, run_eval
from .stats import RESAMPLES

if TYPE_CHECKING:
    from ..settings import Settings

# Settings that change how a store is built (core.Assistant.store's build dict, and the sentence vectors that
# an ingest puts in the store's embedding cache): each set of values needs a store of its own.
BUILD = ("embedding_model", "chunk_size", "chunk_overlap", "contextual_headers", "sentence_vectors_at_ingest")
# Where the sweep's stores live is the sweep's business, and a key would end up in every table.
NOT_SWEPT = {
    "store": "the sweep chooses its stores",
    "chroma_url": "where vectors are kept is not a setting to compare",
    "chroma_collection": "the sweep chooses its collections",
    "llm_api_key": "a secret would be written into every table",
}
# The y axis of sweep.png: the first of these that some combination has (answer.contains needs references).
PLOT_METRICS = ("answer.contains", "answer.f1", *HEADLINE)
PLOT_ALT = "answer quality against latency"


def parse_grid(specs: Sequence[str], config: str | Path | None = None) -> dict[str, list[str]]:
    """{setting: [values]} from --grid specs `NAME=V1,V2,...`, in the order given. Raises ValueError naming
    the spec when it is malformed, names no setting (or one the sweep sets itself), repeats a name or a value,
    or has a value the setting rejects (checked by building the settings with it, over `config`)."""
    from pydantic import ValidationError

    from ..settings import Settings, load_settings

    grid: dict[str, list[str]] = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        name = name.strip().replace("-", "_")
        items = [v.strip() for v in values.split(",")]
        if not sep or not name:
            raise ValueError(f"--grid {spec}: expected NAME=VALUE1,VALUE2,... (e.g. top_k=5,10,20)")
        if name not in Settings.model_fields:
            close = difflib.get_close_matches(name, Settings.model_fields, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ValueError(f"--grid {spec}: {name!r} is not a setting ({hint}the settings are in "
                             "assistant/settings.py)")
        if name in NOT_SWEPT:
            raise ValueError(f"--grid {spec}: {name} cannot be swept ({NOT_SWEPT[name]})")
        if name in grid:
            raise ValueError(f"--grid {spec}: {name} is already given by an earlier --grid")
        if "" in items:
            raise ValueError(f"--grid {spec}: an empty value (expected NAME=VALUE1,VALUE2,...)")
        repeated = sorted({v for v in items if items.count(v) > 1})
        if repeated:
            raise ValueError(f"--grid {spec}: {', '.join(repeated)} given twice")
        for value in items:
            try:
                load_settings(config, **{name: value})
            except ValidationError as exc:
                reasons = [e["msg"] for e in exc.errors() if e["loc"][:1] == (name,)]
                if not reasons:  # the config file is what is wrong: its own message says so
                    raise
                raise ValueError(f"--grid {name}={value}: {'; '.join(reasons)}") from None
        grid[name] = items
    return grid


def run_sweep(set_path: str | Path, grid: Sequence[str] | Mapping[str, Sequence[str]], out: str | Path | None = None,
              config: str | Path | None = None, limit: int | None = None, progress: bool = True,
              resamples: int = RESAMPLES) -> Path:
    """Run the evaluation set `set_path` (its first `limit` questions) once per combination of `grid` (--grid
    specs, or {setting: [values]}) over the corpus its TOML declares; write a run folder per combination
    and sweep.json, sweep.md, sweep.png and sweep.html in `out` [runs/SET-sweep-TIME]; return sweep.html.

    Raises ValueError naming the --grid item for a bad grid, and for a set without questions or corpus;
    FileNotFoundError for a missing config file; errors of the answerer (llms.LLMError) and the store as they
    come (a combination whose LLM needs a setting it lacks is reported before any run)."""
    from tqdm import tqdm

    from ..core import Assistant

    set_path = Path(set_path)
    specs = [f"{k}={','.join(map(str, v))}" for k, v in grid.items()] if isinstance(grid, Mapping) else list(grid)
    if not specs:
        raise ValueError("no --grid given: name at least one setting to sweep, e.g. --grid top_k=5,10,20")
    swept = parse_grid(specs, config)
    cases = load_set(set_path)[:limit]
    if not cases:
        raise ValueError(f"{set_path}: no questions")
    corpus = declared_corpus(set_path)
    if not corpus:
        raise ValueError(f"{set_path}: a sweep needs the set's corpus, declared in {set_path.with_suffix('.toml')} "
                         "(evals/README.md)")
    combinations = list(itertools.product(*swept.values()))
    plans = [_plan(number, dict(zip(swept, values)), config, corpus, len(str(len(combinations))))
             for number, values in enumerate(combinations, start=1)]
    last_use = {plan.store: plan.index for plan in plans}  # a store is closed after its last combination
    out = Path(out) if out else Path("runs") / f"{set_path.stem}-sweep-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    stores, model_donors, chunker_donors = {}, {}, {}
    rows = []
    bar = tqdm(plans, desc="sweep", unit="run", file=sys.stderr, disable=not progress)
    for plan in bar:
        bar.set_postfix_str(plan.label)
        settings = plan.settings
        assistant = Assistant(settings=settings)
        # Components another combination already loaded: the model (seconds to load), the chunker (which
        # depends on the chunk settings too) and the open store.
        donor = model_donors.get((settings.embedding_model, settings.embed_batch_size))
        _share(assistant, donor, ("embed_model",))
        if donor is not None and "embedder" in donor.__dict__:
            _share(assistant.embedder, donor.embedder, ("encoder",))
        _share(assistant, chunker_donors.get(_chunking(settings)), ("chunker",))
        if plan.store in stores:
            assistant.__dict__["store"] = stores[plan.store]
        status = "reused"
        if assistant.store.empty():
            _ingest(assistant, corpus, progress)
            status = "built"
        stores[plan.store] = assistant.store
        folder = out / plan.folder
        summary = run_eval(assistant, cases, folder, top_k=settings.top_k, progress=progress,
                           set_path=str(set_path), corpus=corpus, resamples=resamples)
        write_report(folder)
        rows.append(_row(plan, summary, status))
        model_donors.setdefault((settings.embedding_model, settings.embed_batch_size), assistant)
        if "chunker" in assistant.__dict__:  # only an ingest loads it
            chunker_donors.setdefault(_chunking(settings), assistant)
        if last_use[plan.store] == plan.index:
            stores[plan.store].close()
    bar.close()
    sweep = {"set": str(set_path), "corpus": [str(p) for p in corpus], "questions": len(cases),
             "resamples": resamples, "grid": swept, "headline": list(HEADLINE), "combinations": rows}
    return write_sweep(out, sweep)


def write_sweep(out: str | Path, sweep: dict) -> Path:
    """sweep.json, sweep.md, sweep.png and sweep.html in `out` for a sweep as run_sweep builds it (so a sweep
    can be drawn again from its sweep.json); returns the path of sweep.html."""
    out = Path(out)
    (out / "sweep.json").write_text(json.dumps(sweep, indent=2, ensure_ascii=False), encoding="utf-8")
    (out / "sweep.md").write_text(_markdown(sweep), encoding="utf-8")
    _plot(out / "sweep.png", sweep)
    html_path = out / "sweep.html"
    html_path.write_text(_html(sweep), encoding="utf-8")
    return html_path


# --- one combination -------------------------------------------------------------------------------------


@dataclass
class _Plan:
    index: int  # from 1, in itertools.product's order
    label: str  # "chunk_size=64, top_k=3"
    folder: str  # its run folder's name under the sweep's folder
    values: dict  # the swept settings' values, as the settings hold them
    settings: Settings
    store: Path


def _plan(index: int, values: dict[str, str], config: str | Path | None, corpus: list[Path], width: int) -> _Plan:
    """A combination's settings and store, checked before any run starts."""
    from ..settings import load_settings

    settings = load_settings(config, **values)
    # Hashed from the settings as resolved (config file and environment included), not the grid's strings,
    # so that a grid value equal to the configured one shares its store.
    build = json.dumps({k: getattr(settings, k) for k in BUILD}, sort_keys=True, default=str)
    store = Path(f"{eval_store(corpus)}-{hashlib.sha256(build.encode()).hexdigest()[:8]}")
    update: dict = {"store": store}
    if settings.chroma_url:  # as `eval run` does: the evaluation's vectors never go into the library's collection
        update["chroma_collection"] = f"eval-{store.name}"[:60]
    settings = settings.model_copy(update=update)
    label = ", ".join(f"{k}={v}" for k, v in values.items())
    # Paths (embedding_model, llm_model) would make folders within folders.
    folder = f"{index:0{max(2, width)}d}-" + re.sub(r"[^\w.=,-]+", "_", ",".join(f"{k}={v}" for k, v in values.items()))
    _check(settings, label)
    dumped = settings.model_dump(mode="json")
    return _Plan(index, label, folder[:100], {k: dumped[k] for k in values}, settings, store)


def _check(settings, label: str) -> None:
    """The errors a combination would otherwise meet only when its turn came, possibly hours in."""
    from ..core import Assistant
    from ..read.llms import LLMError, make_llm

    try:
        Assistant(settings=settings).answerer  # the extractive answerer's model file  # noqa: B018
        if settings.answerer in ("openai", "ollama"):  # cheap to build; llamacpp's would load its model now
            make_llm(settings)
    except (OSError, ValueError, LLMError) as exc:
        raise ValueError(f"--grid combination {label}: {exc}") from exc


def _chunking(settings) -> tuple:
    return settings.embedding_model, settings.chunk_size, settings.chunk_overlap, settings.contextual_headers


def _share(assistant, donor, names: tuple[str, ...]) -> None:
    """Hand `assistant` the components `donor` already loaded (cached properties of core.Assistant)."""
    for name in names:
        if donor is not None and name in donor.__dict__:
            assistant.__dict__[name] = donor.__dict__[name]


def _ingest(assistant, corpus: list[Path], progress: bool) -> None:
    report = assistant.ingest(corpus, progress=progress)
    for d in report.documents:
        if d.status == "failed":
            print(f"failed     {d.error}", file=sys.stderr)
    if assistant.store.empty():
        raise ValueError(f"no document of the corpus {', '.join(map(str, corpus))} could be ingested")


def _row(plan: _Plan, summary: dict, status: str) -> dict:
    intervals = summary.get("intervals", {})
    return {"index": plan.index, "label": plan.label, "settings": plan.values, "run": plan.folder,
            "store": str(plan.store), "store_status": status, "questions": summary["counts"]["questions"],
            "metrics": {k: headline(summary, k) for k in HEADLINE},
            "intervals": {k: intervals.get(k) for k in HEADLINE},
            "latency_ms": {k: summary["latency_ms"][k] for k in ("p50", "p95")}}


# --- the sweep's table, plot and page ----------------------------------------------------------------------


def _cell(row: dict, key: str) -> str:
    value, bounds = row["metrics"][key], row["intervals"].get(key)
    if value is None or not bounds:
        return _fmt(value)
    return f"{_fmt(value)} [{_fmt(bounds[0])}, {_fmt(bounds[1])}]"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def _store_cell(row: dict) -> str:
    return f"{row['store_status']} ({Path(row['store']).name.rsplit('-', 1)[-1]})"


def _columns(sweep: dict) -> list[str]:
    return ["#", *sweep["grid"], "store", *sweep["headline"], "latency p50 ms", "latency p95 ms"]


def _cells(sweep: dict, row: dict) -> list[str]:
    return [str(row["index"]), *(str(row["settings"][k]) for k in sweep["grid"]), _store_cell(row),
            *(_cell(row, k) for k in sweep["headline"]), _ms(row["latency_ms"]["p50"]), _ms(row["latency_ms"]["p95"])]


def _intro(sweep: dict) -> str:
    rows = sweep["combinations"]
    return (f"{len(rows)} combinations of {', '.join(sweep['grid'])} on {sweep['questions']} questions of "
            f"{sweep['set']}; 95% intervals from {sweep['resamples']} bootstrap resamples of the questions. "
            "Store: built for this sweep or reused (the hash of its build settings). The first run on a new "
            "store fills its embedding cache, so later runs on it can be a little faster.")


def _markdown(sweep: dict) -> str:
    columns = _columns(sweep)
    lines = [f"# Sweep: {sweep['set']}", "", _intro(sweep), "",
             "| " + " | ".join([*columns, "report"]) + " |", "|" + "---|" * (len(columns) + 1)]
    lines += ["| " + " | ".join([*_cells(sweep, row), f"[report]({quote(row['run'], safe='=,')}/report.html)"]) + " |"
              for row in sweep["combinations"]]
    lines += ["", f"![{PLOT_ALT}](sweep.png)", ""]
    return "\n".join(lines)


def _plot_metric(sweep: dict) -> str | None:
    return next((k for k in PLOT_METRICS if any(r["metrics"].get(k) is not None for r in sweep["combinations"])),
                None)


def _plot(path: Path, sweep: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = _plot_metric(sweep)
    rows = [r for r in sweep["combinations"]
            if metric and r["metrics"][metric] is not None and r["latency_ms"]["p50"] is not None]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in rows:
        x, y = r["latency_ms"]["p50"], r["metrics"][metric]
        low, high = r["intervals"].get(metric) or (y, y)
        ax.errorbar([x], [y], yerr=[[max(0.0, y - low)], [max(0.0, high - y)]], fmt="o", capsize=4,
                    label=f"{r['index']}: {r['label']}")
        # The number by the point, the settings in the legend: whole labels overlap as soon as points are close.
        ax.annotate(str(r["index"]), (x, y), textcoords="offset points", xytext=(5, 3), fontsize=8)
    if rows:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
    else:
        ax.text(0.5, 0.5, "no headline metric to plot", ha="center", va="center", transform=ax.transAxes)
    ax.set(title=f"{metric or 'answer quality'} against latency (95% intervals)", xlabel="latency p50 (ms)",
           ylabel=metric or "", ylim=(0, 1.05))
    ax.margins(x=0.1)
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)


def _html(sweep: dict) -> str:
    e = html.escape
    head = "".join(f"<th>{e(c)}</th>" for c in [*_columns(sweep), "report"])
    body = "".join(
        "<tr>" + "".join(f"<td>{e(c)}</td>" for c in _cells(sweep, row))
        + f"<td><a href=\"{e(quote(row['run'], safe='=,'))}/report.html\">report</a></td></tr>"
        for row in sweep["combinations"])
    return ("<!doctype html><html><head><meta charset='utf-8'><title>Evaluation sweep</title>" + STYLE
            + "<style>th{border:1px solid #ccc;padding:2px 8px;text-align:left;font-size:90%}td,th{white-space:nowrap}"
              ".wide{overflow-x:auto}.plot{max-width:100%}</style></head><body>"
            + f"<h1>Sweep: {e(sweep['set'])}</h1><p>{e(_intro(sweep))}</p>"
            + f"<div class='wide'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
            + f"<h2>Answer quality against latency</h2><img class='plot' src=\"sweep.png\" alt=\"{PLOT_ALT}\">"
            + "</body></html>")
