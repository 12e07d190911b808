"""The architecture's import rules, checked on the source: Streamlit only in the UI layer."""

from __future__ import annotations

import re

from tests.conftest import REPO

STREAMLIT_IMPORT = re.compile(r"^\s*(import streamlit|from streamlit)", re.MULTILINE)


def test_streamlit_is_imported_only_by_app_pages_and_studio_ui() -> None:
    offenders = [str(p.relative_to(REPO)) for p in (REPO / "studio").rglob("*.py")
                 if "ui" not in p.relative_to(REPO / "studio").parts[:1] and STREAMLIT_IMPORT.search(p.read_text())]
    assert offenders == []


def test_the_worker_path_does_not_import_streamlit() -> None:
    import subprocess
    import sys

    code = "import sys, studio.cli, studio.worker.loop, studio.tracking; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_no_function_outside_the_tests_is_longer_than_sixty_lines() -> None:
    import ast

    sources = [*(REPO / "studio").rglob("*.py"), *(REPO / "app_pages").glob("*.py"), *(REPO / "bench").glob("*.py"),
               *(REPO / "scripts").glob("*.py"), REPO / "app.py"]
    long = [f"{p.relative_to(REPO)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for p in sources for node in ast.walk(ast.parse(p.read_text()))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno + 1 > 60]
    assert long == []
