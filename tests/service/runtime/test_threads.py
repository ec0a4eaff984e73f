"""TensorFlow's pool sizes are set before its first operation, in a fresh process."""

import json
import subprocess
import sys

SCRIPT = """
import json, logging
logging.basicConfig(level=logging.INFO)
from service.runtime.devices import configure_threads, device_info
import tensorflow as tf
configure_threads(1, 3)
tf.constant([1.0]) + 1.0  # TensorFlow's runtime starts here, with the pools as sized
configure_threads(2, 2)   # too late: logged, not raised
info = device_info("/CPU:0")
print(json.dumps([info["intra_op_threads"], info["inter_op_threads"]]))
"""


def test_pools_are_sized_before_tensorflow_starts_and_later_changes_only_warn():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [1, 3]
    assert "TensorFlow thread pools: intra-op 1, inter-op 3" in done.stderr
    assert "cannot size TensorFlow's thread pools" in done.stderr
