
import json, sys, time
from pathlib import Path
import pandas as pd
from studio.context import Studio
from studio.many.train import train_family, PARTITIONS_TABLE
from studio.settings import Settings
from studio.training.draft import draft_spec
from tests.conftest import ListReporter
if __name__ == "__main__":
    home, data, compute = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    studio = Studio(Settings(home=home, embedded_worker=False))
    frame = pd.read_parquet(data)
    record = studio.catalog.save(frame, "sales", source="bench")
    spec = draft_spec(record, frame, target="sales", algorithms=["linear"], budget_seconds=None, max_trials=1,
                      partition_by=["store", "item"], min_rows=20, validation={"kind": "holdout"}, compute=compute)
    profile = studio.profile(compute)
    started = time.perf_counter()
    result = train_family(spec, catalog=studio.catalog, tracker=studio.tracker, job_id="bench", profile=profile,
                          reporter=ListReporter())
    seconds = time.perf_counter() - started
    table = studio.tracker.load_table(result.run_id, PARTITIONS_TABLE)
    print(json.dumps({"seconds": seconds, "cores": profile.parallel_trials, "model_uri": result.model_uri,
                      "modeled": int((table["status"] == "model").sum()),
                      "beats": float(((table["score"] < table["baseline"]) & (table["status"] == "model")).sum()),
                      "improvement": float(((table["baseline"] - table["score"]) / table["baseline"])
                                           [table["status"] == "model"].median())}))
