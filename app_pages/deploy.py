"""Deploy: export a model as a BentoML service (or ONNX), start it locally, try it over HTTP, download the bundle."""

import json
from pathlib import Path

import streamlit as st

from studio.auth import Role
from studio.errors import StudioError
from studio.export import (
    ExportRequest,
    call_predict,
    curl_line,
    is_ready,
    list_exports,
    list_services,
    start_service,
    stop_service,
)
from studio.jobs import JobStatus
from studio.ui.auth import allowed, audit_here, can, creator_of, mark_created, needs
from studio.ui.common import ago, empty_state, get_studio, score, show_error
from studio.ui.data import example_rows
from studio.ui.onnx_view import show_onnx
from studio.worker.handlers import EXPORT

studio = get_studio()
st.title("Deploy")
models = [r for r in studio.tracker.training_runs() if r.model_uri]
if not models:
    empty_state("No trained model yet. When a training job succeeds its model appears here, ready to export.",
                page="app_pages/train.py", label="Train a model")

st.subheader("Export a model as a BentoML service")
uris = [r.model_uri for r in models]
asked = st.query_params.get("model")
uri = st.selectbox("Model", uris, index=uris.index(asked) if asked in uris else 0,
                   format_func=lambda u: next(f"{u} · {r.name} · test {r.metric} {score(r.test_score)}"
                                              for r in models if r.model_uri == u))
left, mid, right = st.columns([2, 1, 1])
runtime = left.radio("The service runs", ["native", "onnx"], horizontal=True,
                     format_func={"native": "the scikit-learn pipeline", "onnx": "its ONNX conversion"}.get,
                     help="ONNX: the whole pipeline (preprocessing included) as one ONNX graph run by onnxruntime; "
                          "the export is refused unless it matches the native model on the held-out rows.")
if mid.button("Export as bento", type="primary", icon=":material/deployed_code:", disabled=not can(Role.ANALYST),
              help=needs(Role.ANALYST)) and allowed(Role.ANALYST):
    job = studio.jobs.submit(EXPORT, f"export {uri}", ExportRequest(model_uri=uri, runtime=runtime))
    mark_created("job", job.id)
    audit_here("export", uri, {"job": job.id, "format": "bento", "runtime": runtime})
    st.success(f"Export job **{job.id}** queued: it imports the model, generates `service.py`, runs "
               "`bentoml build` and writes the bundle (about 10-20 s).")
if right.button("Convert to ONNX", icon=":material/swap_horiz:", disabled=not can(Role.ANALYST),
                help=needs(Role.ANALYST) or "Convert, run onnx.checker and compare with the native model on the "
                                            "held-out rows.") and allowed(Role.ANALYST):
    job = studio.jobs.submit(EXPORT, f"onnx {uri}", ExportRequest(model_uri=uri, format="onnx"))
    mark_created("job", job.id)
    audit_here("export", uri, {"job": job.id, "format": "onnx"})
    st.success(f"ONNX job **{job.id}** queued.")
show_onnx(studio, uri)
pending = [j for j in studio.jobs.list(limit=20, kind=EXPORT) if not j.status.is_final]


@st.fragment(run_every=2 if pending else None)
def export_progress() -> None:
    recent = studio.jobs.list(limit=20, kind=EXPORT)
    still = [j for j in recent if not j.status.is_final]
    for job in still:
        st.info(f"Building {job.payload['model_uri']} ({job.status.value})…", icon=":material/hourglass_top:")
    if recent and recent[0].status is JobStatus.FAILED:
        first_line = (recent[0].error or "unknown error").splitlines()[0]
        st.error(f"The last export ({recent[0].payload['model_uri']}) failed: {first_line}")
        st.page_link("app_pages/jobs.py", label="See its log on the Jobs page", icon=":material/arrow_forward:",
                     query_params={"job": recent[0].id})
    if len(still) != len(pending):
        st.rerun()


export_progress()
exports = list_exports(studio.settings.exports_path)
if not exports:
    st.info("The export is building; its service appears here when it is done." if pending else
            "No exported services yet: pick a model above and export it.")
    st.stop()

st.subheader("Exported services")
services = {s.bento_tag: s for s in list_services(studio.engine)}
started_by = creator_of("service", services)
st.dataframe([{"bento": e.bento_tag, "model": e.model_uri, "runtime": e.runtime, "built": ago(e.created_at),
               "running at": services[e.bento_tag].url if e.bento_tag in services else "-",
               "started by": started_by.get(e.bento_tag, "-") if e.bento_tag in services else "-"} for e in exports],
             width="stretch", hide_index=True)
tag = st.selectbox("Service", [e.bento_tag for e in exports])
export = next(e for e in exports if e.bento_tag == tag)
service = services.get(tag)
left, mid, right = st.columns(3)
if service is None:
    if left.button("Start service", icon=":material/play_arrow:", disabled=not can(Role.ANALYST),
                   help=needs(Role.ANALYST)) and allowed(Role.ANALYST):
        start_service(studio.settings, studio.engine, tag)
        mark_created("service", tag)
        st.rerun()
else:
    if left.button("Stop service", icon=":material/stop:", disabled=not can(Role.ANALYST),
                   help=needs(Role.ANALYST)) and allowed(Role.ANALYST):
        stop_service(studio.engine, tag)
        audit_here("stop service", f"service:{tag}")
        st.rerun()
bundle = Path(export.bundle_path or "")
if bundle.is_file():
    mid.download_button("Download bundle", bundle.read_bytes(), file_name=bundle.name, icon=":material/download:",
                        help="The bento archive, a Dockerfile (non-root, health check), a Kubernetes manifest and "
                             "a README with the commands to serve and call it.")
with right.popover("Generated service"):
    st.caption("`service.py` is the same for every model; what this model takes and returns is in `schema.json`.")
    schema = Path(export.service_path).with_name("schema.json")
    if schema.is_file():
        st.code(schema.read_text(encoding="utf-8"), language="json")
    st.code(Path(export.service_path).read_text(), language="python")

if service is not None:
    ready = is_ready(service)

    @st.fragment(run_every=None if ready else 1)
    def try_it() -> None:
        if not ready:
            if is_ready(service):
                st.rerun()  # whole page: redefine this fragment without its polling timer
            st.info(f"Starting `bentoml serve` on {service.url}…", icon=":material/hourglass_top:")
            return
        st.success(f"Serving at {service.url} · [OpenAPI docs]({service.url}/docs) · health: `/readyz`, `/livez`")
        rows = example_rows(export.model_uri)
        text = st.text_area("Try it: one row as JSON (edit any value)", json.dumps(rows[0], indent=2), height=220)
        if st.button("Send request", type="primary", disabled=not can(Role.ANALYST), help=needs(Role.ANALYST)) and \
                allowed(Role.ANALYST):
            try:
                row = json.loads(text)
                response = call_predict(service.url, [row])
            except json.JSONDecodeError as exc:
                st.error(f"That is not valid JSON: {exc}")
            except StudioError as exc:
                show_error(exc)
            else:
                (st.success if response.status_code == 200 else st.warning)(f"HTTP {response.status_code}")
                st.json(response.body)
        st.markdown("**From a terminal**")
        st.code(curl_line(service.url, rows[0]), language="bash")

    try_it()
