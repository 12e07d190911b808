# The studio in one image: the web app on :8501 plus a background worker, state in the /data volume.
# Build: docker build -t ml-studio .   Run: see the README (Docker): it needs login, or --insecure on loopback
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STUDIO_HOME=/data/studio BENTOML_DO_NOT_TRACK=true
# libgomp: OpenMP runtime for LightGBM and XGBoost.
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY pyproject.toml README.md app.py ./
COPY .streamlit .streamlit
COPY assets assets
COPY app_pages app_pages
COPY studio studio
RUN pip install --no-cache-dir --no-deps -e . \
    && useradd --create-home --uid 10001 studio && mkdir -p /data/studio && chown -R studio /data

USER studio
VOLUME ["/data"]
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health')"
CMD ["studio", "up", "--port", "8501", "--address", "0.0.0.0"]
