"""`assistant eval run|compare|sweep|import|export`: evaluation sets against the assistant."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import (
    EXIT_LLM,
    AnswererOpt,
    ChromaOpt,
    ConfigOpt,
    LlmKeyOpt,
    LlmModelOpt,
    LlmModeOpt,
    LlmUrlOpt,
    ResamplesOpt,
    RetrievalOpt,
    StoreOpt,
    StrictOpt,
    _assistant,
    _drop_if_built_differently,
    _fail,
    _llm_settings,
    eval_app,
)


@eval_app.command("run")
def eval_run(
    set_path: Annotated[Path, typer.Argument(metavar="SET.jsonl", help="Evaluation set (evals/README.md).")],
    store: StoreOpt = None,
    config: ConfigOpt = None,
    chroma_url: ChromaOpt = None,
    ingest_paths: Annotated[Optional[list[Path]], typer.Option(
        "--ingest", help="Ingest these first [the corpus the set declares in SET.toml].")] = None,
    top_k: Annotated[Optional[int], typer.Option("--top-k", min=1, max=100)] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Only the first N questions.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Run folder [runs/SET-TIME].")] = None,
    answerer: AnswererOpt = None,
    llm_model: LlmModelOpt = None,
    llm_base_url: LlmUrlOpt = None,
    llm_api_key: LlmKeyOpt = None,
    llm_mode: LlmModeOpt = None,
    strict: StrictOpt = None,
    retrieval: RetrievalOpt = None,
    repeat: Annotated[int, typer.Option("--repeat", min=1, help="Ask the set N times: the spread of latency, "
                                                                 "and whether the answers stay the same.")] = 1,
    resamples: ResamplesOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Ask every question of a set; write per_question.jsonl, summary.json and report.md/.html."""
    import time

    from ..evaluation.report import write_report
    from ..evaluation.run import declared_corpus, eval_store, load_set, run_eval

    try:
        cases = load_set(set_path)[:limit]
        corpus = ingest_paths or declared_corpus(set_path)
    except (OSError, ValueError) as exc:
        _fail(str(exc), code=2)
    # Without --store, the corpus gets a store of its own: the run is reproducible and the
    # journalist's library is neither read nor changed. A --store named without --ingest is used
    # as it is, and gets the declared corpus only when it is empty.
    collection = None
    if store is None and corpus:
        store = eval_store(corpus)
        _drop_if_built_differently(store, config)
        if chroma_url:  # its vectors go to a collection of their own, never into the library's
            collection = f"eval-{store.name}"[:60]
    assistant = _assistant(store, config, retrieval_mode=retrieval, chroma_url=chroma_url, chroma_collection=collection,
                           **_llm_settings(answerer, llm_model, llm_base_url, llm_api_key, strict, llm_mode))
    progress = not quiet and sys.stderr.isatty()
    if corpus and (ingest_paths or not assistant.documents()):
        report = assistant.ingest(corpus, progress=progress)
        for d in report.documents:
            if d.status == "failed":
                typer.echo(f"failed     {d.error}", err=True)
    if not assistant.documents():
        _fail(f"the store {assistant.settings.store} holds no documents: pass --ingest PATH, or declare "
              f"the set's corpus in {set_path.with_suffix('.toml')} (evals/README.md)", code=2)
    typer.echo(f"store: {assistant.settings.store} ({len(assistant.documents())} documents)", err=True)
    out = out or Path("runs") / f"{set_path.stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    from ..read.generate import LLMError

    try:
        summary = run_eval(assistant, cases, out, top_k=top_k, progress=progress, set_path=str(set_path),
                           corpus=corpus, resamples=_resamples(resamples), repeat=repeat)
    except LLMError as exc:
        _fail(str(exc), code=EXIT_LLM)
    md, html_path = write_report(out)
    from ..evaluation.run import HEADLINE, headline

    for key in HEADLINE:
        value, bounds = headline(summary, key), summary["intervals"].get(key)
        shown = "n/a" if value is None else f"{value:.3f}" + (f"  [{bounds[0]:.3f}, {bounds[1]:.3f}]" if bounds else "")
        typer.echo(f"{key:<32} {shown}")
    typer.echo(f"latency p50 {summary['latency_ms']['p50']:.0f} ms; report: {html_path}")
    if "repeat" in summary:
        r = summary["repeat"]
        same = "identical in every pass" if r["identical_answers"] else f"differ for {', '.join(r['differing'])}"
        typer.echo(f"{r['passes']} passes: latency p50 {', '.join(f'{x:.0f}' for x in r['latency_p50_ms'])} ms "
                   f"(spread {r['latency_p50_spread_ms']:.0f} ms); answers {same}")


def _resamples(value: int | None) -> int:
    from ..evaluation.stats import RESAMPLES

    return RESAMPLES if value is None else value


@eval_app.command("compare")
def eval_compare(
    run_a: Annotated[Path, typer.Argument(help="The reference run folder.")],
    run_b: Annotated[Path, typer.Argument(help="The new run folder.")],
    fail_on_drop: Annotated[Optional[float], typer.Option(
        "--fail-on-drop", help="Exit 1 when a headline metric drops significantly (its 95% interval excludes 0) "
                               "by more than this many points.")] = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="Also write report.html there: a forest plot of the differences and every question whose "
                      "outcome changed, both answers side by side.")] = None,
    resamples: ResamplesOpt = None,
) -> None:
    """Compare two runs metric by metric, with paired 95% intervals and tests; list the questions whose
    outcome changed."""
    from ..evaluation.report import compare_runs, write_comparison

    try:
        table, failed = compare_runs(run_a, run_b, fail_on_drop, _resamples(resamples))
        if out:
            typer.echo(f"report: {write_comparison(run_a, run_b, out, fail_on_drop, _resamples(resamples))}",
                       err=True)
    except (OSError, ValueError) as exc:
        _fail(str(exc), code=2)
    typer.echo(table)
    if failed:
        raise typer.Exit(1)


@eval_app.command("sweep")
def eval_sweep(
    set_path: Annotated[Path, typer.Argument(metavar="SET.jsonl", help="Evaluation set (its TOML: the corpus).")],
    grid: Annotated[list[str], typer.Option(
        "--grid", help="NAME=V1,V2,...: a setting and the values to try (repeatable; every combination runs).")],
    config: ConfigOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Sweep folder [runs/SET-sweep-TIME].")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Only the first N questions.")] = None,
    resamples: ResamplesOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Run a set under every combination of settings: one run folder each, and sweep.md/.html/.png with every
    headline figure and its 95% interval, and answer quality against latency."""
    from ..evaluation.sweep import run_sweep
    from ..index.store import StoreMismatch, StoreUnavailable
    from ..read.generate import LLMError

    try:
        page = run_sweep(set_path, grid, out, config=config, limit=limit, resamples=_resamples(resamples),
                         progress=not quiet and sys.stderr.isatty())
    except (OSError, ValueError, StoreMismatch, StoreUnavailable) as exc:
        _fail(str(exc), code=2)
    except LLMError as exc:
        _fail(str(exc), code=EXIT_LLM)
    typer.echo((page.parent / "sweep.md").read_text(encoding="utf-8"))
    typer.echo(f"sweep: {page}", err=True)


@eval_app.command("import")
def eval_import(
    fmt: Annotated[str, typer.Argument(metavar="FORMAT", help="multihop | dragonball | squad | beir")],
    src: Annotated[Path, typer.Argument(help="The file (or BEIR folder) to convert.")],
    out: Annotated[Path, typer.Option("--out", help="The evaluation set to write (JSONL).")],
    docs_out: Annotated[Optional[Path], typer.Option(
        "--docs-out", help="squad, beir: also write their documents as JSONL, ready to ingest.")] = None,
) -> None:
    """Convert an evaluation set from a format evaluators already have."""
    from ..evaluation import importers

    if fmt not in importers.FORMATS:
        _fail(f"unknown format {fmt!r}: one of {', '.join(importers.FORMATS)}", code=2)
    try:
        cases = importers.FORMATS[fmt](src)
        importers.write_jsonl(cases, out)
        if docs_out:
            documents = {"squad": importers.squad_documents, "beir": importers.beir_documents}.get(fmt)
            if documents is None:
                _fail(f"--docs-out: the {fmt} format carries no documents", code=2)
            importers.write_jsonl(documents(src), docs_out)
    except (OSError, ValueError) as exc:
        _fail(str(exc), code=2)
    typer.echo(f"{len(cases)} questions ({sum(not c['answerable'] for c in cases)} unanswerable) -> {out}")


@eval_app.command("export")
def eval_export(
    fmt: Annotated[str, typer.Argument(metavar="FORMAT", help="ragas")],
    run: Annotated[Path, typer.Argument(help="A run folder (assistant eval run --out).")],
    out: Annotated[Path, typer.Option("--out", help="The file to write (JSONL).")],
) -> None:
    """Export a run for scoring elsewhere: ragas rows are question, contexts, answer, ground_truth."""
    from ..evaluation import importers

    if fmt != "ragas":
        _fail(f"unknown export format {fmt!r}: this version has 'ragas'", code=2)
    try:
        rows = importers.export_ragas(run / "per_question.jsonl")
    except (OSError, ValueError) as exc:
        _fail(str(exc), code=2)
    importers.write_jsonl(rows, out)
    typer.echo(f"{len(rows)} rows -> {out}")


@eval_app.command("timeline")
def eval_timeline(
    set_path: Annotated[Path, typer.Argument(metavar="SET.jsonl", help="Timeline set (evals/README.md).")],
    corpus: Annotated[Optional[str], typer.Option(
        "--corpus", help="Only the topics over this corpus (a name in SET.toml's [corpora]) [every one].")] = None,
    split: Annotated[Optional[str], typer.Option("--split", help="Only the fit or the held topics [both].")] = None,
    store: Annotated[Optional[Path], typer.Option(
        "--store", help="Store holding the corpus (with one --corpus) [a store of its own, ingested once].")] = None,
    config: ConfigOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Run folder [runs/SET-TIME].")] = None,
    resamples: ResamplesOpt = None,
) -> None:
    """Build the timeline of every topic of a timeline set and score it: event recall, date accuracy,
    precision and quotes exact, per split of topics, with 95% intervals; write per_topic.jsonl, summary.json
    and report.md."""
    import time

    from ..evaluation.run import eval_store
    from ..evaluation.timelines import METRICS, declared_corpora, figure, load_timeline_set, run_timeline_eval

    try:
        cases = load_timeline_set(set_path)
        corpora = declared_corpora(set_path)
    except (OSError, ValueError) as exc:
        _fail(str(exc), code=2)
    unknown = sorted({c.corpus for c in cases} - set(corpora))
    if unknown:
        _fail(f"{set_path}: topics over {', '.join(unknown)}, which {set_path.with_suffix('.toml')} does not "
              "declare under [corpora]", code=2)
    if corpus is not None and corpus not in corpora:
        _fail(f"--corpus {corpus}: {set_path.with_suffix('.toml')} declares {', '.join(sorted(corpora))}", code=2)
    if split not in (None, "fit", "held"):
        _fail(f"--split {split}: fit or held", code=2)
    names = [corpus] if corpus else sorted({c.corpus for c in cases})
    if store is not None and len(names) > 1:
        _fail("--store holds one corpus: name it with --corpus", code=2)
    out = out or Path("runs") / f"{set_path.stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    for name in names:
        chosen = [c for c in cases if c.corpus == name and split in (None, c.split)]
        if not chosen:
            continue
        if not corpora[name].exists():
            _fail(f"{set_path.with_suffix('.toml')}: the corpus {name} is missing: {corpora[name]}", code=2)
        where = store or eval_store([corpora[name]])
        if store is None:
            _drop_if_built_differently(where, config)
        assistant = _assistant(where, config)
        if not assistant.documents():
            typer.echo(f"ingesting {corpora[name]} into {where}", err=True)
            assistant.ingest([corpora[name]], progress=sys.stderr.isatty())
        folder = out / name if len(names) > 1 else out
        summary = run_timeline_eval(assistant, chosen, folder, _resamples(resamples))
        assistant.store.close()
        typer.echo(f"{name}: {len(chosen)} topics; report: {folder / 'report.md'}")
        for part, figures in summary["splits"].items():
            typer.echo(f"  {part} ({figures['topics']} topics)")
            for metric in METRICS:
                typer.echo(f"    {metric:<14} {figure(figures, metric)}")
