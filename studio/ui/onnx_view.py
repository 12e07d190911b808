"""The ONNX conversion of a model on the Deploy page: its parity report and the file to download."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from studio.context import Studio
from studio.export.bento import bento_name
from studio.export.onnx_model import ParityReport
from studio.paths import confined


def show_onnx(studio: Studio, model_uri: str) -> None:
    folder = confined(studio.settings.exports_path, bento_name(model_uri), "onnx")
    report_path, model_path = folder / "parity.json", folder / "model.onnx"
    if not report_path.is_file() or not model_path.is_file():
        return
    report = ParityReport.model_validate_json(report_path.read_text())
    line = f"**ONNX**: {report.summary()}."
    (st.success if report.holds else st.warning)(line, icon=":material/swap_horiz:")
    st.download_button("Download model.onnx", Path(model_path).read_bytes(), file_name=f"{bento_name(model_uri)}.onnx",
                       icon=":material/download:")
