"""Browser tests: the web app in Debian's Chromium, driven by Playwright (sync API).

Fixtures:
- ``web`` (one per session): ``estatewatch api`` in a subprocess on a free port, over a
  migrated SQLite database with the demo compound (infra/sites/demo-compound.yaml)
  imported and one user per role with a password: ``web.logins[role]`` is a
  :class:`Login` (username, password); ``web.url(path)`` the full address.
  ``fresh_web`` is the same, but a new server per test (for tests that spoil state:
  throttling blocks the client address for 15 minutes). Neither has InfluxDB;
  ``start_web(work, env)`` starts one with settings of your own (tests/browser/test_assets.py).
- ``browser``: Chromium (``/usr/bin/chromium``, headless), one per test module.
- ``phone`` (375x812, touch, zh-CN) and ``desktop`` (1366x900, zh-CN): a new page in a
  new context per test; ``new_page(locale=..., phone=...)`` for other combinations.
- ``login(page, role, web=...)``: logs the page in through the form.
- ``shoot(page, name)``: saves ``var/screenshots/<name>.png`` (the README's pictures come
  from there: ``make screenshots``).
A failing test saves a screenshot of each page it opened into
``var/screenshots/failures/``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from process_support import wait_until_serving

from api.users import NewUser, create_user, set_password
from estatewatch.ports import free_ports
from maintenance.db.engine import make_sessionmaker, open_engine
from maintenance.db.migrations import prepare_schema
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.actors import Role
from maintenance.sites import load_site_file

ROOT = Path(__file__).resolve().parents[2]
SITE_FILE = ROOT / "infra" / "sites" / "demo-compound.yaml"
SCREENSHOTS = ROOT / "var" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE: dict[str, Any] = {
    "viewport": {"width": 375, "height": 812},
    "is_mobile": True,
    "has_touch": True,
}
DESKTOP: dict[str, Any] = {"viewport": {"width": 1366, "height": 900}}


@dataclass(frozen=True, slots=True)
class Login:
    username: str
    password: str


# One person per role; usernames are Chinese surnames, as staff lists in a compound read.
PEOPLE: dict[Role, tuple[str, dict[str, Any]]] = {
    "admin": ("zhao", {}),
    "manager": ("qian", {"sites": ["demo"]}),
    "technician": ("sun", {"sites": ["demo"]}),
    "committee": ("li", {"sites": ["demo"]}),
    "supervisor": ("zhou", {"sites": ["demo"]}),
    "resident": ("wu", {"sites": ["demo"], "building": "B1", "unit": "3-201"}),
}


def password_for(role: Role) -> str:
    return f"Estate-2026-{role}"


@dataclass
class WebServer:
    base: str
    data_dir: Path
    process: subprocess.Popen[str]
    logins: dict[Role, Login]

    def url(self, path: str = "/") -> str:
        return self.base + path


async def _prepare(data_dir: Path) -> None:
    from api.settings import ApiSettings

    url = ApiSettings(data_dir=data_dir).database_url
    async with open_engine(url) as engine:
        await prepare_schema(engine, migrate=True)
        sessions = make_sessionmaker(engine)
        from estatewatch.clock import utc_now

        now = utc_now()
        async with SqlUnitOfWork(sessions) as uow:
            await uow.sites.import_file(
                load_site_file(SITE_FILE), actor="cli:test", at=now, source="demo"
            )
            await uow.commit()
        for role, (username, fields) in PEOPLE.items():
            new = NewUser(username=username, role=role, display_name=username.title(), **fields)
            await create_user(SqlUnitOfWork(sessions), new, actor="cli:test", at=now)
            await set_password(
                SqlUnitOfWork(sessions), username, password_for(role), actor="cli:test", at=now
            )


def start_web(work: Path, env: dict[str, str] | None = None) -> WebServer:
    """``estatewatch api`` over a new database in ``work``, with ``env`` added to its
    environment (``ESTATEWATCH_API_INFLUX_URL``...)."""
    data_dir = work / "data"
    # In a thread of its own: Playwright's sync API keeps an event loop in this one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: asyncio.run(_prepare(data_dir))).result()
    (port,) = free_ports(1)
    with (work / "api.log").open("w") as log:  # the child keeps its own copy of the fd
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "api", "--port", str(port), "--data-dir", str(data_dir)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            env=os.environ | {"ESTATEWATCH_API_MQTT_PORT": "1"} | (env or {}),
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base, process, log=work / "api.log")
    except BaseException:
        process.kill()
        raise
    logins = {role: Login(name, password_for(role)) for role, (name, _f) in PEOPLE.items()}
    return WebServer(base, data_dir, process, logins)


def stop_web(server: WebServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture(scope="session")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    server = start_web(tmp_path_factory.mktemp("web"))
    yield server
    stop_web(server)


@pytest.fixture
def fresh_web(tmp_path: Path) -> Iterator[WebServer]:
    server = start_web(tmp_path)
    yield server
    stop_web(server)


# Module scope, not session: while Playwright's sync API runs it keeps an event loop
# running in this thread, and every asyncio test collected after the browser tests
# (tests/e2e, integration, unit) would fail with "cannot be called from a running event
# loop". Leaving the context at the end of each module gives the thread back.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class NewPage(Protocol):
    def __call__(self, *, locale: str = "zh-CN", phone: bool = False) -> Page: ...


@pytest.fixture
def new_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[NewPage]:
    opened: list[Page] = []

    def make(*, locale: str = "zh-CN", phone: bool = False) -> Page:
        context = browser.new_context(
            locale=locale, timezone_id="Asia/Shanghai", **(PHONE if phone else DESKTOP)
        )
        page = context.new_page()
        page.set_default_timeout(10_000)
        opened.append(page)
        return page

    yield make
    if request.node.stash.get(_FAILED, False):
        failures = SCREENSHOTS / "failures"
        failures.mkdir(parents=True, exist_ok=True)
        for number, page in enumerate(opened):
            name = f"{request.node.name}-{number}.png".replace("/", "_")
            page.screenshot(path=failures / name, full_page=True)
    for page in opened:
        page.context.close()


@pytest.fixture
def phone(new_page: NewPage) -> Page:
    return new_page(phone=True)


@pytest.fixture
def desktop(new_page: NewPage) -> Page:
    return new_page()


def login_page(page: Page, server: WebServer, role: Role) -> None:
    """Log ``page`` in as the ``role`` user through the login form."""
    who = server.logins[role]
    page.goto(server.url("/login"))
    page.fill("input[name=username]", who.username)
    page.fill("input[name=password]", who.password)
    page.click("form[action='/login'] button")
    page.wait_for_url(lambda url: "/login" not in url)


@pytest.fixture
def login(web: WebServer) -> Callable[..., None]:
    def log_in(page: Page, role: Role, server: WebServer | None = None) -> None:
        login_page(page, server or web, role)

    return log_in


@pytest.fixture
def shoot() -> Callable[[Page, str], Path]:
    def save(page: Page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=path, full_page=True)
        return path

    return save
