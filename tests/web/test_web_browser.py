"""The dashboard in a real headless Chromium (Debian's chromium, driven by playwright-python).

Scenarios: the alert list, filtering it, a new alert arriving live (insert + NOTIFY),
opening an alert, acknowledging it as an operator, a viewer refused. Every page is
saved under test-output/screenshots/; with OPSC_UPDATE_SCREENSHOTS=1 the overview and an
alert page are also copied to docs/img/ for the README (a plain test run never changes
tracked files).
"""
from __future__ import annotations

import os
import shutil
import socket
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright-python is not installed (pip install playwright)")
uvicorn = pytest.importorskip("uvicorn")

from web_fixtures import OPERATOR, VIEWER, bearer, make_alert, settings  # noqa: E402
from opsconductor.engine.model import Severity, Status  # noqa: E402
from opsconductor.engine.store.direct import change_stored, store_alerts  # noqa: E402
from opsconductor.web.app import create_app  # noqa: E402
from web_demo_data import seed  # noqa: E402
from waiting import eventually  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-output" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def site(db_url, engine):
    """The app served by uvicorn on 127.0.0.1 in a thread, on the demo scenario's data."""
    ids = seed(db_url)
    app = create_app(database_url=db_url, engine=engine, settings=settings())
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    eventually(lambda: server.started or not thread.is_alive(), "uvicorn starts or ends")
    assert server.started, "uvicorn did not start"
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield f"http://127.0.0.1:{port}", ids
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    expected = "the server responded with a status of 403"  # test_viewer_refused provokes one

    def on_console(m) -> None:
        if m.type == "error" and expected not in m.text:
            errors.append(m.text)

    pg.on("console", on_console)
    yield pg
    context.close()
    assert errors == [], errors  # no script error, no CSP violation


def shot(pg, name: str) -> Path:
    path = SHOTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path


def listeners(conn: psycopg.Connection) -> int:
    """Sessions of this test's database whose last statement was a LISTEN: the app's hub."""
    return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND query LIKE 'LISTEN%%'").fetchone()[0]


def login(pg, base: str, token: str, next_path: str = "/") -> None:
    pg.goto(f"{base}/login?next={next_path}")
    pg.fill("input[name=token]", token)
    pg.click("button[type=submit]")
    pg.wait_for_url(f"{base}{next_path}")


DOC_IMAGES = {"overview": "dashboard.png", "alert": "alert.png", "alerts": "alerts.png", "silences": "silences.png",
              "dependencies": "topology.png", "overview-light": "dashboard-light.png"}


def test_every_page_and_the_readme_images(site, page, engine, db_url):
    base, ids = site
    from opsconductor.engine.store.direct import create_silence

    with psycopg.connect(db_url, autocommit=True) as conn:  # one ad-hoc silence holding the UPS alert
        now = datetime.now(timezone.utc)
        made = create_silence(conn, {"device_ip": "10.20.9.10"}, now, now + timedelta(hours=2), "otto",
                              "UPS battery swap, CHG-2231")
    engine.held = {ids["ups"]: made.name}
    for name, path in [("overview", "/"), ("alerts", "/alerts"), ("alert", f"/alerts/{ids['switch']}"),
                       ("alert-suppressed-child", f"/alerts/{ids['camera']}"), ("dependencies", "/dependencies"),
                       ("silences", "/silences"), ("connectors", "/connectors"), ("config", "/config"),
                       ("overview-light", "/"), ("login", "/login")]:
        if name == "overview-light":
            page.evaluate("localStorage.setItem('opsc-theme', 'light')")
        page.goto(base + path)
        page.wait_for_load_state("load")
        if name in ("overview", "alerts"):
            page.locator("details").first.evaluate("d => d.open = true")  # a root's group, expanded
        saved = shot(page, name)
        if name in DOC_IMAGES and os.environ.get("OPSC_UPDATE_SCREENSHOTS") == "1":
            (ROOT / "docs" / "img").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(saved, ROOT / "docs" / "img" / DOC_IMAGES[name])
    page.evaluate("localStorage.removeItem('opsc-theme')")
    assert page.locator("svg.topology").count() == 0  # last page was /login


def test_list_filter_live_arrival_and_open(site, page, db_url):
    base, ids = site
    page.goto(base + "/alerts")
    rows = page.locator("#alert-rows > tr[data-id]")
    assert rows.count() == 8  # the six cameras are folded under their switch
    assert "6 suppressed: 6 video" in page.inner_text(f'#alert-rows tr.group[data-root="{ids["switch"]}"]')
    page.locator("label.sevbox.sev-critical").click()  # a checkbox change submits the filter
    page.wait_for_url("**severity=critical**")
    assert rows.count() == 2
    assert {t.split()[-1] for t in page.locator("#alert-rows > tr[data-id] .sev").all_inner_texts()} == {"CRITICAL"}
    shot(page, "alerts-filtered")

    page.wait_for_selector("#live:not(.down)", state="visible")  # the stream said ready
    with psycopg.connect(db_url, autocommit=True) as conn:
        (new,) = store_alerts(conn, [make_alert(severity=Severity.CRITICAL, title="Core router CPU 100%",
                                                     received_at=datetime.now(timezone.utc))])
        (ignored,) = store_alerts(conn, [make_alert(severity=Severity.INFO, title="Filtered out")])  # NOTIFYs
    page.wait_for_selector(f'#alert-rows tr[data-id="{new}"]')
    assert rows.first.get_attribute("data-id") == new and rows.count() == 3
    assert page.locator(f'tr[data-id="{ignored}"]').count() == 0  # the stream applies the page's filter
    assert "+1 new" in page.inner_text("#newcount")
    shot(page, "alerts-live")

    page.click(f'#alert-rows tr[data-id="{new}"] a')
    page.wait_for_url(f"{base}/alerts/{new}")
    assert page.inner_text("h1") == "Core router CPU 100%"


def test_operator_acknowledges(site, page):
    base, ids = site
    login(page, base, OPERATOR, f"/alerts/{ids['vpn']}")
    page.fill("textarea[name=note]", "Carrier ticket 4711 opened")
    page.click("#ack")
    page.wait_for_url(f"**/alerts/{ids['vpn']}?done=acknowledged")
    assert "Alert acknowledged." in page.inner_text(".flash")
    history = page.inner_text("table.plain")
    assert "acknowledged" in history and "otto" in history and "Carrier ticket 4711 opened" in history
    assert page.locator("#ack").count() == 0  # resolve remains
    shot(page, "alert-acknowledged")


def test_viewer_refused(site, page):
    base, ids = site
    login(page, base, VIEWER, f"/alerts/{ids['vpn']}")
    assert "need the operator role" in page.inner_text(".actions")
    assert page.locator("#ack").count() == 0
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    answer = page.request.post(f"{base}/alerts/{ids['vpn']}/acknowledge", form={"csrf": csrf})
    assert answer.status == 403 and "operator role" in answer.text()
    # The same refusal as the browser draws it: submit a form the viewer's page does not offer.
    with page.expect_navigation() as nav:
        page.evaluate("""csrf => { const f = document.createElement('form'); f.method = 'post';
            f.action = location.pathname + '/acknowledge'; const i = document.createElement('input');
            i.type = 'hidden'; i.name = 'csrf'; i.value = csrf; f.appendChild(i); document.body.appendChild(f);
            f.submit(); }""", csrf)
    assert nav.value.status == 403 and "operator role" in page.inner_text("main")
    shot(page, "viewer-refused")


def _tile(pg, severity: str) -> int:
    return int(pg.inner_text(f'#tiles a[data-sev="{severity}"] .n'))


def _stat(pg, status: str) -> int:
    return int(pg.inner_text(f'#statusbar a[data-status="{status}"] .n'))


def test_open_pages_follow_every_change_without_a_reload(site, browser, page, db_url):
    """/alerts (open, grouped) and the overview stay open while alerts are created,
    cleared, acknowledged from another session and suppressed under a root."""
    base, ids = site
    page.goto(base + "/alerts")
    wall = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
    wall.set_default_timeout(TIMEOUT_MS)
    wall.goto(base + "/")
    detail = wall.context.new_page()
    detail.set_default_timeout(TIMEOUT_MS)
    detail.goto(f"{base}/alerts/{ids['vpn']}")
    for pg in (page, wall, detail):
        pg.wait_for_selector("#live:not(.down)", state="visible")
        pg.evaluate("window.__notReloaded = true")
    top = page.locator("#alert-rows > tr[data-id]")
    assert top.count() == 8 and _tile(wall, "critical") == 2 and _stat(wall, "suppressed") == 6
    with psycopg.connect(db_url, autocommit=True) as conn:  # two open pages, one LISTEN: the app's hub
        listening = eventually(lambda: listeners(conn), "the hub LISTENs (it connects as the first page subscribes)")
    assert listening == 1

    # Created: a new critical router alert appears on both pages, counts follow.
    with psycopg.connect(db_url, autocommit=True) as conn:
        (router,) = store_alerts(conn, [make_alert(severity=Severity.CRITICAL, title="Core router down",
                                                   alert_type="device_down", device_ip="10.20.0.1",
                                                   device_name="core-rtr-01", received_at=datetime.now(timezone.utc))])
    page.wait_for_selector(f'#alert-rows > tr[data-id="{router}"]')
    wall.wait_for_function("() => document.querySelector('#tiles a[data-sev=critical] .n').textContent.trim() === '3'")

    # Acknowledged from another session (the API, as another operator's tool would).
    answer = page.request.post(f"{base}/api/v1/alerts/{ids['vpn']}/acknowledge", headers=bearer(OPERATOR),
                               data={"note": "carrier ticket"})
    assert answer.status == 200
    page.wait_for_selector(f'#alert-rows > tr[data-id="{ids["vpn"]}"].st-acknowledged')
    detail.wait_for_selector("#a-head .status.st-acknowledged")
    detail.wait_for_selector("#a-history >> text=carrier ticket")
    wall.wait_for_function("() => document.querySelector('#statusbar a[data-status=acknowledged] .n')"
                           ".textContent.trim() === '2'")

    # Suppressed under a root: the UPS alert goes under the new router alert; the list folds it.
    with psycopg.connect(db_url, autocommit=True) as conn:
        change_stored(conn, ids["ups"], "suppressed", Status.SUPPRESSED, correlated_to_id=router,
                      correlation_rule="dependency:power")
    page.wait_for_selector(f'#alert-rows > tr[data-id="{ids["ups"]}"]', state="detached")
    group = page.locator(f'#alert-rows tr.group[data-root="{router}"]')
    group.wait_for()
    assert "1 suppressed: 1 power" in group.inner_text()
    wall.wait_for_selector(f'#root-causes li[data-root="{router}"]')
    assert "core-rtr-01" in wall.inner_text("#root-causes") and _stat(wall, "suppressed") == 7

    # Cleared: the switch goes; its open view drops it (the cameras stay, no longer folded).
    with psycopg.connect(db_url, autocommit=True) as conn:
        change_stored(conn, ids["switch"], "cleared", Status.RESOLVED)
    page.wait_for_selector(f'#alert-rows > tr[data-id="{ids["switch"]}"]', state="detached")
    page.wait_for_selector(f'#alert-rows > tr[data-id="{ids["camera"]}"]')
    # Open problems are active + acknowledged: the router and the (acknowledged) VPN tunnel.
    wall.wait_for_function("() => document.querySelector('#tiles a[data-sev=critical] .n').textContent.trim() === '2'")
    for pg in (page, wall, detail):
        assert pg.evaluate("window.__notReloaded") is True
    shot(page, "alerts-live-followed")
    shot(wall, "overview-1280x720")
    wall.context.close()


def test_connectors_page_lists_connectors(site, page):
    base, _ = site
    page.goto(base + "/connectors")
    names = page.locator("table.connectors tbody td b").all_inner_texts()
    assert names == ["cradlepoint", "eaton-ups", "milestone-vms", "prtg-main", "snmp-traps"]
    assert "HTTP 503 from recording server rs-02" in page.inner_text("table.connectors")
    assert "email" in page.inner_text("#channels")  # per-channel outcomes
    shot(page, "connectors")


def test_operator_acknowledges_several_from_the_list(site, page, engine):
    base, ids = site
    login(page, base, OPERATOR, "/alerts")
    chosen = [ids["vpn"], ids["ups"]]
    for alert_id in chosen:
        page.check(f'#alert-rows > tr[data-id="{alert_id}"] input[name=id]')
    assert page.inner_text("#picked") == "2 selected"
    page.fill("#bulk input[name=note]", "site visit booked")
    page.click("#bulk-ack")
    page.wait_for_url("**done=acknowledge**")
    assert "2 alerts acknowledged." in page.inner_text(".flash")
    for alert_id in chosen:
        assert page.locator(f'#alert-rows > tr[data-id="{alert_id}"].st-acknowledged').count() == 1
    assert sorted(engine.changed) == sorted((i, "acknowledged") for i in chosen)  # handed to the engine
    # Keyboard: j moves to the first row, x ticks it, r resolves it.
    page.locator("body").click()
    page.keyboard.press("j")
    first = page.evaluate("document.activeElement.getAttribute('data-id')")
    page.keyboard.press("x")
    assert page.inner_text("#picked") == "1 selected"
    page.keyboard.press("r")
    page.wait_for_url("**done=resolve**")
    assert page.locator(f'#alert-rows > tr[data-id="{first}"]').count() == 0
    shot(page, "alerts-bulk")


def test_a_page_resynchronises_when_the_listen_connection_comes_back(site, page, db_url):
    """News that no NOTIFY carried (the hub's LISTEN connection was cut) still reaches an
    open page: the hub reconnects and every page redraws from the database."""
    base, _ = site
    page.goto(base + "/alerts")
    page.wait_for_selector("#live:not(.down)", state="visible")
    with psycopg.connect(db_url, autocommit=True) as conn:
        eventually(lambda: listeners(conn), "the hub LISTENs (it connects as the page subscribes)")
        with conn.transaction():  # the batch's NOTIFY goes out at this commit, after the LISTEN is cut
            (quiet,) = store_alerts(conn, [make_alert(title="Stored, never NOTIFYed",
                                                      received_at=datetime.now(timezone.utc))])
            cut = conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                               " WHERE datname = current_database() AND query LIKE 'LISTEN%%'").fetchone()[0]
        assert cut == 1
    page.wait_for_selector(f'#alert-rows > tr[data-id="{quiet}"]')
