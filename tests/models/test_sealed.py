"""transformers' ``from_pretrained`` loads a tiny real model from Ferry with no network at
all: Ferry and the client in one namespace made by ``unshare -n``, ``HF_ENDPOINT`` set,
nothing else. The model is made by the test (a one-layer BERT, random weights), and what
loads must compute what the original did."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.localproc import REPO
from support.offline import needs_unshare
from support.serve import free_port

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow, needs_unshare]

TF_PYTHON = REPO / ".venv-tf" / "bin" / "python"

MAKE = """
import json, sys, torch
from transformers import BertConfig, BertModel
torch.manual_seed(7)
config = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=1,
                    num_attention_heads=2, intermediate_size=37)
model = BertModel(config).eval()
model.save_pretrained(sys.argv[1])
with torch.no_grad():
    out = model(torch.tensor([[1, 5, 9, 2]])).last_hidden_state
json.dump(out.flatten().tolist(), open(sys.argv[2], "w"))
"""

CHECK = """
import json, sys, torch
from transformers import AutoModel
model = AutoModel.from_pretrained("acme/tiny-bert", revision="1.0").eval()
with torch.no_grad():
    out = model(torch.tensor([[1, 5, 9, 2]])).last_hidden_state.flatten().tolist()
want = json.load(open(sys.argv[0].replace("check.py", "reference.json")))
assert max(abs(a - b) for a, b in zip(out, want, strict=True)) < 1e-6, "other numbers"
print("loaded", type(model).__name__, len(out), "values as made")
"""


def test_from_pretrained_with_no_network_but_ferry(tmp_path: Path) -> None:
    assert TF_PYTHON.is_file(), f"{TF_PYTHON}: run scripts/install.sh --dev"
    model, reference = tmp_path / "model", tmp_path / "reference.json"
    made = subprocess.run(
        [str(TF_PYTHON), "-c", MAKE, str(model), str(reference)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert made.returncode == 0, made.stderr[-3000:]
    check = tmp_path / "check.py"
    check.write_text(CHECK)
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "FERRY_", "PIP_"))}
    env.update(
        MODEL=str(model),
        CHECK=str(check),
        WORK=str(work),
        FERRY_PYTHON=sys.executable,
        TF_PYTHON=str(TF_PYTHON),
        PORT=str(free_port()),
    )
    done = subprocess.run(
        ["unshare", "-n", "sh", str(Path(__file__).with_name("sealed.sh"))],
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "loaded BertModel 128 values as made" in done.stdout
