"""The Models page's batch scoring: a model version or alias, a saved dataset or an uploaded file, scored in
chunks here or, above INLINE_ROWS, by a background job; predictions to download."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from studio.auth import Role
from studio.context import Studio
from studio.errors import StudioError
from studio.markup import text
from studio.paths import confined, slug
from studio.scoring import (
    INLINE_ROWS,
    ScoreProgress,
    ScoreRequest,
    plan_scoring,
    score_file,
    upload_path,
)
from studio.scoring import (
    write_back as write_scored,
)
from studio.ui.auth import allowed, can, mark_created, needs
from studio.ui.common import ago, get_studio, show_error
from studio.worker.handlers import SCORE


def batch_scoring(refs: list[str]) -> None:
    studio = get_studio()
    st.caption("Score a table with a model version or alias. Files are read and scored in chunks, so memory stays "
               f"small; more than {INLINE_ROWS:,} rows are scored by a background job you can leave running.")
    left, right = st.columns([2, 1])
    ref = left.selectbox("Model", refs, key="score-model",
                         help="`name@alias` follows the alias (e.g. champion) to its current version.")
    kind = right.radio("Rows to score", ["dataset", "upload"], horizontal=True,
                       format_func={"dataset": "a saved dataset", "upload": "a file"}.get)
    source, stem = _source(studio, kind)
    out_format = st.radio("Write", ["csv", "parquet"], horizontal=True, format_func=lambda f: f".{f}")
    keep = st.toggle("Include the input columns", help="Otherwise the file holds only the predictions, in row order.")
    if source is not None and ref:
        _score(studio, ref, source, stem=stem, out_format=out_format, keep=keep)
    jobs = studio.jobs.list(limit=10, kind=SCORE)
    if jobs:
        st.subheader("Background scoring jobs")
        # refreshes itself every 2 s while a job is unfinished (the decorator is evaluated on each page run)
        st.fragment(run_every=2 if any(not j.status.is_final for j in jobs) else None)(_background_jobs)()


def _source(studio: Studio, kind: str) -> tuple[Path | None, str]:
    """The file to score and a name for the result: a saved dataset's snapshot, or an upload kept on disk."""
    if kind == "dataset":
        datasets = studio.catalog.list()
        if not datasets:
            st.info("No saved dataset: upload a file instead, or add one on the Data page.")
            return None, ""
        chosen = st.selectbox("Dataset", datasets, format_func=lambda r: f"{r.id} · {r.n_rows:,} rows")
        return Path(chosen.path), chosen.id
    upload = st.file_uploader("CSV or Parquet file", type=["csv", "parquet"], disabled=not can(Role.ANALYST),
                              help=needs(Role.ANALYST))
    if upload is None or not can(Role.ANALYST):  # a viewer's upload is never written to disk
        return None, ""
    source = upload_path(studio.settings.exports_path, upload.file_id, upload.name)
    if not source.is_file():
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_bytes(upload.getvalue())
    return source, slug(Path(upload.name).stem, default="upload")


def _score(studio: Studio, ref: str, source: Path, *, stem: str, out_format: str, keep: bool) -> None:
    try:
        spec = studio.tracker.spec_of(studio.tracker.run_id_of(studio.tracker.resolve_model_uri(ref)))
        plan = plan_scoring(spec.features, source, results=confined(studio.settings.exports_path, "scoring",
                                                                    "results"), stem=stem, out_format=out_format)
    except StudioError as exc:
        show_error(exc)
        return
    report, out = plan.report, plan.out
    (st.success if report.ok else st.error)(f"{plan.rows:,} rows. {report.describe()}")
    if plan.background:
        if st.button("Score in the background", type="primary", disabled=not report.ok or not can(Role.ANALYST),
                     help=needs(Role.ANALYST)) and allowed(Role.ANALYST):
            job = studio.jobs.submit(SCORE, f"score {source.name}", ScoreRequest(model=ref, source=str(source),
                                                                                   out=str(out), keep_columns=keep))
            mark_created("job", job.id)
            st.success(f"Scoring job **{job.id}** queued.")
        return
    if st.button("Score", type="primary", disabled=not report.ok or not can(Role.ANALYST), help=needs(Role.ANALYST),
                 icon=":material/play_arrow:") and allowed(Role.ANALYST):
        bar = st.progress(0.0, text="Scoring…")
        try:
            def advance(done: int, total: int) -> None:
                bar.progress(done / max(total, 1), f"{done:,} / {total:,}")

            score_file(studio.tracker.load_model(ref), source, out, keep_columns=keep, progress=advance)
        except StudioError as exc:
            show_error(exc)
        else:
            st.session_state["scored"] = (str(out), ref)
    scored = st.session_state.get("scored")
    if scored and scored[1] == ref and Path(scored[0]).is_file():
        path = Path(scored[0])
        # The bytes themselves, not a callable: a deferred download whose button is drawn again by a rerun before
        # the click is answered left the button spinning, disabled, in CI. Inline scoring is capped (the larger
        # tables go to a background job), so the file is small enough to hand over at once.
        st.download_button(f"Download {path.name}", data=path.read_bytes(), file_name=path.name,
                           icon=":material/download:")
        write_back(studio, path, ref, key="inline")


def write_back(studio: Studio, scored: Path, ref: str, *, key: str) -> None:
    """Write a scored file to a table of a saved connection, with the model version and scoring time."""
    connections = [c.name for c in studio.connections.list()]
    with st.expander("Write the predictions to a database table", icon=":material/database:"):
        if not connections:
            st.info("Save a database connection on the Data page (Database tab) to write predictions back.")
            return
        with st.form(f"write-back-{key}"):
            a, b, c = st.columns([2, 2, 1])
            connection = a.selectbox("Connection", connections)
            table = b.text_input("Table", value="predictions", help="schema.table or table")
            mode = c.radio("Mode", ["new", "append"], format_func={"new": "new table", "append": "append"}.get)
            st.caption("Each row gets model_name, model_version and scored_at columns; all rows are written in one "
                       "transaction, so a failure leaves the table as it was.")
            if st.form_submit_button("Write to the database", type="primary", disabled=not can(Role.ANALYST),
                                     help=needs(Role.ANALYST)) and allowed(Role.ANALYST):
                try:
                    with st.spinner("Writing…"):
                        rows = write_scored(studio.sources, scored, connection=connection, table=table, mode=mode,
                                            model_uri=studio.tracker.version_uri(ref))
                except StudioError as exc:
                    show_error(exc)
                else:
                    st.success(f"Wrote {rows:,} rows to **{text(table)}** on {text(connection)}.")


def _background_jobs() -> None:
    """Scoring jobs with their progress and downloads."""
    for job in get_studio().jobs.list(limit=10, kind=SCORE):
        progress = job.progress_as(ScoreProgress)
        done, total = progress.rows_done, progress.rows_total
        line = f"**{job.name}** · {job.status.value} · {ago(job.created_at)}"
        if total:
            line += f" · {done:,} / {total:,} rows"
        st.markdown(line)
        result = Path((job.result or {}).get("out", ""))
        if job.status.value == "succeeded" and result.is_file():
            st.download_button(f"Download {result.name}", data=result.read_bytes,
                               file_name=result.name, key=f"dl-{job.id}")
        elif job.error:
            st.caption(job.error.splitlines()[0])
