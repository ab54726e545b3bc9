"""The whole dashboard (ftlab/ui/app.py): building it imports nothing heavy."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_building_the_app_imports_no_torch_or_transformers(tmp_path):
    code = ("import sys\nfrom ftlab.service import Lab\nfrom ftlab.ui.app import build_app\n"
            f"lab = Lab({str(tmp_path / 'a.duckdb')!r})\nbuild_app(lab)\nlab.close()\n"
            "heavy = [m for m in ('torch', 'transformers', 'peft') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
