"""The web UI in a real headless Chromium (Debian's, driven by Playwright) against a real
`ferry serve` on 127.0.0.1 with the local package index and npm registry.

Screenshots of each step are kept in tests/e2e/artifacts/ (CI keeps them as artifacts),
one of them with the UI in Simplified Chinese; docs/screenshots/ holds copies of them.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from conftest import Npm, write
from ferry.settings import Settings
from support.serve import Server, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "e2e" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PACKAGE = {"name": "demo", "version": "1.0.0", "dependencies": {"app": "^1.0.0", "old": "1.0.0"}}


@pytest.fixture
def server(npm_settings: Settings, npmreg: Npm) -> Iterator[Server]:
    assert (ROOT / "web" / "dist" / "index.html").is_file(), (
        "the web UI is not built: scripts/install.sh builds web/ (npm ci && npm run build)"
    )
    # one source profile (the same local index), so the upload step offers a choice
    profiles = {"local": {"index_url": npm_settings.index_url, "description": "Local test index"}}
    started = Server(npm_settings, free_port(), env={"FERRY_REGISTRIES": json.dumps(profiles)})
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def served(server: Server, page: Page) -> str:
    """The UI's address, with the page signed in (with the token the first start printed)."""
    token = server.printed_token
    assert token, server.output
    _sign_in(page, server.base, token)
    return server.base


def _sign_in(page: Page, base: str, token: str) -> None:
    page.goto(base)
    expect(page.get_by_test_id("signin")).to_be_visible()
    page.get_by_test_id("signin-token").fill(token)
    page.get_by_test_id("signin-submit").click()
    expect(page.get_by_test_id("upload-dragger")).to_be_visible()


@pytest.fixture
def page() -> Iterator[Page]:
    assert Path(CHROMIUM).is_file(), "Debian's chromium is not installed (scripts/install.sh --dev)"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        context = browser.new_context(
            viewport={"width": 1400, "height": 1000}, accept_downloads=True
        )
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


def _shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _chinese_shot(page: Page, name: str) -> None:
    """Switch the UI to 简体中文, check it shows Chinese, take a screenshot, switch back."""
    fonts = subprocess.run(
        ["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False
    ).stdout
    assert fonts.strip(), "no Chinese font: the screenshot would show boxes (fonts-noto-cjk)"
    page.get_by_test_id("lang-switch").get_by_text("中文", exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_test_id("step-analyse")).to_have_text("依赖分析")
    if page.get_by_test_id("start-download").count():
        expect(page.get_by_test_id("start-download")).to_have_text(re.compile("开始下载"))
    else:
        expect(page.get_by_test_id("fix-manifests")).to_have_text(re.compile("修改清单文件"))
    _shot(page, name)
    page.get_by_test_id("lang-switch").get_by_text("English", exact=True).click()
    expect(page.get_by_test_id("step-analyse")).to_have_text("Analyse")


def _upload(page: Page, base: str, tmp_path: Path) -> None:
    req = write(tmp_path / "in" / "requirements.txt", "dep==1.0\nlib==2.0\n")
    pkg = write(tmp_path / "in" / "package.json", json.dumps(PACKAGE))
    page.goto(base)
    page.locator("[data-testid=upload-dragger] input[type=file]").set_input_files([req, pkg])
    expect(page.locator("[data-testid=upload-file]")).to_have_count(2)
    page.get_by_test_id("option-wheels").get_by_text("Prefer wheels", exact=True).click()
    page.get_by_test_id("option-registry").click()
    page.locator(".ant-select-item-option[title='local — Local test index']").click()
    _shot(page, "1-upload")
    page.get_by_test_id("lang-switch").get_by_text("中文", exact=True).click()
    expect(page.get_by_test_id("option-wheels")).to_contain_text("优先二进制包")
    _shot(page, "1-upload-zh")
    page.get_by_test_id("lang-switch").get_by_text("English", exact=True).click()
    page.get_by_test_id("submit-button").click()
    expect(page.get_by_test_id("analyse-view")).to_be_visible(timeout=60_000)


def test_upload_analyse_download(
    server: Server, served: str, page: Page, npmreg: Npm, tmp_path: Path
) -> None:
    _upload(page, served, tmp_path)
    # the choices made on the upload step are the task's options
    task_id = parse_qs(urlsplit(page.url).query)["task"][0]
    options = server.client.get(f"/api/tasks/{task_id}").json()["options"]
    assert options["registry"] == "local" and options["prefer_binary"] is True
    expect(page.get_by_test_id("npm-tree-card")).to_be_visible()
    expect(page.get_by_test_id("pypi-tree-card")).to_be_visible()
    # the machine the bundle is for, in view on every step from here on
    header = page.get_by_test_id("target-header")
    expect(header).to_contain_text("Python 3.12 · manylinux")
    expect(header).to_contain_text("Node 20 · linux · x64 · glibc")
    # each Python node names the file chosen for the target
    expect(page.get_by_test_id("pypi-tree-card").get_by_test_id("tree-file").first).to_contain_text(
        "-py3-none-any.whl"
    )
    # problems highlighted in place: the deprecated npm package, the yanked Python pin
    kinds = page.locator("[data-testid=problem-tag]").evaluate_all(
        "els => els.map(e => e.dataset.kind)"
    )
    assert "deprecated" in kinds and "yanked" in kinds, kinds
    # search filters like `npm ls dep`: only the path to the match is left, "old" is not
    npm_card = page.get_by_test_id("npm-tree-card")
    npm_card.get_by_test_id("tree-search-npm").fill("dep")
    expect(npm_card.get_by_test_id("tree-match-count-npm")).to_have_text("1 of 1 match")
    names = npm_card.get_by_test_id("tree-node")
    expect(names).to_have_count(4)
    assert names.evaluate_all("els => els.map(e => e.dataset.name)") == [
        "demo",
        "app",
        "lib",
        "dep",
    ]
    expect(npm_card.locator("[data-testid=tree-node][data-match=true]")).to_have_attribute(
        "data-name", "dep"
    )
    _shot(page, "2-analyse")
    _chinese_shot(page, "2-analyse-zh")

    npmreg.registry.delay(0.4)  # slow enough to watch progress and reload mid-way
    page.get_by_test_id("start-download").click()
    expect(page.get_by_test_id("download-panel")).to_be_visible()
    expect(page.locator("[data-testid=log-line]").first).to_be_visible(timeout=30_000)
    page.reload()  # the page reconnects and gets the snapshot
    expect(page.get_by_test_id("download-panel")).to_be_visible(timeout=30_000)
    _shot(page, "3-download")
    npmreg.registry.delay(0)
    expect(page.get_by_test_id("download-complete")).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("progress-npm")).to_have_attribute("data-percent", "100")
    expect(page.get_by_test_id("archive-size")).to_contain_text("kB")  # the document's
    expect(page.get_by_test_id("target-header")).to_contain_text("Node 20 · linux · x64")
    _shot(page, "4-complete")
    page.get_by_test_id("lang-switch").get_by_text("中文", exact=True).click()
    expect(page.get_by_test_id("archive-card")).to_contain_text("带到目标机器")
    _shot(page, "4-complete-zh")
    page.get_by_test_id("lang-switch").get_by_text("English", exact=True).click()

    with page.expect_download() as info:
        page.get_by_test_id("download-button").click()
    archive = tmp_path / "bundle.zip"
    info.value.save_as(archive)
    # the done step's SHA-256 is the downloaded file's, and its name the download's
    shown = page.get_by_test_id("archive-sha256").inner_text().strip()
    assert shown == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert info.value.suggested_filename == page.get_by_test_id("archive-name").inner_text()
    expect(page.get_by_test_id("archive-install-sh")).to_contain_text("sh bundle/install.sh")
    with zipfile.ZipFile(archive) as zf:
        root = zf.namelist()[0].split("/")[0]
        lines = zf.read(f"{root}/SHA256SUMS").decode().splitlines()
        assert any("npm-packages/app-1.0.0.tgz" in line for line in lines)
        for line in lines:
            digest, name = line.split("  ", 1)
            assert hashlib.sha256(zf.read(f"{root}/{name}")).hexdigest() == digest


def test_cancel_and_retry(served: str, page: Page, npmreg: Npm, tmp_path: Path) -> None:
    # a failing tarball: the task fails, the failed file is listed, retry succeeds
    npmreg.registry.fail("dep", "1.0.0", times=1000, status=503)
    _upload(page, served, tmp_path)
    page.get_by_test_id("start-download").click()
    expect(page.get_by_test_id("failed-card")).to_be_visible(timeout=60_000)
    expect(page.locator("[data-testid=failed-item]").first).to_be_visible()
    _shot(page, "5-failed")
    npmreg.registry.fail("dep", "1.0.0", times=0)
    page.get_by_test_id("retry-button").click()
    expect(page.get_by_test_id("download-complete")).to_be_visible(timeout=60_000)

    # a second task, cancelled while it downloads
    page.get_by_test_id("nav-new-task").click()
    npmreg.registry.delay(1.0)
    _upload(page, served, tmp_path / "second")
    page.get_by_test_id("start-download").click()
    expect(page.get_by_test_id("cancel-button")).to_be_visible(timeout=30_000)
    page.get_by_test_id("cancel-button").click()
    page.get_by_test_id("cancel-confirm").click()
    expect(page.get_by_test_id("task-status-tag")).to_have_attribute(
        "data-status", "cancelled", timeout=30_000
    )
    npmreg.registry.delay(0)


def test_sign_in_run_a_task_sign_out(
    server: Server, page: Page, npmreg: Npm, tmp_path: Path
) -> None:
    violations: list[str] = []
    page.on(
        "console",
        lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    page.goto(server.base)
    expect(page.get_by_test_id("signin")).to_be_visible()
    _shot(page, "0-signin")

    # a wrong token: told so plainly, nothing kept
    page.get_by_test_id("signin-token").fill("ferry_" + "x" * 43)
    page.get_by_test_id("signin-submit").click()
    expect(page.get_by_test_id("signin-error")).to_contain_text(
        "That token was refused: it is unknown, revoked or expired."
    )
    assert page.evaluate("localStorage.getItem('ferry.token')") is None
    _shot(page, "0-signin-refused")
    page.get_by_test_id("lang-switch").get_by_text("中文", exact=True).click()
    expect(page.get_by_test_id("signin-submit")).to_have_text(re.compile("登\\s*录"))
    expect(page.get_by_test_id("signin-error")).to_contain_text("令牌被拒绝")
    _shot(page, "0-signin-zh")
    page.get_by_test_id("lang-switch").get_by_text("English", exact=True).click()
    page.set_viewport_size({"width": 390, "height": 844})
    _shot(page, "0-signin-phone")
    page.set_viewport_size({"width": 1400, "height": 1000})

    # the token the first start printed
    token = server.printed_token
    assert token
    page.get_by_test_id("signin-token").fill(token)
    page.get_by_test_id("signin-submit").click()
    expect(page.get_by_test_id("upload-dragger")).to_be_visible()
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.get_by_test_id("nav-sign-out")).to_be_visible()
    _shot(page, "1-upload-phone")
    page.set_viewport_size({"width": 1400, "height": 1000})

    # a task, all the way (the socket authenticates with its first message)
    req = write(tmp_path / "in" / "requirements.txt", "dep==1.0\n")
    page.locator("[data-testid=upload-dragger] input[type=file]").set_input_files([req])
    page.get_by_test_id("submit-button").click()
    expect(page.get_by_test_id("analyse-view")).to_be_visible(timeout=60_000)
    page.get_by_test_id("start-download").click()
    expect(page.get_by_test_id("download-complete")).to_be_visible(timeout=60_000)
    button = page.get_by_test_id("download-button")
    expect(button).to_have_attribute("href", re.compile(r"archive\?expires=\d+&signature="))
    assert token not in (button.get_attribute("href") or "")

    # signed out: back to sign-in, the token forgotten, a reload stays signed out
    page.get_by_test_id("nav-sign-out").click()
    expect(page.get_by_test_id("signin")).to_be_visible()
    assert page.evaluate("localStorage.getItem('ferry.token')") is None
    page.reload()
    expect(page.get_by_test_id("signin")).to_be_visible()
    assert violations == [], violations


def test_docs_work_offline(server: Server, page: Page) -> None:
    """Swagger UI comes from Ferry itself (the browser here has no internet at all); the
    schema needs a token, which the page takes from the UI's sign-in."""
    violations: list[str] = []
    page.on(
        "console",
        lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    page.goto(f"{server.base}/docs")
    expect(page.locator("#sign-in-first")).to_contain_text("sign in to Ferry first")
    token = server.printed_token
    assert token
    _sign_in(page, server.base, token)
    page.goto(f"{server.base}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Ferry", timeout=30_000)
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    _shot(page, "docs")
    assert violations == [], violations


def test_a_resolution_failure_stays_on_the_analyse_step(
    served: str, page: Page, tmp_path: Path
) -> None:
    """A package that does not exist: the analyse step says so in the resolver's words,
    offers no download, and "fix the manifests" brings the file and target back."""
    req = write(tmp_path / "in" / "requirements.txt", "nonexistent-pkg==1.0\n")
    notes = write(tmp_path / "in" / "notes.docx", "not a manifest")
    page.goto(served)
    page.locator("[data-testid=upload-dragger] input[type=file]").set_input_files([req, notes])
    # a file the server would refuse is marked at once; the other stays
    refused = page.locator("[data-testid=upload-file][data-name='notes.docx']")
    expect(refused.get_by_test_id("upload-file-refused")).to_be_visible()
    expect(page.get_by_test_id("submit-button")).to_be_disabled()
    page.wait_for_timeout(600)  # the list's entry animation, for a still screenshot
    _shot(page, "1-upload-refused")
    refused.get_by_test_id("upload-remove").click()
    expect(page.locator("[data-testid=upload-file]")).to_have_count(1)
    page.get_by_test_id("submit-button").click()
    alert = page.get_by_test_id("analyse-error")
    expect(alert).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("step-content")).to_have_attribute("data-step", "1")
    expect(page.get_by_test_id("analyse-failed")).to_contain_text("nonexistent-pkg")
    expect(page.get_by_test_id("download-panel")).to_have_count(0)
    expect(page.get_by_test_id("target-header")).to_contain_text("Python 3.12")
    _shot(page, "2-analyse-failed")
    _chinese_shot(page, "2-analyse-failed-zh")
    page.get_by_test_id("fix-manifests").click()
    expect(page.get_by_test_id("step-content")).to_have_attribute("data-step", "0")
    expect(page.locator("[data-testid=upload-file]")).to_have_attribute(
        "data-name", "requirements.txt"
    )


AXE = Path(__file__).resolve().parents[2] / "web" / "node_modules" / "axe-core" / "axe.min.js"


def _axe(page: Page, where: str) -> list[str]:
    """axe-core's serious and critical findings on the page as it is (WCAG 2 A/AA)."""
    page.wait_for_timeout(600)  # let entry animations end: a half-faded row is no finding
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # through the debugging protocol: the page's CSP (script-src 'self') rightly
        # refuses an inline <script>, and the test must not weaken it
        page.evaluate(AXE.read_text())
    found = page.evaluate(
        "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']})).violations"
        ".filter(v => ['serious', 'critical'].includes(v.impact))"
        ".map(v => `${v.id}: ${v.nodes.length} × ${v.nodes[0].target.join(' ')}: `"
        "+ (v.nodes[0].any.concat(v.nodes[0].all)[0] || {}).message)"
    )
    return [f"{where}: {line}" for line in found]


def test_every_step_passes_an_accessibility_scan(served: str, page: Page, tmp_path: Path) -> None:
    """axe-core (from npm, injected into the page) on the upload, analyse and done steps,
    in both languages: no serious or critical WCAG 2 A/AA violation."""
    assert AXE.is_file(), "web/node_modules/axe-core is missing (cd web && npm ci)"
    req = write(tmp_path / "in" / "requirements.txt", "dep==1.0\n")
    pkg = write(tmp_path / "in" / "package.json", json.dumps(PACKAGE))
    page.goto(served)
    page.locator("[data-testid=upload-dragger] input[type=file]").set_input_files([req, pkg])
    expect(page.locator("[data-testid=upload-file]")).to_have_count(2)
    findings = _axe(page, "upload")
    page.get_by_test_id("submit-button").click()
    expect(page.get_by_test_id("analyse-view")).to_be_visible(timeout=60_000)
    findings += _axe(page, "analyse")
    page.get_by_test_id("lang-switch").get_by_text("中文", exact=True).click()
    findings += _axe(page, "analyse (zh)")
    page.get_by_test_id("lang-switch").get_by_text("English", exact=True).click()
    page.get_by_test_id("start-download").click()
    expect(page.get_by_test_id("download-complete")).to_be_visible(timeout=60_000)
    findings += _axe(page, "done")
    assert not findings, "\n".join(findings)


def test_a_phone_width_holds(served: str, page: Page, tmp_path: Path) -> None:
    """At 390×844 every step and the task list fit the screen: nothing wider than the
    viewport, the brand whole, and the same accessibility scan passes."""
    page.set_viewport_size({"width": 390, "height": 844})
    req = write(tmp_path / "in" / "requirements.txt", "dep==1.0\nlib==2.0\n")
    pkg = write(tmp_path / "in" / "package.json", json.dumps(PACKAGE))
    page.goto(served)
    page.locator("[data-testid=upload-dragger] input[type=file]").set_input_files([req, pkg])
    page.get_by_test_id("submit-button").click()
    expect(page.get_by_test_id("analyse-view")).to_be_visible(timeout=60_000)
    findings = _axe(page, "analyse (phone)")
    widths = {"analyse": page.evaluate("document.documentElement.scrollWidth")}
    _shot(page, "2-analyse-phone")
    page.get_by_test_id("start-download").click()
    expect(page.get_by_test_id("download-complete")).to_be_visible(timeout=60_000)
    widths["done"] = page.evaluate("document.documentElement.scrollWidth")
    _shot(page, "4-complete-phone")
    page.get_by_test_id("nav-tasks").click()
    expect(page.get_by_test_id("task-list")).to_be_visible()
    widths["tasks"] = page.evaluate("document.documentElement.scrollWidth")
    findings += _axe(page, "tasks (phone)")
    _shot(page, "6-tasks-phone")
    assert all(w <= 390 for w in widths.values()), widths
    brand = page.get_by_test_id("brand").bounding_box()
    assert brand is not None and brand["height"] < 40, brand  # one line, not a letter a line
    assert not findings, "\n".join(findings)
