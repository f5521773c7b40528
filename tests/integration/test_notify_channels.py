"""Each notification channel against a real server on loopback (aiosmtpd, and an HTTP
server checking each robot's signature as its vendor documents it); the settings file."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from notify_servers import (
    DINGTALK_SECRET,
    DINGTALK_TOKEN,
    FEISHU_HOOK,
    FEISHU_SECRET,
    MAIL_PASSWORD,
    MAIL_USER,
    WEBHOOK_SECRET,
    WECOM_KEY,
    MailServer,
    RobotServer,
    mail_server,
    robot_server,
)
from pydantic import ValidationError

from estatewatch.errors import ConfigError
from estatewatch.ports import free_ports
from maintenance.channels import ChannelError, NotifySettings, Outgoing, SiteChannels, open_channels
from maintenance.channels.email import message_id
from maintenance.settings import MaintenanceSettings

pytestmark = pytest.mark.integration

MESSAGE = Outgoing(
    id="n-42",
    to="wang@estate.test",
    subject="[P1] 电梯困人：3号楼1单元",  # noqa: RUF001
    text="3号楼1单元电梯困人，请10分钟内响应。\nhttps://estate.test/orders/WO-1",  # noqa: RUF001
    language="zh-CN",
)


def clock() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "T_MAIL_PASSWORD": MAIL_PASSWORD,
        "T_WECOM_KEY": WECOM_KEY,
        "T_DING_TOKEN": DINGTALK_TOKEN,
        "T_DING_SECRET": DINGTALK_SECRET,
        "T_FEISHU_HOOK": FEISHU_HOOK,
        "T_FEISHU_SECRET": FEISHU_SECRET,
        "T_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }.items():
        monkeypatch.setenv(name, value)


def settings_file(tmp_path: Path, mail: MailServer, robots: RobotServer, **smtp: object) -> Path:
    base = f"http://127.0.0.1:{robots.port}"
    email = {
        "port": mail.port,
        "username": MAIL_USER,
        "password_env": "T_MAIL_PASSWORD",
        **smtp,
    }
    lines = [
        "sites:",
        "  demo:",
        "    email:",
        "      host: 127.0.0.1",
        "      sender: 物业报修 <notify@estate.test>",
        f"      ca_file: {mail.ca_file}",
        *(f"      {key}: {value}" for key, value in email.items()),
        "    robots:",
        "      - {name: duty, kind: wecom,"
        f" url: '{base}/cgi-bin/webhook/send?key=${{T_WECOM_KEY}}'}}",
        "      - {name: duty-ding, kind: dingtalk, secret_env: T_DING_SECRET,"
        f" url: '{base}/robot/send?access_token=${{T_DING_TOKEN}}'}}",
        "      - {name: managers, kind: feishu, secret_env: T_FEISHU_SECRET, language: en,"
        f" url: '{base}/open-apis/bot/v2/hook/${{T_FEISHU_HOOK}}'}}",
        "      - {name: hq, kind: webhook, secret_env: T_WEBHOOK_SECRET,"
        f" url: '{base}/hooks/estatewatch'}}",
        "    people:",
        "      wang.tech: wang@estate.test",
    ]
    path = tmp_path / "notify.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
async def mail(tmp_path: Path) -> AsyncIterator[MailServer]:
    async with mail_server(tmp_path) as server:
        yield server


@pytest.fixture
async def robots() -> AsyncIterator[RobotServer]:
    async with robot_server() as server:
        yield server


@pytest.fixture
async def demo(
    tmp_path: Path, secrets: None, mail: MailServer, robots: RobotServer
) -> AsyncIterator[SiteChannels]:
    settings = NotifySettings.load(settings_file(tmp_path, mail, robots))
    async with open_channels(settings, clock) as sites:
        yield sites["demo"]


async def test_mail_goes_over_starttls_with_login(demo: SiteChannels, mail: MailServer) -> None:
    assert demo.email is not None
    await demo.email.send(MESSAGE)

    [received] = mail.messages
    assert mail.recipients == [["wang@estate.test"]]
    assert received["Subject"] == MESSAGE.subject
    assert received["From"] == "物业报修 <notify@estate.test>"
    assert received["To"] == "wang@estate.test"
    assert received["Message-ID"] == message_id("n-42")
    assert received["Content-Language"] == "zh-CN"
    body = received.get_body()
    assert body is not None
    assert body.get_content().splitlines() == MESSAGE.text.splitlines()


async def test_a_refused_recipient_is_not_retried(demo: SiteChannels, mail: MailServer) -> None:
    assert demo.email is not None
    mail.refuse.add("gone@estate.test")
    with pytest.raises(ChannelError) as caught:
        await demo.email.send(Outgoing("n-1", "gone@estate.test", "s", "t", "en"))
    assert not caught.value.retryable
    assert "gone@estate.test" in str(caught.value)
    assert not mail.messages


async def test_a_wrong_password_is_refused_and_not_retried(
    tmp_path: Path,
    secrets: None,
    mail: MailServer,
    robots: RobotServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("T_MAIL_PASSWORD", "not-the-password")
    settings = NotifySettings.load(settings_file(tmp_path, mail, robots))
    async with open_channels(settings, clock) as sites:
        email = sites["demo"].email
        assert email is not None
        with pytest.raises(ChannelError) as caught:
            await email.send(MESSAGE)
    assert not caught.value.retryable
    assert "535" in caught.value.reason
    assert not mail.messages


async def test_a_mail_server_that_is_down_is_retryable(
    tmp_path: Path, secrets: None, mail: MailServer, robots: RobotServer
) -> None:
    path = settings_file(tmp_path, mail, robots, port=free_ports(1)[0])
    async with open_channels(NotifySettings.load(path), clock) as sites:
        email = sites["demo"].email
        assert email is not None
        with pytest.raises(ChannelError) as caught:
            await email.send(MESSAGE)
    assert caught.value.retryable


async def test_every_robot_mentions_a_person_the_way_its_vendor_reads_it(
    demo: SiteChannels, robots: RobotServer
) -> None:
    for robot, _ in demo.robots:
        await robot.send(dataclasses.replace(MESSAGE, mention="wang.tech"))

    assert all(post.accepted for post in robots.posts)  # still signed as the vendor checks
    wecom, dingtalk, feishu, webhook = (post.document for post in robots.posts)
    text = f"{MESSAGE.subject}\n{MESSAGE.text}"
    assert wecom["text"] == {"content": text, "mentioned_list": ["wang.tech"]}
    assert dingtalk["text"] == {"content": f"{text}\n@wang.tech"}
    assert dingtalk["at"] == {"atUserIds": ["wang.tech"]}
    assert feishu["content"] == {"text": f'<at user_id="wang.tech"></at> {text}'}
    assert webhook["data"]["mention"] == "wang.tech"
    assert demo.mentions is demo.robots[0][0]  # the site's first chat robot, never a webhook


async def test_every_robot_posts_signed_as_its_vendor_checks(
    demo: SiteChannels, robots: RobotServer
) -> None:
    for robot, _ in demo.robots:
        await robot.send(MESSAGE)

    assert [post.path for post in robots.posts] == [
        "/cgi-bin/webhook/send",
        "/robot/send",
        f"/open-apis/bot/v2/hook/{FEISHU_HOOK}",
        "/hooks/estatewatch",
    ]
    assert all(post.accepted for post in robots.posts)
    wecom, dingtalk, feishu, webhook = (post.document for post in robots.posts)
    text = f"{MESSAGE.subject}\n{MESSAGE.text}"
    assert wecom == {"msgtype": "text", "text": {"content": text}}
    assert dingtalk == wecom
    assert feishu["content"] == {"text": text}
    assert feishu["msg_type"] == "text"
    assert webhook["id"] == "n-42"
    assert webhook["type"] == "notification"
    assert webhook["data"] == {
        "subject": MESSAGE.subject,
        "text": MESSAGE.text,
        "language": "zh-CN",
    }
    assert [language for _, language in demo.robots] == ["zh-CN", "zh-CN", "en", "zh-CN"]


@pytest.mark.parametrize("kind", ["dingtalk", "feishu", "webhook"])
async def test_a_wrong_signing_secret_is_refused_not_retried(
    tmp_path: Path,
    secrets: None,
    mail: MailServer,
    robots: RobotServer,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    variable = {"dingtalk": "T_DING_SECRET", "feishu": "T_FEISHU_SECRET"}.get(
        kind, "T_WEBHOOK_SECRET"
    )
    monkeypatch.setenv(variable, "a-wrong-secret")
    settings = NotifySettings.load(settings_file(tmp_path, mail, robots))
    async with open_channels(settings, clock) as sites:
        [robot] = [robot for robot, _ in sites["demo"].robots if robot.name.startswith(kind)]
        with pytest.raises(ChannelError) as caught:
            await robot.send(MESSAGE)
    assert not caught.value.retryable
    assert [post.accepted for post in robots.posts] == [False]


async def test_rate_limits_and_server_errors_are_retryable_refusals_are_not(
    demo: SiteChannels, robots: RobotServer
) -> None:
    wecom, dingtalk = demo.robots[0][0], demo.robots[1][0]
    robots.script["/cgi-bin/webhook/send"] = [
        {"errcode": 45009, "errmsg": "api freq out of limit"},
        503,
        {"errcode": 93000, "errmsg": "invalid webhook url"},
    ]
    robots.script["/robot/send"] = [{"errcode": 130101, "errmsg": "send too fast"}]
    outcomes = []
    for robot in (wecom, wecom, wecom, dingtalk):
        with pytest.raises(ChannelError) as caught:
            await robot.send(MESSAGE)
        outcomes.append(caught.value.retryable)
    assert outcomes == [True, True, False, True]
    await dingtalk.send(MESSAGE)  # the script has run out: delivered


async def test_a_robot_that_is_down_is_retryable(
    tmp_path: Path, secrets: None, mail: MailServer, robots: RobotServer
) -> None:
    settings = NotifySettings.load(settings_file(tmp_path, mail, robots))
    robots_port = robots.port
    robots.port = free_ports(1)[0]  # nobody listens there
    settings = NotifySettings.load(settings_file(tmp_path, mail, robots))
    async with open_channels(settings, clock) as sites:
        with pytest.raises(ChannelError) as caught:
            await sites["demo"].robots[0][0].send(MESSAGE)
    assert caught.value.retryable
    assert str(robots_port) not in caught.value.reason


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "notify.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_missing_environment_variable_names_file_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sites:\n  demo:\n    robots:\n      - name: duty\n        kind: dingtalk\n"
        "        url: https://oapi.dingtalk.com/robot/send?access_token=${T_UNSET_TOKEN}\n",
    )
    with pytest.raises(ConfigError) as caught:
        NotifySettings.load(path)
    message = str(caught.value)
    assert str(path) in message
    assert "sites.demo.robots[0] (duty).url" in message
    assert "T_UNSET_TOKEN is not set" in message


def test_a_token_written_in_the_file_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sites:\n  demo:\n    robots:\n      - name: duty\n        kind: wecom\n"
        "        url: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc\n",
    )
    with pytest.raises(ConfigError, match=r"robots\[0\] \(duty\): .*url: .*\$\{VARIABLE\}"):
        NotifySettings.load(path)


def test_a_password_in_the_file_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sites:\n  demo:\n    email:\n      host: smtp.example.com\n"
        "      sender: a@example.com\n      username: a@example.com\n      password: hunter2\n",
    )
    with pytest.raises(ConfigError, match=r"sites\.demo\.email\.password: Extra inputs"):
        NotifySettings.load(path)


def test_a_missing_password_variable_names_the_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sites:\n  demo:\n    email:\n      host: smtp.example.com\n"
        "      sender: a@example.com\n      username: a@example.com\n"
        "      password_env: T_UNSET_PASSWORD\n",
    )
    with pytest.raises(
        ConfigError, match=r"sites\.demo\.email: .*password_env: .*T_UNSET_PASSWORD"
    ):
        NotifySettings.load(path)


def test_a_bad_on_call_line_names_the_field(tmp_path: Path) -> None:
    path = write(tmp_path, "sites:\n  demo:\n    on_call:\n      - {user: li, hours: '8-20'}\n")
    with pytest.raises(ConfigError, match=r"sites\.demo\.on_call\[0\]\.hours: .*HH:MM-HH:MM"):
        NotifySettings.load(path)


def test_notifications_need_the_web_apps_address(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="public_base_url"):
        MaintenanceSettings(notify_path=tmp_path / "notify.yaml")
