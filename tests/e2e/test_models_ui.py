"""The Models page in a real headless Chromium against a real `ferry serve`: small models
and a dataset published through the real API (each file PUT, then the version published),
some of their files fetched so the ranking has something to rank; then the page lists,
searches and switches to the datasets (all in the URL), opens a model, downloads one of its
files with the token, and its huggingface_hub snippet, run as a person would paste it,
fetches the default version.

Screenshots (desktop and phone width, English and Chinese) go to tests/e2e/artifacts/ as
10-models*.png; docs/screenshots/ holds copies of them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from e2e.test_far_side import DESKTOP, PHONE, _chinese_font, _fits, _language, _still
from e2e.test_ui import ROOT, _axe, _shot, _sign_in
from e2e.test_ui import page as page  # the browser fixture, shared
from ferry.settings import Settings
from support.serve import Server, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

MODEL = "acme/tiny-bert"
WEIGHTS = hashlib.shake_256(b"tiny-bert weights").digest(96 * 1024)


def _version(n: str) -> dict[str, bytes]:
    return {
        "config.json": json.dumps({"model_type": "bert", "hidden_size": 32, "version": n}).encode(),
        "model.safetensors": WEIGHTS,
        "tokenizer/vocab.txt": b"[PAD]\n[UNK]\nhello\nworld\n",
    }


@pytest.fixture
def served(settings: Settings) -> Iterator[Server]:
    assert (ROOT / "web" / "dist" / "index.html").is_file(), "the web UI is not built"
    started = Server(settings, free_port())
    try:
        yield started
    finally:
        started.stop()


def _publish(
    client: httpx.Client,
    repo: str,
    version: str,
    files: dict[str, bytes],
    *,
    kind: str = "models",
    **meta: object,
) -> dict[str, object]:
    """One version as `ferry models import` sends it: each file PUT, then the publish."""
    for path, data in files.items():
        put = client.put(f"/api/{kind}/{repo}/versions/{version}/files/{path}", content=data)
        assert put.status_code == 201, put.text
    listing = [
        {"path": p, "sha256": hashlib.sha256(d).hexdigest(), "size": len(d)}
        for p, d in files.items()
    ]
    done = client.post(
        f"/api/{kind}/{repo}/versions/{version}/publish", json={"files": listing, **meta}
    )
    assert done.status_code == 201, done.text
    return done.json()  # type: ignore[no-any-return]


def _fetch(client: httpx.Client, repo: str, path: str, times: int) -> None:
    """What a Hub client's download does to the ranking: each whole file counts once."""
    for _ in range(times):
        answer = client.get(f"/{repo}/resolve/main/{path}")
        assert answer.status_code == 200, answer.text


def _run_snippet(snippet: str, token: str, home: Path) -> None:
    """The page's command as a person pastes it, with their token in its place."""
    command = snippet.replace("<your token>", token)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(
        # `python` is this interpreter, which has huggingface_hub
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        HF_HOME=str(home),
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_XET="1",
        NO_PROXY="127.0.0.1",
    )
    done = subprocess.run(
        ["bash", "-c", command], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:]


def test_models_page(served: Server, page: Page, tmp_path: Path) -> None:
    _chinese_font()
    token = served.printed_token
    assert token, served.output
    client = served.client
    first = _version("1.0")
    _publish(client, MODEL, "1.0", first, name="Tiny BERT", task="fill-mask", languages=["en"])
    latest = _publish(client, MODEL, "1.1", _version("1.1"), languages=["en", "zh"])
    translate = {"weights.bin": WEIGHTS[:5000]}
    _publish(client, "acme/tiny-translate", "2025.1", translate, task="translation")
    _publish(client, "solo", "0.1", {"model.onnx": WEIGHTS[:700]})
    train = {"data/train.csv": b"text,label\nok,1\n"}
    _publish(client, "acme/reviews", "1.0", train, kind="datasets", languages=["en"])
    _fetch(client, MODEL, "config.json", 3)
    _fetch(client, "solo", "model.onnx", 1)
    _sign_in(page, served.base, token)
    findings: list[str] = []

    # ---- the list, and the most downloaded ---------------------------------------------
    page.get_by_test_id("nav-models").click()
    expect(page).to_have_url(re.compile(r"\?view=models$"))
    rows = page.get_by_test_id("models-row")
    expect(rows).to_have_count(3)
    assert rows.evaluate_all("els => els.map(e => e.dataset.id)") == [
        "solo",
        "acme/tiny-translate",
        MODEL,
    ]
    tiny = page.locator(f"[data-testid=models-row][data-id='{MODEL}']")
    expect(tiny.get_by_test_id("models-task")).to_have_text("fill-mask")
    expect(tiny.get_by_test_id("models-default")).to_have_text("1.1")
    expect(tiny.get_by_test_id("models-versions")).to_have_text("2")
    expect(page.get_by_test_id("models-total")).to_have_text("3 models")
    expect(page.get_by_test_id("models-endpoint")).to_have_text(served.base)
    ranked = page.get_by_test_id("models-ranking-row")
    expect(ranked).to_have_count(2)
    assert ranked.evaluate_all("els => els.map(e => e.dataset.id)") == [MODEL, "solo"]
    expect(ranked.first.get_by_test_id("models-ranking-count")).to_have_text("3 downloads")
    _still(page)
    _shot(page, "10-models")
    findings += _axe(page, "models")
    # a nav button under the pointer keeps a light label on the dark header
    page.get_by_test_id("nav-browse").hover()
    page.wait_for_function(  # after antd's colour transition
        "() => getComputedStyle(document.querySelector('[data-testid=nav-browse]')).color"
        " === 'rgb(255, 255, 255)'",
        timeout=5_000,
    )

    _language(page, "中文")
    expect(page.locator("[data-testid=models-list] .ant-table-thead")).to_contain_text("默认版本")
    expect(page.get_by_test_id("models-ranking")).to_contain_text("下载最多")
    _still(page)
    _shot(page, "10-models-zh")
    findings += _axe(page, "models (zh)")

    page.set_viewport_size(PHONE)
    _fits(page, "models (phone, zh)")
    _still(page)
    _shot(page, "10-models-phone-zh")
    _language(page, "English")
    _fits(page, "models (phone)")
    findings += _axe(page, "models (phone)")
    _still(page)
    _shot(page, "10-models-phone")
    page.set_viewport_size(DESKTOP)

    # ---- search and the datasets: in the URL, done by the server -----------------------
    search = page.get_by_test_id("models-search")
    search.fill("tiny")
    search.press("Enter")
    expect(page).to_have_url(re.compile(r"\?view=models&q=tiny$"))
    expect(rows).to_have_count(2)
    page.get_by_test_id("models-kind").get_by_text("Datasets", exact=True).click()
    expect(page).to_have_url(re.compile(r"\?view=models&kind=datasets&q=tiny$"))
    expect(page.get_by_test_id("models-list")).to_contain_text("Nothing matches")
    search.fill("")
    search.press("Enter")
    expect(page).to_have_url(re.compile(r"\?view=models&kind=datasets$"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", "acme/reviews")
    expect(page.get_by_test_id("models-ranking")).to_have_count(0)
    page.go_back()
    page.go_back()
    expect(page).to_have_url(re.compile(r"\?view=models&q=tiny$"))
    expect(search).to_have_value("tiny")
    expect(rows).to_have_count(2)

    # ---- one model: versions, commits, files, the snippet ------------------------------
    tiny.get_by_test_id("models-open").click()
    expect(page).to_have_url(re.compile(r"\?view=models&q=tiny&model=acme/tiny-bert$"))
    view = page.get_by_test_id("models-detail")
    expect(view.get_by_test_id("models-detail-id")).to_have_text(MODEL)
    expect(view.get_by_test_id("models-detail-name")).to_have_text("Tiny BERT")
    versions = view.get_by_test_id("models-version")
    expect(versions).to_have_count(2)
    assert versions.evaluate_all("els => els.map(e => e.dataset.version)") == ["1.1", "1.0"]
    expect(view.get_by_test_id("models-commit")).to_have_attribute(
        "data-commit", str(latest["commit"])
    )
    files = view.get_by_test_id("models-file")
    expect(files).to_have_count(3)
    weights = view.locator("[data-testid=models-file][data-path='model.safetensors']")
    expect(weights.get_by_test_id("models-file-sha256")).to_have_attribute(
        "data-sha256", hashlib.sha256(WEIGHTS).hexdigest()
    )
    expect(weights.get_by_test_id("models-file-size")).to_have_text("98.3 kB")
    snippet = view.get_by_test_id("models-hub-snippet")
    expect(snippet).to_contain_text(f"HF_ENDPOINT={served.base} HF_TOKEN=<your token> python -c")
    expect(view).not_to_contain_text(token)
    versions.nth(1).click()
    expect(view.get_by_test_id("models-commit")).to_have_count(2)
    _still(page)
    _shot(page, "10-models-detail")
    findings += _axe(page, "model")

    # a file, downloaded with the token: the browser saves its bytes under its name
    vocab = view.locator("[data-testid=models-file][data-path='tokenizer/vocab.txt']").first
    with page.expect_download() as started:
        vocab.get_by_test_id("models-file-download").click()
    saved = started.value
    assert saved.suggested_filename == "vocab.txt"
    assert Path(saved.path()).read_bytes() == _version("1.1")["tokenizer/vocab.txt"]

    # the snippet, as pasted: huggingface_hub fetches the default version, by its commit
    home = tmp_path / "hf"
    _run_snippet(snippet.inner_text().strip(), token, home)
    snapshot = home / "hub" / "models--acme--tiny-bert" / "snapshots" / str(latest["commit"])
    assert (snapshot / "config.json").read_bytes() == _version("1.1")["config.json"]
    assert (snapshot / "model.safetensors").read_bytes() == WEIGHTS

    _language(page, "中文")
    expect(view.get_by_test_id("models-hub")).to_contain_text("用 huggingface_hub 下载")
    _still(page)
    _shot(page, "10-models-detail-zh")
    page.set_viewport_size(PHONE)
    _fits(page, "model (phone, zh)")
    _language(page, "English")
    _fits(page, "model (phone)")
    findings += _axe(page, "model (phone)")
    _still(page)
    _shot(page, "10-models-detail-phone")
    page.set_viewport_size(DESKTOP)

    page.reload()  # the URL is the state: the same model again
    expect(view.get_by_test_id("models-detail-id")).to_have_text(MODEL)
    page.get_by_test_id("models-back").click()
    expect(page).to_have_url(re.compile(r"\?view=models&q=tiny$"))
    expect(rows).to_have_count(2)
    # the page's own download and the snippet's were counted too
    expect(ranked.first.get_by_test_id("models-ranking-count")).not_to_have_text("3 downloads")
    assert not findings, "\n".join(findings)
