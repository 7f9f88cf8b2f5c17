"""Atomic writes and stable hashes (rgnet.files)."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest
import torch

from rgnet import files


def test_atomic_write_json_round_trip_and_scalars(tmp_path):
    path = files.atomic_write_json(tmp_path / "a" / "s.json", {"b": np.float64(1.5), "a": torch.tensor(2)})
    assert json.loads(path.read_text()) == {"a": 2, "b": 1.5}
    assert list(path.parent.glob(f".*{files.TMP_SUFFIX}")) == []


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    path = files.atomic_write_json(tmp_path / "s.json", {"status": "finished"})
    with pytest.raises(TypeError, match="not JSON-serializable"):
        files.atomic_write_json(path, {"x": object()})
    assert json.loads(path.read_text()) == {"status": "finished"}
    assert list(tmp_path.glob(f".*{files.TMP_SUFFIX}")) == []


def test_sha256_json_ignores_key_order_and_sees_values():
    assert files.sha256_json({"a": 1, "b": [1, 2]}) == files.sha256_json({"b": [1, 2], "a": 1})
    assert files.sha256_json({"a": 1}) != files.sha256_json({"a": 1.5})
    # the dataset cache keys of earlier versions were json.dumps(sort_keys=True): the same digests
    payload = {"L": 16, "K": 0.44068679350977147, "method": "wolff"}
    legacy = hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()
    assert files.sha256_json(payload) == legacy


def test_json_ready_keeps_nan_and_converts_tuples():
    ready = files.json_ready({"x": (1, np.float32(0.5)), "y": float("nan")})
    assert ready["x"] == [1, 0.5] and math.isnan(ready["y"])
