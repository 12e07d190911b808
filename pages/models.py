"""Models: score an uploaded file or a saved dataset with a model version or alias; download the predictions."""

import uuid
from pathlib import Path

import streamlit as st

from studio.errors import StudioError
from studio.export.scoring import ScoreRequest, check_columns, count_rows, iter_chunks, score_file
from studio.jobs.handlers import SCORE
from studio.ui.common import ago, empty_state, get_studio, show_error

INLINE_ROWS = 100_000  # larger inputs are scored by a background job

studio = get_studio()
st.title("Models")
refs = studio.tracker.model_refs()
if not refs:
    empty_state("No registered model yet. A training job registers its model when it succeeds.",
                page="pages/train.py", label="Train a model")

st.subheader("Batch scoring")
st.caption("Score a table with a model version or alias. Files are read and scored in chunks, so memory stays "
           f"small; more than {INLINE_ROWS:,} rows are scored by a background job you can leave running.")
left, right = st.columns([2, 1])
ref = left.selectbox("Model", refs, help="`name@alias` follows the alias (e.g. champion) to its current version.")
kind = right.radio("Rows to score", ["dataset", "upload"], horizontal=True,
                   format_func={"dataset": "a saved dataset", "upload": "a file"}.get)
work = studio.settings.exports_path / "scoring"
source: Path | None = None
stem = ""
if kind == "dataset":
    datasets = studio.catalog.list()
    if datasets:
        chosen = st.selectbox("Dataset", datasets, format_func=lambda r: f"{r.id} · {r.n_rows:,} rows")
        source, stem = Path(chosen.path), chosen.id
    else:
        st.info("No saved dataset: upload a file instead, or add one on the Data page.")
else:
    upload = st.file_uploader("CSV or Parquet file", type=["csv", "parquet"])
    if upload is not None:
        source = work / "uploads" / f"{uuid.uuid5(uuid.NAMESPACE_OID, upload.file_id).hex[:12]}-{upload.name}"
        if not source.is_file():
            source.parent.mkdir(parents=True, exist_ok=True)
            source.write_bytes(upload.getvalue())
        stem = Path(upload.name).stem
out_format = st.radio("Write", ["csv", "parquet"], horizontal=True, format_func=lambda f: f".{f}")
keep = st.toggle("Include the input columns", help="Otherwise the file holds only the predictions, in row order.")

if source is not None and ref:
    try:
        spec = studio.tracker.spec_of(studio.tracker.run_id_of(studio.tracker.resolve_model_uri(ref)))
        report = check_columns(next(iter_chunks(source, 2_000)), spec.features)
        rows = count_rows(source)
    except StudioError as exc:
        show_error(exc)
        st.stop()
    except StopIteration:
        st.error("The file has no rows to score.")
        st.stop()
    (st.success if report.ok else st.error)(f"{rows:,} rows. {report.describe()}")
    out = work / "results" / f"{stem}-scored-{uuid.uuid4().hex[:6]}.{out_format}"
    out.parent.mkdir(parents=True, exist_ok=True)
    if rows <= INLINE_ROWS:
        if st.button("Score", type="primary", disabled=not report.ok, icon=":material/play_arrow:"):
            bar = st.progress(0.0, text="Scoring…")
            try:
                model = studio.tracker.load_model(ref)
                score_file(model, source, out, keep_columns=keep,
                           progress=lambda done, total: bar.progress(done / max(total, 1), f"{done:,} / {total:,}"))
            except StudioError as exc:
                show_error(exc)
            else:
                st.download_button(f"Download {out.name}", out.read_bytes(), file_name=out.name,
                                   icon=":material/download:")
    elif st.button("Score in the background", type="primary", disabled=not report.ok):
        job = studio.jobs.submit(SCORE, f"score {source.name}", ScoreRequest(model=ref, source=str(source),
                                                                               out=str(out), keep_columns=keep))
        st.success(f"Scoring job **{job.id}** queued.")

jobs = studio.jobs.list(limit=10, kind=SCORE)


@st.fragment(run_every=2 if any(not j.status.is_final for j in jobs) else None)
def recent_jobs() -> None:
    for job in studio.jobs.list(limit=10, kind=SCORE):
        done, total = job.progress.get("rows_done", 0), job.progress.get("rows_total")
        line = f"**{job.name}** · {job.status.value} · {ago(job.created_at)}"
        if total:
            line += f" · {done:,} / {total:,} rows"
        st.markdown(line)
        result = Path((job.result or {}).get("out", ""))
        if job.status.value == "succeeded" and result.is_file():
            st.download_button(f"Download {result.name}", result.read_bytes(), file_name=result.name,
                               key=f"dl-{job.id}")
        elif job.error:
            st.caption(job.error.splitlines()[0])


if jobs:
    st.subheader("Background scoring jobs")
    recent_jobs()
