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
import time
import zipfile
from collections.abc import Callable, Iterator
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


def _upload(
    page: Page, base: str, tmp_path: Path, while_analysing: Callable[[], None] | None = None
) -> None:
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
    if while_analysing is not None:
        while_analysing()
    expect(page.get_by_test_id("analyse-view")).to_be_visible(timeout=60_000)


def test_upload_analyse_download(
    server: Server, served: str, page: Page, npmreg: Npm, tmp_path: Path
) -> None:
    def analysing() -> None:
        # the analysis says where each ecosystem is, not a bare spinner
        expect(page.get_by_test_id("analysis-progress")).to_be_visible()
        expect(page.get_by_test_id("analysis-pypi")).to_be_visible()
        expect(page.get_by_test_id("analysis-npm")).not_to_have_attribute("data-stage", "waiting")
        _shot(page, "2-analysing")
        page.get_by_test_id("lang-switch").get_by_text("中文", exact=True).click()
        expect(page.get_by_test_id("analyse-resolving")).to_contain_text("正在解析依赖")
        _shot(page, "2-analysing-zh")
        page.get_by_test_id("lang-switch").get_by_text("English", exact=True).click()
        npmreg.registry.delay(0)

    npmreg.registry.delay(0.3)  # slow enough to watch the analysis move
    _upload(page, served, tmp_path, analysing)
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
    # both rows from the start: npm waits (Python goes first) with the analysis's total
    expect(page.get_by_test_id("progress-npm")).to_have_attribute("data-state", "waiting")
    expect(page.get_by_test_id("progress-npm-files")).to_have_text("Files 0 / 4")
    expect(page.get_by_test_id("progress-npm-bytes")).to_contain_text("0 B / 1.05 kB")
    expect(page.get_by_test_id("progress-pypi")).to_be_visible()
    page.get_by_test_id("lang-switch").get_by_text("中文", exact=True).click()
    expect(page.get_by_test_id("progress-npm-waiting")).to_have_text("等待中")
    _shot(page, "3-download-zh")
    page.get_by_test_id("lang-switch").get_by_text("English", exact=True).click()
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
    # why, and what to do next, in Chinese: Ferry's frame around the registry's answer
    page.get_by_test_id("lang-switch").get_by_text("中文", exact=True).click()
    reason = page.locator("[data-testid=failed-item][data-name='dep-1.0.0.tgz']")
    expect(reason.get_by_test_id("failed-reason")).to_contain_text(
        "下载失败：dep-1.0.0.tgz: HTTP 503"
    )
    expect(page.get_by_test_id("task-error-hint")).to_have_text(
        "请检查网络连接和代理设置后重试：已下载的文件会保留，未下载完的文件会从中断处继续。"
    )
    _shot(page, "5-failed-zh")
    page.get_by_test_id("lang-switch").get_by_text("English", exact=True).click()
    expect(page.get_by_test_id("task-error-hint")).to_contain_text("Check the network connection")
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


def _api_task(server: Server, files: dict[str, str], options: dict[str, object]) -> str:
    upload = [("files", (name, text.encode(), "text/plain")) for name, text in files.items()]
    answer = server.client.post("/api/tasks", files=upload, data={"options": json.dumps(options)})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["task_id"])


def _until(server: Server, task_id: str, *statuses: str) -> dict[str, object]:
    # generous: a dozen tasks resolving on a loaded 2-core machine take their time, and
    # how long is not what these tests are about
    deadline = time.monotonic() + 180
    while True:
        doc: dict[str, object] = server.client.get(f"/api/tasks/{task_id}").json()
        if doc["status"] in statuses:
            return doc
        if time.monotonic() > deadline:
            raise AssertionError(f"task {task_id} stuck in {doc['status']}")
        time.sleep(0.1)


def _list_shot(page: Page, name: str) -> None:
    """The list in English and in 简体中文 (the columns' titles say which is in view)."""
    page.mouse.move(0, 0)  # no row highlighted by a pointer left over it
    page.wait_for_timeout(400)  # the rows' entry animation, for a still screenshot
    _shot(page, name)
    page.get_by_test_id("lang-switch").get_by_text("中文", exact=True).click()
    expect(page.locator(".ant-table-thead")).to_contain_text("项目")
    expect(page.get_by_test_id("task-total")).to_contain_text("个任务")
    page.wait_for_timeout(400)
    _shot(page, f"{name}-zh")
    page.get_by_test_id("lang-switch").get_by_text("English", exact=True).click()
    expect(page.locator(".ant-table-thead")).to_contain_text("Project")


# the table ends inside the card's padding (a wide cell pushes it over the edge)
TABLE_INSIDE_CARD = """() => {
  const body = document.querySelector('.task-list-card .ant-card-body');
  const table = body.querySelector('table');
  const padding = parseFloat(getComputedStyle(body).paddingRight);
  const inner = body.getBoundingClientRect().right - padding;
  return table.getBoundingClientRect().right <= inner + 0.5;
}"""
LONG_NAME = "a-rather-long-project-name-" * 4
LONG_PYPROJECT = f'[project]\nname = "{LONG_NAME}"\ndependencies = ["lib==1.0"]\n'


def test_the_task_list_tells_tasks_apart(
    server: Server, served: str, page: Page, tmp_path: Path
) -> None:
    """Project name, target, package count, the archive's size as a link that downloads,
    the total; the filter and page in the URL, kept by a reload."""
    target = {"python_version": "3.12", "platforms": ["manylinux_2_28_x86_64"]}
    node = {"node_version": "20", "os": "linux", "cpu": "x64"}
    done = _api_task(
        server,
        {"requirements.txt": "dep==1.0\n", "package.json": json.dumps(PACKAGE)},
        {**target, **node, "auto_download": True},
    )
    # eleven more, resolved: two pages of ten; one of them a long name, one no name
    others = [
        _api_task(server, {"pyproject.toml": LONG_PYPROJECT}, target),
        *(_api_task(server, {"requirements.txt": "dep==1.0\n"}, target) for _ in range(10)),
    ]
    completed = _until(server, done, "completed", "failed")
    assert completed["status"] == "completed", completed["error"]
    for task_id in others:
        assert _until(server, task_id, "resolved", "failed")["status"] == "resolved"

    page.get_by_test_id("nav-tasks").click()
    expect(page.get_by_test_id("task-row")).to_have_count(12)
    expect(page.get_by_test_id("task-total")).to_have_text("12 tasks")
    row = page.locator(f"[data-testid=task-row][data-task-id='{done}']")
    expect(row.get_by_test_id("task-project")).to_have_text("demo")  # package.json's name
    expect(row.get_by_test_id("task-target")).to_contain_text("Python 3.12 · manylinux_2_28_x86_64")
    expect(row.get_by_test_id("task-target")).to_contain_text("Node 20 · linux · x64")
    # dep for Python; app, lib, dep and old for npm
    expect(row.get_by_test_id("task-packages")).to_have_text("5")
    link = row.get_by_test_id("task-archive-link")
    expect(link).to_have_attribute("href", re.compile(rf"/api/tasks/{done}/archive\?expires="))
    expect(link).to_have_attribute("download", str(completed["archive_name"]))
    expect(link).to_contain_text("kB")
    with page.expect_download() as info:
        link.click()
    saved = tmp_path / "from-the-list.zip"
    info.value.save_as(saved)
    assert info.value.suggested_filename == completed["archive_name"]
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == completed["archive_sha256"]
    # no name declared: the first file, and no Node target for a Python-only upload
    plain = page.locator(f"[data-testid=task-row][data-task-id='{others[-1]}']")
    expect(plain.get_by_test_id("task-project")).to_have_text("requirements.txt")
    expect(plain.get_by_test_id("task-target")).not_to_contain_text("Node")
    expect(plain.get_by_test_id("task-packages")).to_have_text("1")
    long = page.locator(f"[data-testid=task-row][data-task-id='{others[0]}']")
    # 108 characters declared: 100 shown, the last an ellipsis (and the cell cuts it further)
    expect(long.get_by_test_id("task-project")).to_have_text(LONG_NAME[:99] + "…")
    _list_shot(page, "6-tasks")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.get_by_test_id("task-row").first).to_be_visible()
    # the columns follow the width once the page has heard of the resize: wait for it
    # (a page that never fits fails here)
    page.wait_for_function("() => document.documentElement.scrollWidth <= 390", timeout=15_000)
    page.wait_for_function(TABLE_INSIDE_CARD, timeout=15_000)
    _list_shot(page, "6-tasks-narrow")
    page.set_viewport_size({"width": 1400, "height": 1000})
    # the wide layout in place before the filter is used: a dropdown opened while the
    # page was still hearing of the resize once took no choice (a loaded CI machine)
    page.wait_for_function("() => window.innerWidth === 1400", timeout=15_000)
    page.wait_for_function(
        "() => document.documentElement.scrollWidth <= window.innerWidth", timeout=15_000
    )

    # the filter: into the URL, and a reload keeps it
    page.get_by_test_id("status-filter").click()
    option = page.locator(".ant-select-item-option[title='completed']")
    expect(option).to_be_visible()
    option.click()
    expect(page.get_by_test_id("status-filter")).to_contain_text("completed")
    expect(page).to_have_url(re.compile(r"\?view=tasks&status=completed$"), timeout=15_000)
    expect(page.get_by_test_id("task-row")).to_have_count(1)
    page.reload()
    expect(page.get_by_test_id("status-filter")).to_contain_text("completed")
    expect(page.get_by_test_id("task-row")).to_have_count(1)
    expect(page.get_by_test_id("task-total")).to_have_text("1 task")

    # all again, ten a page, the second page: into the URL, and a reload keeps it
    page.get_by_test_id("status-filter").click()
    page.locator(".ant-select-item-option[title='All statuses']").click()
    expect(page).to_have_url(re.compile(r"\?view=tasks$"))
    page.locator(".ant-pagination-options .ant-select").click()
    page.locator(".ant-select-item-option[title='10 / page']").click()
    expect(page).to_have_url(re.compile(r"\?view=tasks&size=10$"))
    page.locator(".ant-pagination-item[title='2']").click()
    expect(page).to_have_url(re.compile(r"\?view=tasks&page=2&size=10$"))
    expect(page.get_by_test_id("task-row")).to_have_count(2)
    page.reload()
    expect(page.locator(".ant-pagination-item-active")).to_have_text("2")
    expect(page.get_by_test_id("task-row")).to_have_count(2)
    expect(page.get_by_test_id("task-total")).to_have_text("12 tasks")
    # back: the first page of ten
    page.go_back()
    expect(page).to_have_url(re.compile(r"\?view=tasks&size=10$"))
    expect(page.get_by_test_id("task-row")).to_have_count(10)


def test_the_upload_offers_the_groups_the_files_declare(
    served: str, page: Page, tmp_path: Path
) -> None:
    pyproject = write(
        tmp_path / "in" / "pyproject.toml",
        '[project]\nname = "app"\nversion = "1"\ndependencies = ["dep==1.0"]\n\n'
        '[project.optional-dependencies]\nfast = ["lib==2.0"]\n\n'
        '[dependency-groups]\ndocs = ["dep==1.0"]\n',
    )
    broken = write(tmp_path / "in" / "requirements.txt", "dep==1.0\nnot a requirement at all\n")
    page.goto(served)
    page.locator("[data-testid=upload-dragger] input[type=file]").set_input_files(
        [pyproject, broken]
    )
    # the broken file is named with its line as soon as it is chosen; the form is kept
    warning = page.get_by_test_id("upload-check-error")
    expect(warning).to_contain_text("requirements.txt, line 2")
    expect(page.locator("[data-testid=upload-file]")).to_have_count(2)
    # the groups are offered from the files, not typed
    page.get_by_test_id("option-groups").click()
    for title in ("docs (pyproject.toml)", "fast (pyproject.toml)"):
        expect(page.locator(f".ant-select-item-option[title='{title}']")).to_be_visible()
    page.locator(".ant-select-item-option[title='fast (pyproject.toml)']").click()
    page.keyboard.press("Escape")
    _shot(page, "1-upload-groups")
    page.get_by_test_id("lang-switch").get_by_text("中文", exact=True).click()
    expect(page.get_by_test_id("upload-check-error")).to_contain_text("requirements.txt")
    _shot(page, "1-upload-groups-zh")


def test_server_texts_follow_the_language(served: str, page: Page, tmp_path: Path) -> None:
    """What the server wrote — problems, the task's error and its hint, the log lines — is
    in Chinese on the Chinese page, with the resolver's and the registry's own words kept
    as they are and the codes unchanged."""
    _upload(page, served, tmp_path)
    summary = page.get_by_test_id("problem-summary")
    deprecated = summary.locator("[data-testid=problem-item][data-kind=deprecated]")
    expect(deprecated).to_contain_text("old@1.0.0 is deprecated: use new instead")
    page.get_by_test_id("lang-switch").get_by_text("中文", exact=True).click()
    expect(deprecated).to_contain_text("old@1.0.0 已弃用：use new instead")
    expect(deprecated).to_contain_text("deprecated")  # the code's tag stays as it is
    yanked = summary.locator("[data-testid=problem-item][data-kind=yanked]")
    expect(yanked).to_contain_text("lib 2.0 已被撤回（yanked）")
    log = page.get_by_test_id("log-panel")
    expect(log).to_contain_text("状态：已解析（分析完成）")
    expect(log).not_to_contain_text("analysis finished")
    _shot(page, "2-analyse-problems-zh")

    page.get_by_test_id("start-download").click()
    expect(page.get_by_test_id("download-complete")).to_be_visible(timeout=60_000)
    expect(log).to_contain_text("正在下载 npm 包")
    expect(log).to_contain_text("已下载 ")
    expect(log).to_contain_text("压缩包已写入（")
    expect(log).to_contain_text("状态：已完成（压缩包已写入）")
    for english in ("fetched ", "fetching ", "archive written", "status:"):
        expect(log).not_to_contain_text(english)
    log.evaluate("el => { el.scrollTop = el.scrollHeight; }")
    _shot(page, "3-log-zh")

    # a package that does not exist: the error and the problem in Chinese, npm's and
    # uv's own explanation inside them as they wrote it
    page.get_by_test_id("lang-switch").get_by_text("English", exact=True).click()
    page.get_by_test_id("nav-new-task").click()
    req = write(tmp_path / "failing" / "requirements.txt", "nonexistent-pkg==1.0\n")
    page.locator("[data-testid=upload-dragger] input[type=file]").set_input_files([req])
    page.get_by_test_id("submit-button").click()
    expect(page.get_by_test_id("analyse-error")).to_be_visible(timeout=60_000)
    page.get_by_test_id("lang-switch").get_by_text("中文", exact=True).click()
    expect(page.get_by_test_id("analyse-error-message")).to_have_text(
        "无法为目标机器解析这些清单文件"
    )
    not_found = page.locator("[data-testid=problem-item][data-kind=not-found]")
    expect(not_found).to_contain_text("找不到所需的包：")
    expect(not_found).to_contain_text("nonexistent-pkg")  # uv's words, verbatim
    expect(log).to_contain_text("状态：失败（解析发现错误）")
    _shot(page, "2-analyse-failed-problems-zh")
    page.get_by_test_id("lang-switch").get_by_text("English", exact=True).click()
    expect(page.get_by_test_id("analyse-error-message")).to_have_text(
        "the manifests cannot be resolved for the target"
    )

    # a requirement Ferry cannot carry: the hint beside the error, in Chinese, says what to do
    page.get_by_test_id("nav-new-task").click()
    vcs = write(tmp_path / "vcs" / "requirements.txt", "-e git+https://example.org/a/b.git#egg=b\n")
    page.locator("[data-testid=upload-dragger] input[type=file]").set_input_files([vcs])
    page.get_by_test_id("submit-button").click()
    expect(page.get_by_test_id("analyse-error")).to_be_visible(timeout=60_000)
    page.get_by_test_id("lang-switch").get_by_text("中文", exact=True).click()
    expect(page.get_by_test_id("analyse-error")).to_contain_text("requirement-unsupported")
    expect(page.get_by_test_id("analyse-error-message")).to_contain_text(
        "requirements.txt 第 1 行的依赖无法带到其他机器："
    )
    expect(page.get_by_test_id("analyse-error-hint")).to_contain_text(
        "Ferry 搬运的是包索引上的文件；VCS 检出、可编辑安装（editable）或本地路径都无法带到"
    )
    _shot(page, "2-analyse-hint-zh")
    page.get_by_test_id("lang-switch").get_by_text("English", exact=True).click()
    expect(page.get_by_test_id("analyse-error-hint")).to_contain_text(
        "Ferry carries files from a package index"
    )


# a package's bytes: 2 MB that compress to nothing useful, the same on every run
PACKAGE_BYTES = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(65_536))
PACKAGE_FILE = "agent-1.4.2-linux-x86_64.tar.gz"


def _api_package(
    server: Server, name: str, version: str, platform: str, arch: str, description: str = ""
) -> dict[str, object]:
    fields = {"name": name, "version": version, "platform": platform, "arch": arch}
    answer = server.client.post(
        "/api/v1/packages",
        data={**fields, "description": description},
        files={"file": (f"{name}-{version}.bin", f"{name} {version}".encode() * 100)},
    )
    assert answer.status_code == 201, answer.text
    doc: dict[str, object] = answer.json()
    return doc


def _rows(page: Page) -> list[str]:
    rows = page.locator("[data-testid=package-row]")
    names: list[str] = rows.evaluate_all("els => els.map(e => e.dataset.name)")
    return names


def test_packages_upload_list_filter_download_delete(
    server: Server, served: str, page: Page, tmp_path: Path
) -> None:
    """The package store's page: a real file uploaded through the form with its progress,
    in the list, a duplicate named by the server's 409, filters and sorting in the URL,
    the download's bytes the original's, and delete; a reader sees no upload or delete."""
    _api_package(server, "agent", "1.4.1", "linux", "x86_64", "the node agent, last release")
    _api_package(server, "agent", "1.4.2", "windows", "x86_64", "the node agent for Windows")
    _api_package(server, "tool", "2.0", "darwin", "arm64", "a command-line tool")
    original = tmp_path / "in" / PACKAGE_FILE
    original.parent.mkdir(parents=True)
    original.write_bytes(PACKAGE_BYTES)

    page.get_by_test_id("nav-packages").click()
    expect(page).to_have_url(re.compile(r"\?view=packages$"))
    expect(page.get_by_test_id("package-row")).to_have_count(3)
    expect(page.get_by_test_id("package-me")).to_contain_text("admin")

    # the upload: the fields guessed from the file's name, then a real progress bar
    # (the upload throttled through the browser's own network emulation, to watch it)
    page.get_by_test_id("package-upload-open").click()
    page.locator(".package-upload-dragger input[type=file]").set_input_files(original)
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Name")).to_have_value("agent")
    expect(dialog.get_by_label("Version")).to_have_value("1.4.2")
    expect(dialog.get_by_label("Platform")).to_have_value("linux")
    expect(dialog.get_by_label("Arch")).to_have_value("x86_64")
    dialog.get_by_label(re.compile("^Description")).fill("the node agent")
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    throttled = {"offline": False, "latency": 0, "downloadThroughput": -1}
    cdp.send("Network.emulateNetworkConditions", {**throttled, "uploadThroughput": 400_000})
    page.get_by_test_id("package-upload-submit").click()
    progress = page.get_by_test_id("package-upload-progress")
    expect(progress).to_have_attribute("data-phase", "sending", timeout=15_000)
    page.wait_for_function(
        "() => { const p = document.querySelector('[data-testid=package-upload-progress]');"
        " return p && Number(p.dataset.percent) >= 20 && Number(p.dataset.percent) < 90; }",
        timeout=15_000,
    )
    expect(page.get_by_test_id("package-upload-sent")).to_contain_text("of 2.10 MB")
    _shot(page, "7-packages-upload")
    cdp.send("Network.emulateNetworkConditions", {**throttled, "uploadThroughput": -1})
    done = page.get_by_test_id("package-upload-done")
    expect(done).to_be_visible(timeout=30_000)
    expect(done).to_contain_text("Uploaded agent 1.4.2 (linux/x86_64)")
    digest = hashlib.sha256(PACKAGE_BYTES).hexdigest()
    expect(page.get_by_test_id("package-upload-sha256")).to_have_text(digest)
    uploaded = str(done.get_attribute("data-package-id"))
    _shot(page, "7-packages-uploaded")
    stored = server.client.get(f"/api/v1/packages/{uploaded}").json()
    assert (stored["sha256"], stored["size"], stored["filename"]) == (
        digest,
        len(PACKAGE_BYTES),
        PACKAGE_FILE,
    )
    assert stored["description"] == "the node agent"
    page.get_by_test_id("package-upload-close").click()
    expect(page.get_by_test_id("package-row")).to_have_count(4)
    row = page.locator(f"[data-testid=package-row][data-package-id='{uploaded}']")
    expect(row).to_have_class(re.compile("package-row-highlight"))
    expect(row.get_by_test_id("package-size")).to_have_text("2.10 MB")
    expect(row.get_by_test_id("package-sha256")).to_have_text(digest[:12])
    page.mouse.move(0, 0)
    page.wait_for_timeout(400)  # the rows' entry animation, for a still screenshot
    _shot(page, "7-packages")

    # the same again: the server's own 409 (the page's look-up first is skipped here, as
    # if another upload had won the race), naming the stored package, in Chinese
    page.route(
        re.compile(r".*/api/v1/packages\?.*size=1$"),
        lambda route: route.fulfill(
            json={"packages": [], "total": 0, "page": 1, "size": 1}, status=200
        ),
    )
    page.get_by_test_id("lang-switch").get_by_text("中文", exact=True).click()
    page.get_by_test_id("package-upload-open").click()
    page.locator(".package-upload-dragger input[type=file]").set_input_files(original)
    expect(dialog.get_by_label("名称")).to_have_value("agent")
    page.get_by_test_id("package-upload-submit").click()
    error = page.get_by_test_id("package-upload-error")
    expect(error).to_have_attribute("data-code", "package-exists", timeout=15_000)
    expect(page.get_by_test_id("package-upload-error-message")).to_have_text(
        f"agent 1.4.2（linux/x86_64）已经存在，软件包 ID 为 {uploaded}"
    )
    expect(page.get_by_test_id("package-upload-error-hint")).to_have_text(
        "请以另一个版本上传，或先删除已有的那个。"
    )
    _shot(page, "7-packages-exists-zh")
    page.unroute(re.compile(r".*/api/v1/packages\?.*size=1$"))
    page.get_by_test_id("package-upload-show-existing").click()
    expect(page).to_have_url(
        re.compile(r"\?view=packages&name=agent&version=1\.4\.2&platform=linux&arch=x86_64$")
    )
    expect(page.get_by_test_id("package-row")).to_have_count(1)
    expect(page.get_by_test_id("package-total")).to_have_text("共 1 个软件包")
    page.get_by_test_id("package-filters-clear").click()
    expect(page.get_by_test_id("package-row")).to_have_count(4)
    expect(page.locator(".ant-table-thead")).to_contain_text("名称")
    page.mouse.move(0, 0)
    page.wait_for_timeout(400)
    _shot(page, "7-packages-zh")
    page.get_by_test_id("lang-switch").get_by_text("English", exact=True).click()

    # filters, search and sort: into the URL, done by the server, kept by a reload
    name = page.get_by_test_id("package-filter-name")
    name.fill("agent")
    name.press("Enter")
    expect(page).to_have_url(re.compile(r"\?view=packages&name=agent$"))
    expect(page.get_by_test_id("package-row")).to_have_count(3)
    platform = page.get_by_test_id("package-filter-platform")
    platform.fill("linux")
    platform.press("Enter")
    expect(page).to_have_url(re.compile(r"\?view=packages&name=agent&platform=linux$"))
    expect(page.get_by_test_id("package-row")).to_have_count(2)
    page.locator(".ant-table-thead th", has_text="Version").click()
    expect(page).to_have_url(re.compile(r"&sort=version&order=asc$"))
    expect(page.get_by_test_id("package-version")).to_have_text(["1.4.1", "1.4.2"])
    page.locator(".ant-table-thead th", has_text="Version").click()
    expect(page).to_have_url(re.compile(r"&sort=version&order=desc$"))
    expect(page.get_by_test_id("package-version")).to_have_text(["1.4.2", "1.4.1"])
    page.reload()
    expect(page.get_by_test_id("package-filter-platform")).to_have_value("linux")
    expect(page.get_by_test_id("package-version")).to_have_text(["1.4.2", "1.4.1"])
    page.get_by_test_id("package-filters-clear").click()
    search = page.get_by_test_id("package-search")
    search.fill("windows")
    search.press("Enter")
    expect(page).to_have_url(re.compile(r"\?view=packages&q=windows&sort=version&order=desc$"))
    expect(page.get_by_test_id("package-row")).to_have_count(1)  # the answer, not the URL
    assert _rows(page) == ["agent"]
    expect(page.get_by_test_id("package-platform")).to_have_text("windows")
    page.get_by_test_id("package-filters-clear").click()
    expect(page.get_by_test_id("package-row")).to_have_count(4)

    # the download: the same bytes, under the file's name
    row = page.locator(f"[data-testid=package-row][data-package-id='{uploaded}']")
    with page.expect_download() as info:
        row.get_by_test_id("package-download").click()
    saved = tmp_path / "out" / "downloaded"
    info.value.save_as(saved)
    assert info.value.suggested_filename == PACKAGE_FILE
    assert saved.read_bytes() == PACKAGE_BYTES
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == digest

    # a phone: the name with its version, platform, arch and size, and the actions
    page.set_viewport_size({"width": 390, "height": 844})
    expect(row.get_by_test_id("package-narrow-meta")).to_be_visible()
    page.wait_for_function("() => document.documentElement.scrollWidth <= 390", timeout=15_000)
    findings = _axe(page, "packages (phone)")
    page.mouse.move(0, 0)
    _shot(page, "7-packages-phone")
    page.get_by_test_id("package-upload-open").click()
    expect(page.get_by_test_id("package-upload-form")).to_be_visible()
    page.wait_for_timeout(400)  # the dialog's entry animation
    page.wait_for_function("() => document.documentElement.scrollWidth <= 390", timeout=15_000)
    _shot(page, "7-packages-upload-phone")
    page.get_by_test_id("package-upload-cancel").click()
    expect(page.get_by_test_id("package-upload-form")).to_be_hidden()
    page.set_viewport_size({"width": 1400, "height": 1000})
    findings += _axe(page, "packages")
    assert not findings, "\n".join(findings)

    # delete, after a confirm
    row.get_by_test_id("package-delete").click()
    page.get_by_test_id("package-delete-confirm").click()
    expect(page.get_by_test_id("package-row")).to_have_count(3)
    expect(page.get_by_test_id("package-total")).to_have_text("3 packages")
    assert server.client.get(f"/api/v1/packages/{uploaded}").status_code == 404

    # a reader: the list and downloads, no upload, no delete
    reader = server.client.post("/api/tokens", json={"name": "viewer", "role": "read"})
    assert reader.status_code == 201, reader.text
    page.get_by_test_id("nav-sign-out").click()
    _sign_in(page, server.base, str(reader.json()["token"]))
    page.get_by_test_id("nav-packages").click()
    expect(page.get_by_test_id("package-row")).to_have_count(3)
    expect(page.get_by_test_id("package-read-only")).to_be_visible()
    expect(page.get_by_test_id("package-me")).to_contain_text("viewer · read")
    expect(page.get_by_test_id("package-upload-open")).to_have_count(0)
    expect(page.get_by_test_id("package-delete")).to_have_count(0)
    expect(page.get_by_test_id("package-download")).to_have_count(3)
