"""The far side's pages in a real headless Chromium against a real `ferry serve`: a real
bundle (made from the local index and registry) imported through the Import page with
its upload progress, another imported by the admin from the server's import directory
where it lies, a tampered one refused, and what they brought browsed on the Browse page.

Screenshots (desktop and phone width, English and Chinese) go to tests/e2e/artifacts/ as
8-import*.png and 9-browse*.png; docs/screenshots/ holds copies of them.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from conftest import Npm, write
from e2e.test_ui import ROOT, _axe, _shot, _sign_in
from e2e.test_ui import page as page  # the browser fixture, shared
from ferry.bundle.archive import ArchiveFormat
from ferry.services.bundle import BundlePlan, bundle
from ferry.settings import Settings
from ferry.targets import NodeTarget, PythonTarget
from support.serve import Server, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

LINUX_NODE = NodeTarget.parse("20", "linux", "x64", "glibc")
LINUX_PY = PythonTarget.parse("3.11", "manylinux_2_28_x86_64")
UPLOADED = "bundle-2026-12-05.zip"
CARRIED = "bundle-2026-12-20.tar.zst"
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1400, "height": 1000}


@dataclass
class Bundles:
    uploaded: Path
    carried: Path  # in the server's import_dir

    @property
    def import_dir(self) -> Path:
        return self.carried.parent


def _make(settings: Settings, work: Path, files: dict[str, str], out: Path) -> Path:
    manifests = [write(work / name, text) for name, text in files.items()]
    plan = BundlePlan(manifests, python_targets=[LINUX_PY], node_target=LINUX_NODE)
    out.parent.mkdir(parents=True, exist_ok=True)
    fmt: ArchiveFormat = "zip" if out.name.endswith(".zip") else "tar.zst"
    asyncio.run(bundle(settings, plan, out, fmt))
    return out


@pytest.fixture
def bundles(npm_settings: Settings, npmreg: Npm, tmp_path: Path) -> Bundles:
    """Two real bundles made on the near side (its own data directory): one to upload,
    one carried in on a disk."""
    near = npm_settings.model_copy(update={"data_dir": tmp_path / "near"})
    app = {"name": "demo", "version": "1.0.0", "dependencies": {"app": "^1.0.0"}}
    tools = {"name": "tools", "version": "1.0.0", "dependencies": {"@demo/native": "1.0.0"}}
    uploaded = _make(
        near,
        tmp_path / "project",
        {"package.json": json.dumps(app), "requirements.txt": "app\nlib==2.0\n"},
        tmp_path / "out" / UPLOADED,
    )
    carried = _make(
        near,
        tmp_path / "tools",
        {"package.json": json.dumps(tools), "requirements.txt": "dep==2.0\n"},
        tmp_path / "carried" / CARRIED,
    )
    return Bundles(uploaded, carried)


@pytest.fixture
def far(npm_settings: Settings, bundles: Bundles) -> Iterator[Server]:
    assert (ROOT / "web" / "dist" / "index.html").is_file(), "the web UI is not built"
    started = Server(npm_settings, free_port(), env={"FERRY_IMPORT_DIR": str(bundles.import_dir)})
    try:
        yield started
    finally:
        started.stop()


def _served_files(bundle_zip: Path) -> int:
    with zipfile.ZipFile(bundle_zip) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith("/manifest.json")]
        manifest = json.loads(archive.read(name))
    return sum(1 for f in manifest["files"] if not f.get("prebuilt"))


def _still(page: Page) -> None:
    """No row highlighted by a pointer left over it, no entry animation half done."""
    page.mouse.move(0, 0)
    page.wait_for_timeout(400)


def _language(page: Page, lang: str) -> None:
    page.get_by_test_id("lang-switch").get_by_text(lang, exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN" if lang == "中文" else "en")


def _chinese_font() -> None:
    fonts = subprocess.run(
        ["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False
    ).stdout
    assert fonts.strip(), "no Chinese font: the screenshot would show boxes (fonts-noto-cjk)"


def _fits(page: Page, where: str) -> None:
    page.wait_for_function(
        "() => document.documentElement.scrollWidth <= window.innerWidth", timeout=15_000
    )
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], (where, width)


def test_import_a_bundle_then_browse_what_it_brought(
    far: Server, bundles: Bundles, page: Page, tmp_path: Path
) -> None:
    _chinese_font()
    token = far.printed_token
    assert token, far.output
    _sign_in(page, far.base, token)
    findings: list[str] = []

    # ---- Import ----------------------------------------------------------------------
    page.get_by_test_id("nav-import").click()
    expect(page).to_have_url(re.compile(r"\?view=import$"))
    expect(page.get_by_test_id("import-history")).to_contain_text("Nothing imported yet")
    # the admin sees the bundle carried in on the server's disk
    carried_row = page.locator(f"[data-testid=available-row][data-name='{CARRIED}']")
    expect(carried_row).to_be_visible()
    size = bundles.uploaded.stat().st_size

    # the upload, throttled by the browser's own network emulation to watch its progress
    page.locator("[data-testid=import-dragger] input[type=file]").set_input_files(bundles.uploaded)
    expect(page.get_by_test_id("import-chosen")).to_contain_text(UPLOADED)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    throttled = {"offline": False, "latency": 0, "downloadThroughput": -1}
    cdp.send("Network.emulateNetworkConditions", {**throttled, "uploadThroughput": size / 10})
    page.get_by_test_id("import-submit").click()
    expect(page.get_by_test_id("import-progress")).to_have_attribute("data-phase", "sending")
    page.wait_for_function(
        "() => { const p = document.querySelector('[data-testid=import-progress]');"
        " return p && Number(p.dataset.percent) >= 20 && Number(p.dataset.percent) < 90; }",
        timeout=30_000,
    )
    expect(page.get_by_test_id("import-progress-text")).to_contain_text(" of ")
    page.wait_for_timeout(500)  # the bar's own animation to where the number is
    _shot(page, "8-import-upload")
    cdp.send("Network.emulateNetworkConditions", {**throttled, "uploadThroughput": -1})
    result = page.get_by_test_id("import-card").get_by_test_id("import-result")
    expect(result).to_be_visible(timeout=60_000)
    files = _served_files(bundles.uploaded)
    expect(result).to_contain_text(f"Imported {UPLOADED}")
    expect(result).to_contain_text(f"{files} files for the registries: {files} new, 0 held")
    expect(page.get_by_test_id("import-row")).to_have_count(1)
    imports = far.client.get("/api/imports").json()["imports"]
    assert [(i["filename"], i["file_count"]) for i in imports] == [(UPLOADED, files)]
    _still(page)
    _shot(page, "8-import")

    # the admin imports the carried bundle where it lies: nothing uploaded
    before = bundles.carried.read_bytes()
    carried_row.get_by_test_id("available-import").click()
    carried_result = page.get_by_test_id("import-server").get_by_test_id("import-result")
    expect(carried_result).to_contain_text(f"Imported {CARRIED}", timeout=60_000)
    expect(page.get_by_test_id("import-row")).to_have_count(2)
    expect(page.get_by_test_id("import-row").first).to_have_attribute("data-name", CARRIED)
    assert bundles.carried.read_bytes() == before
    # shared files (the index's own packages both bundles carry) were held already
    doc = far.client.get("/api/imports").json()["imports"][-1]
    assert doc["filename"] == CARRIED and doc["new_count"] <= doc["file_count"]
    _still(page)
    findings += _axe(page, "import")

    # a tampered bundle is refused whole, said in the reader's language
    bad = tmp_path / "bad" / "bundle-2026-12-06.zip"
    bad.parent.mkdir()
    data = bytearray(bundles.uploaded.read_bytes())
    data[len(data) // 3] ^= 0xFF
    bad.write_bytes(bytes(data))
    _language(page, "中文")
    page.locator("[data-testid=import-dragger] input[type=file]").set_input_files(bad)
    page.get_by_test_id("import-submit").click()
    error = page.get_by_test_id("import-error")
    expect(error).to_have_attribute("data-code", "import-rejected", timeout=60_000)
    expect(page.get_by_test_id("import-error-message")).to_contain_text(
        "bundle-2026-12-06.zip 未被导入："
    )
    expect(page.get_by_test_id("import-error-hint")).to_contain_text("此包的任何内容都没有保留")
    expect(page.get_by_test_id("import-row")).to_have_count(2)
    expect(page.locator("[data-testid=import-history] .ant-table-thead")).to_contain_text("离线包")
    _still(page)
    _shot(page, "8-import-zh")
    findings += _axe(page, "import (zh)")

    page.set_viewport_size(PHONE)
    _fits(page, "import (phone, zh)")
    _still(page)
    _shot(page, "8-import-phone-zh")
    _language(page, "English")
    _fits(page, "import (phone)")
    findings += _axe(page, "import (phone)")
    _still(page)
    _shot(page, "8-import-phone")
    page.set_viewport_size(DESKTOP)

    # ---- Browse ----------------------------------------------------------------------
    page.get_by_test_id("nav-browse").click()
    expect(page).to_have_url(re.compile(r"\?view=browse$"))
    held = far.client.get("/api/registry/packages", params={"per_page": 100}).json()
    names = {(p["ecosystem"], p["name"]) for p in held["packages"]}
    assert {("npm", "@demo/native"), ("pypi", "lib"), ("npm", "app")} <= names, names
    expect(page.get_by_test_id("browse-total")).to_have_text(f"{held['total']} packages")
    expect(page.get_by_test_id("browse-index-url")).to_have_text(f"{far.base}/simple/")
    _still(page)
    _shot(page, "9-browse")

    # ecosystem and search: in the URL, done by the server
    page.get_by_test_id("browse-ecosystem").get_by_text("npm", exact=True).click()
    expect(page).to_have_url(re.compile(r"\?view=browse&ecosystem=npm$"))
    search = page.get_by_test_id("browse-search")
    search.fill("native")
    search.press("Enter")
    expect(page).to_have_url(re.compile(r"\?view=browse&ecosystem=npm&q=native$"))
    rows = page.get_by_test_id("browse-row")
    expect(rows).to_have_count(2)
    assert rows.evaluate_all("els => els.map(e => e.dataset.name)") == [
        "@demo/native",
        "@demo/native-linux-x64",
    ]

    # one package: its versions, files, the import that brought it, the install command
    page.locator("[data-testid=browse-row][data-name='@demo/native']").get_by_test_id(
        "browse-open"
    ).click()
    expect(page).to_have_url(re.compile(r"&package=@demo/native$"))
    view = page.get_by_test_id("browse-package")
    expect(view.get_by_test_id("browse-package-name")).to_have_text("@demo/native")
    command = f"npm install --registry {far.base}/npm/ @demo/native"
    expect(view.get_by_test_id("browse-install-command")).to_contain_text(command)
    expect(view.get_by_test_id("browse-file")).to_have_count(1)
    expect(view.get_by_test_id("browse-imported")).to_contain_text(CARRIED)
    # the registry that command points at answers for it
    assert far.client.get("/npm/@demo/native").json()["name"] == "@demo/native"
    _still(page)
    _shot(page, "9-browse-package")
    findings += _axe(page, "browse package")
    page.reload()  # the URL is the state: the same package again
    expect(view.get_by_test_id("browse-package-name")).to_have_text("@demo/native")
    page.get_by_test_id("browse-back").click()
    expect(page).to_have_url(re.compile(r"\?view=browse&ecosystem=npm&q=native$"))
    expect(rows).to_have_count(2)

    # a Python package, in Chinese: pip pointed at /simple/, the yanked file said
    page.get_by_test_id("browse-ecosystem").get_by_text("PyPI", exact=True).click()
    search.fill("")
    search.press("Enter")
    expect(page).to_have_url(re.compile(r"\?view=browse&ecosystem=pypi$"))
    _language(page, "中文")
    expect(page.locator("[data-testid=browse-list] .ant-table-thead")).to_contain_text("最新版本")
    _still(page)
    _shot(page, "9-browse-zh")
    findings += _axe(page, "browse (zh)")
    page.locator("[data-testid=browse-row][data-name='lib']").get_by_test_id("browse-open").click()
    expect(view.get_by_test_id("browse-install-command")).to_contain_text(
        f"pip install --index-url {far.base}/simple/ lib"
    )
    expect(view.get_by_test_id("browse-yanked")).to_contain_text("已撤回：broken build")
    expect(view.get_by_test_id("browse-imported")).to_contain_text(UPLOADED)
    _still(page)
    _shot(page, "9-browse-package-zh")

    # a phone: nothing wider than the screen
    page.set_viewport_size(PHONE)
    _fits(page, "browse package (phone, zh)")
    _language(page, "English")
    _fits(page, "browse package (phone)")
    findings += _axe(page, "browse package (phone)")
    _still(page)
    _shot(page, "9-browse-package-phone")
    page.get_by_test_id("browse-back").click()
    expect(page.get_by_test_id("browse-row").first).to_be_visible()
    _fits(page, "browse (phone)")
    findings += _axe(page, "browse (phone)")
    _still(page)
    _shot(page, "9-browse-phone")
    assert not findings, "\n".join(findings)
