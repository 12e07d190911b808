"""The export bundle an engineer takes to production: the bento archive, a Dockerfile that builds its image, a
Kubernetes manifest, and a README with the exact commands to serve and call it.

The Dockerfile imports the bento archive with BentoML and installs the bento's own pinned requirements, so the
image serves exactly what was tested here (`bentoml containerize` would need a Docker daemon at export time).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

SERVICE_PORT = 3000

#: The image an engineer deploys. Inside a container the service must listen on the container's own interfaces
#: (0.0.0.0) for a published port to reach it; who may reach that port is the deployment's decision (its comment
#: and the bundle README say: behind an authenticating gateway). Served from the studio, bentos stay on 127.0.0.1.
DOCKERFILE = """\
# Builds the service image for {tag}: docker build -t {name}:{version} .
FROM python:3.11-slim
ENV BENTOML_HOME=/home/bentoml/bentoml BENTOML_DO_NOT_TRACK=true PYTHONUNBUFFERED=1
RUN useradd --create-home --uid 1034 bentoml
USER bentoml
WORKDIR /home/bentoml
ENV PATH=/home/bentoml/.local/bin:$PATH
COPY --chown=bentoml {archive} /home/bentoml/{archive}
RUN pip install --user --no-cache-dir bentoml=={bentoml_version} \\
 && bentoml import /home/bentoml/{archive} \\
 && pip install --user --no-cache-dir -r $BENTOML_HOME/bentos/{name}/{version}/env/python/requirements.txt \\
 && rm /home/bentoml/{archive}
EXPOSE {port}
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \\
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/readyz')"
# All interfaces of the container, so its published port reaches the service; the service has no login of its own,
# so publish it only behind a gateway that authenticates (or on the host's 127.0.0.1).
CMD ["bentoml", "serve", "{tag}", "--host", "0.0.0.0", "--port", "{port}"]
"""

K8S = """\
# kubectl apply -f k8s.yaml   (push the image built from the Dockerfile to your registry first)
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels: {{app: {name}}}
spec:
  replicas: 2
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      securityContext: {{runAsNonRoot: true, runAsUser: 1034}}
      containers:
        - name: service
          image: {name}:{version}   # replace with <your-registry>/{name}:{version}
          ports: [{{containerPort: {port}}}]
          readinessProbe: {{httpGet: {{path: /readyz, port: {port}}}, periodSeconds: 5}}
          livenessProbe: {{httpGet: {{path: /livez, port: {port}}}, periodSeconds: 15}}
          resources:
            requests: {{cpu: 500m, memory: 512Mi}}
            limits: {{cpu: "1", memory: 1Gi}}
---
apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  selector: {{app: {name}}}
  ports: [{{port: 80, targetPort: {port}}}]
"""

README = """\
# {name}: a prediction service for {model_uri}

{summary}

The bento `{tag}` (archive `{archive}`) holds the model and its generated BentoML service (`service.py`).

## Serve it without Docker

```bash
pip install bentoml=={bentoml_version}
bentoml import "$PWD/{archive}"    # run where the archive is; BentoML {bentoml_version} needs an absolute path
pip install -r "$(bentoml get {tag} -o path)/env/python/requirements.txt"
bentoml serve {tag} --port {port}
```

## Call it

```bash
curl -s -X POST http://127.0.0.1:{port}/predict -H 'content-type: application/json' \\
  -d '{payload}'
```

Or from Python with BentoML's client:

```python
import bentoml
with bentoml.SyncHTTPClient("http://127.0.0.1:{port}") as client:
    print(client.predict(rows={rows}))
```

Every input column is required (null means missing); a wrong type, a missing or unknown field, or more than
{max_rows} rows gets a 400 that names the field. `GET /livez` and `/readyz` are the probes, `/docs` the
OpenAPI page.

## Docker and Kubernetes

```bash
docker build -t {name}:{version} .
docker run --rm -p 127.0.0.1:{port}:{port} {name}:{version}   # this machine only
kubectl apply -f k8s.yaml     # after pushing the image to a registry your cluster pulls from
```

The service has no login of its own: publish it beyond one machine only behind a gateway or ingress that
authenticates callers. Request bodies over 8 MB (`STUDIO_MAX_REQUEST_MB`) get a 413.
"""


def render(*, tag: str, archive: str, model_uri: str, summary: str, sample: list[dict[str, Any]],
           bentoml_version: str, max_rows: int) -> dict[str, str]:
    """The bundle's text files by name."""
    name, _, version = tag.partition(":")
    values = {"tag": tag, "name": name, "version": version, "archive": archive, "port": SERVICE_PORT,
              "bentoml_version": bentoml_version, "model_uri": model_uri, "summary": summary,
              "payload": json.dumps({"rows": sample}), "rows": repr(sample), "max_rows": f"{max_rows:,}"}
    return {"Dockerfile": DOCKERFILE.format(**values), "k8s.yaml": K8S.format(**values),
            "README.md": README.format(**values)}


def write_bundle(folder: Path, *, archive_path: Path, files: dict[str, str]) -> Path:
    """Write the files next to the archive and zip them all as `<folder>/<archive stem>-bundle.zip`."""
    bundle = folder / f"{archive_path.stem}-bundle.zip"
    with zipfile.ZipFile(bundle, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, text in files.items():
            zf.writestr(name, text)
        zf.write(archive_path, archive_path.name)
    return bundle
