"""skops files written faster are skops files: skops reads them back, and its own module is left as it was."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import skops.io as sio
from sklearn.datasets import make_classification
from sklearn.ensemble import ExtraTreesClassifier
from sklearn.linear_model import Ridge

from studio.skops_files import dumps, faster_skops


def test_a_model_is_written_compactly_and_read_back_by_skops() -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(50, 2)), rng.normal(size=50)
    model = Ridge().fit(X, y)
    blob = dumps(model)
    back = sio.loads(blob, trusted=sio.get_untrusted_types(data=blob))
    assert np.allclose(back.predict(X), model.predict(X))
    assert len(blob) < len(sio.dumps(model))  # no indentation in its schema


def test_within_faster_skops_skops_saves_the_same_model_compactly_and_loads_it(tmp_path: Path) -> None:
    from skops.io import _persist

    X, y = make_classification(n_samples=200, random_state=0)
    forest = ExtraTreesClassifier(n_estimators=30, random_state=0).fit(X, y)  # many arrays: one file each
    plain, fast = tmp_path / "plain.skops", tmp_path / "fast.skops"
    sio.dump(forest, plain)
    with faster_skops():
        sio.dump(forest, fast)
        loaded = sio.load(fast, trusted=sio.get_untrusted_types(file=fast))
    assert np.array_equal(loaded.predict_proba(X), forest.predict_proba(X))
    with zipfile.ZipFile(fast) as archive, zipfile.ZipFile(plain) as reference:
        schema = archive.read("schema.json").decode()
        assert "\n" not in schema
        assert len(archive.namelist()) == len(reference.namelist())  # every array written once, as before
    assert _persist.json is json and _persist.ZipFile is zipfile.ZipFile  # restored
    again = sio.load(fast, trusted=sio.get_untrusted_types(file=fast))  # skops as shipped reads it
    assert np.array_equal(again.predict(X), forest.predict(X))
