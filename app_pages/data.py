"""Data: upload a file or read a database / Parquet / Delta table, profile it, save it as a versioned snapshot;
list, refresh and delete datasets."""

from pathlib import Path

import streamlit as st

from studio.auth import Role
from studio.data import ENCODINGS
from studio.data.ingest import sample_file
from studio.data.profile import PROFILE_SAMPLE_ROWS
from studio.data.sources import refresh
from studio.errors import StudioError
from studio.markup import text
from studio.ui.auth import allowed, audit_here, can, creator_of, mark_created, needs
from studio.ui.common import ago, get_studio, show_error
from studio.ui.connect_view import connect_tab, lake_tab, saved_message
from studio.ui.data import dataset_preview, is_big_upload, parse_upload, profile_of, save_staged, stage_upload
from studio.ui.profile_view import show_profile

studio = get_studio()
st.title("Data")
upload_tab, connect, lake, datasets_tab = st.tabs(["Upload", "Database", "Parquet / Delta", "Datasets"])

with upload_tab:
    left, right = st.columns([3, 1])
    uploaded = left.file_uploader("CSV, Parquet or Excel file", type=["csv", "tsv", "txt", "parquet", "xlsx"],
                                  disabled=not can(Role.ANALYST),
                                  help=needs(Role.ANALYST) or f"Up to {studio.settings.max_upload_mb} MB. The first "
                                                              "row must hold the column names.")
    encoding = right.selectbox("Text encoding (CSV)", ENCODINGS, help="Change it if the file is not UTF-8.")
    if uploaded is None or not can(Role.ANALYST):  # a viewer's upload is never parsed or written to disk
        st.info("Upload a file to see a preview and a profile, then save it as a dataset. Big CSV files are "
                "streamed to disk block by block; data in a database or a Parquet/Delta table can be read in place "
                "from the next tabs.")
    else:
        stem = uploaded.name.rsplit(".", 1)[0]
        staged = frame = None
        try:
            if is_big_upload(uploaded.size, uploaded.name):
                staged = stage_upload(uploaded, uploaded.file_id, encoding)
                frame = sample_file(Path(staged.path), PROFILE_SAMPLE_ROWS)
                profile = profile_of(frame, f"{uploaded.file_id}-{encoding}", total_rows=staged.n_rows,
                                     columns=staged.columns)
            else:
                frame = parse_upload(uploaded.getvalue(), uploaded.name, encoding)
                profile = profile_of(frame, f"{uploaded.file_id}-{encoding}")
        except StudioError as exc:
            show_error(exc)
        else:
            show_profile(profile, frame, name=stem, key="upload")
            with st.form("save-dataset"):
                name = st.text_input("Dataset name", value=stem, help="Saving the same name again makes a new version.")
                if st.form_submit_button("Save dataset", type="primary", disabled=not can(Role.ANALYST),
                                         help=needs(Role.ANALYST)) and allowed(Role.ANALYST):
                    try:
                        source = f"upload:{uploaded.name}"
                        record = save_staged(staged, name, source) if staged is not None else \
                            studio.catalog.save(frame, name, source=source)
                    except StudioError as exc:
                        show_error(exc)
                    else:
                        mark_created("dataset", record.id)
                        st.success(f"Saved **{record.id}** ({record.n_rows:,} rows, hash {record.content_hash[:12]}).")
                        st.page_link("app_pages/train.py", label="Train a model on it", icon=":material/arrow_forward:",
                                     query_params={"dataset": record.id})

with connect:
    connect_tab(studio)

with lake:
    lake_tab(studio)

with datasets_tab:
    records = studio.catalog.list()
    if not records:
        st.info("No datasets yet. Upload a file in the Upload tab, read a database or lake table in the next tabs, "
                "or add a sample dataset on the Home page.")
    else:
        made_by = creator_of("dataset", [r.id for r in records])
        st.dataframe([{"id": r.id, "name": r.name, "version": r.version, "rows": r.n_rows, "columns": r.n_cols,
                       "hash": r.content_hash[:12], "source": r.source, "saved": ago(r.created_at),
                       "by": made_by.get(r.id, "-")} for r in records],
                     width="stretch", hide_index=True)
        chosen = st.selectbox("Dataset", [r.id for r in records])
        record = studio.catalog.get(chosen)
        if record.origin is not None:
            st.caption(f"Source: {text(record.origin.describe())}")
            if st.button("Refresh from the source", icon=":material/refresh:", disabled=not can(Role.ANALYST),
                         help=needs(Role.ANALYST) or "Read the same table or query again; a changed result becomes "
                                                     "a new version.") and allowed(Role.ANALYST):
                with st.spinner("Reading the source again…"):
                    try:
                        saved_message(refresh(studio.sources, record.id))
                    except StudioError as exc:
                        show_error(exc)
        frame = dataset_preview(record.id)
        with st.expander("Profile", expanded=True):
            show_profile(profile_of(frame, record.content_hash, total_rows=record.n_rows, columns=record.columns),
                         frame, name=record.id, key="dataset")
        with st.popover("Delete this dataset", icon=":material/delete:"):
            st.write(f"Delete **{record.id}**? Its snapshot file is removed; runs trained on it keep their models.")
            if st.button("Yes, delete", type="primary", key="confirm-delete", disabled=not can(Role.ADMIN),
                         help=needs(Role.ADMIN)) and allowed(Role.ADMIN):
                studio.catalog.delete(record.id)
                audit_here("delete dataset", f"dataset:{record.id}")
                dataset_preview.clear()
                st.rerun()
