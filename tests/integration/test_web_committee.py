"""The committee's pages over HTTP in-process: approvals, a proposal's vote, the monthly
report, and the same role rules as the JSON API (the browser test drives them too)."""

from __future__ import annotations

import re
import zlib
from decimal import Decimal
from pathlib import Path

import pytest
from api_support import SettableClock, csrf_of, running_api, web_login
from board_support import MANAGER, NOW, seed_approvals, seed_board
from photo_samples import encoded, picture

from maintenance.db.read.assets import find_asset
from maintenance.db.read.committee import list_proposals
from maintenance.db.read.evidence import elevator_evidence
from maintenance.db.read.work_orders import awaiting_approval
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.errors import PhotoRejected
from maintenance.images import prepare
from maintenance.services.committee import create_proposal

# Every API here runs on SQLite and on PostgreSQL (api_db in tests/conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("api_db")]

HTML = {"Accept": "text/html", "Accept-Language": "en"}
ZH = {"Accept": "text/html", "Accept-Language": "zh-CN"}


async def test_the_committee_approves_one_order_and_rejects_another_with_a_reason(
    tmp_path: Path,
) -> None:
    async with running_api(tmp_path, SettableClock(NOW)) as api:
        await seed_board(api.services.sessions)
        await seed_approvals(api.services.sessions, "WO-2026-000101", "WO-2026-000102")
        await web_login(api, "li", "committee", sites=["demo"])
        desk = await api.client.get("/committee", headers=HTML)
        assert desk.status_code == 200
        assert "Spending waiting for approval" in desk.text
        assert desk.text.count('data-order="WO-2026-') == 2
        token = csrf_of(desk.text)

        approved = await api.client.post(
            "/committee/orders/WO-2026-000101/approve",
            data={"csrf_token": token, "note": "within the sheave budget"},
            headers=HTML,
        )
        assert approved.status_code == 303
        assert approved.headers["location"] == "/committee?done=approved#approvals"

        no_reason = await api.client.post(
            "/committee/orders/WO-2026-000102/reject",
            data={"csrf_token": token, "reason": "  "},
            headers=HTML,
        )
        assert no_reason.status_code == 422
        assert "Give a reason for rejecting WO-2026-000102." in no_reason.text

        rejected = await api.client.post(
            "/committee/orders/WO-2026-000102/reject",
            data={"csrf_token": token, "reason": "get a second quote"},
            headers=HTML,
        )
        assert rejected.status_code == 303
        after = await api.client.get("/committee?done=rejected", headers=HTML)
        assert "Spending rejected" in after.text
        assert "Nothing is waiting for approval." in after.text
        async with api.services.readers() as reader:
            assert await awaiting_approval(reader) == []


async def test_a_form_without_its_token_changes_nothing(tmp_path: Path) -> None:
    async with running_api(tmp_path, SettableClock(NOW)) as api:
        await seed_board(api.services.sessions)
        await seed_approvals(api.services.sessions, "WO-2026-000101")
        await web_login(api, "li", "committee", sites=["demo"])
        refused = await api.client.post("/committee/orders/WO-2026-000101/approve", headers=HTML)
        assert refused.status_code == 403
        async with api.services.readers() as reader:
            assert [o.id for o in await awaiting_approval(reader)] == ["WO-2026-000101"]


async def test_a_supervisor_reads_proposals_but_sees_no_approvals_and_may_not_approve(
    tmp_path: Path,
) -> None:
    async with running_api(tmp_path, SettableClock(NOW)) as api:
        await seed_board(api.services.sessions)
        await seed_approvals(api.services.sessions, "WO-2026-000101")
        await web_login(api, "zhou", "supervisor", sites=["demo"])
        desk = await api.client.get("/committee", headers=HTML)
        assert desk.status_code == 200
        assert "Renew elev-06" in desk.text
        assert "WO-2026-000101" not in desk.text
        approve = await api.client.post(
            "/committee/orders/WO-2026-000101/approve",
            data={"csrf_token": csrf_of(desk.text)},
            headers=HTML,
        )
        assert approve.status_code == 403
        report = await api.client.get("/committee/report?month=2026-11", headers=HTML)
        assert report.status_code == 200


async def test_the_committee_opens_the_owners_vote_and_records_a_passing_tally(
    tmp_path: Path,
) -> None:
    async with running_api(tmp_path, SettableClock(NOW)) as api:
        await seed_board(api.services.sessions)
        async with api.services.readers() as reader:
            (still_open,) = await list_proposals(reader, "open")
        await web_login(api, "li", "committee", sites=["demo"])
        path = f"/committee/proposals/{still_open.id}"
        page = await api.client.get(path, headers=HTML)
        assert "Open the owners' vote" in page.text
        token = csrf_of(page.text)

        bad = await api.client.post(
            f"{path}/vote", data={"csrf_token": token, "owners_total": "0"}, headers=HTML
        )
        assert bad.status_code == 422
        assert "Not recorded" in bad.text

        opened = await api.client.post(
            f"{path}/vote",
            data={"csrf_token": token, "owners_total": "300", "area_total_m2": "30000"},
            headers=HTML,
        )
        assert opened.status_code == 303
        tally = {
            "csrf_token": token,
            "for_owners": "150",
            "for_area_m2": "14000",
            "against_owners": "40",
            "against_area_m2": "4500",
            "abstain_owners": "10",
            "abstain_area_m2": "1500",
        }
        recorded = await api.client.post(f"{path}/tally", data=tally, headers=HTML)
        assert recorded.status_code == 303
        result = await api.client.get(recorded.headers["location"], headers=HTML)
    assert "Tally recorded" in result.text
    assert 'class="badge ok">Passed' in result.text
    shares = re.findall(r"<td>(\d+/\d+)</td>", result.text)
    assert shares == ["2/3", "2/3", "7/10", "3/4"]  # area and heads, taking part then agreeing


async def test_the_monthly_report_page_shows_the_months_figures(tmp_path: Path) -> None:
    async with running_api(tmp_path, SettableClock(NOW)) as api:
        await seed_board(api.services.sessions)
        await web_login(api, "li", "committee", sites=["demo"])
        page = await api.client.get("/committee/report?month=2026-11", headers=HTML)
        default = await api.client.get("/committee/report", headers=HTML)
    assert page.status_code == 200
    assert "Monthly report 2026-11" in page.text
    # November in UTC: WO-1 (created 11-30 17:00 UTC) counts here, and both sites' orders.
    assert "Renew elev-06" in page.text
    # Closed in November (UTC), both compounds: WO-2 800 + WO-X 9,999 + WO-1 500.
    assert "¥11,299.00" in page.text
    assert "Monthly report 2026-11" in default.text  # the last whole month before 12-10


async def test_an_emergency_is_decided_by_more_than_half_of_all_members(tmp_path: Path) -> None:
    async with running_api(tmp_path, SettableClock(NOW)) as api:
        await seed_board(api.services.sessions)
        proposal = await create_proposal(
            SqlUnitOfWork(api.services.sessions),
            MANAGER,
            api.services.clock,
            title="Free the trapped car elev-03",
            amount=Decimal(9000),
            emergency=True,
            justification="passengers trapped twice this week",
        )
        await web_login(api, "li", "committee", sites=["demo"])
        path = f"/committee/proposals/{proposal.id}"
        page = await api.client.get(path, headers=HTML)
        decision = {"csrf_token": csrf_of(page.text), "members_total": "7", "for_members": "4"}
        too_many = await api.client.post(
            f"{path}/emergency", data=decision | {"against_members": "4"}, headers=HTML
        )
        assert too_many.status_code == 422  # 8 votes from a committee of 7
        decided = await api.client.post(f"{path}/emergency", data=decision, headers=HTML)
        assert decided.status_code == 303
        result = await api.client.get(decided.headers["location"], headers=HTML)
    assert "Emergency decision recorded." in result.text
    assert "Committee members agreeing: 4/7" in result.text
    assert 'class="badge ok">Passed' in result.text


async def test_evidence_findings_read_in_the_readers_language(tmp_path: Path) -> None:
    """Findings are translated by code; evidence frozen before findings had codes shows
    its English reasons, marked as English."""
    async with running_api(tmp_path, SettableClock(NOW)) as api:
        await seed_board(api.services.sessions)
        async with SqlUnitOfWork(api.services.sessions) as uow:
            elev06 = await find_asset(uow.session, "elev-06", site="demo")
            evidence = await elevator_evidence(uow.session, elev06, NOW)
        assert [f.code for f in evidence.findings] == ["inspection_overdue"]
        ids = []
        for title, frozen in (
            ("Renew", evidence),
            ("Old", evidence.model_copy(update={"findings": ()})),
        ):
            proposal = await create_proposal(
                SqlUnitOfWork(api.services.sessions),
                MANAGER,
                api.services.clock,
                title=f"{title} elev-06",
                amount=Decimal(480000),
                asset_id=elev06.row_id,
                evidence=frozen,
            )
            ids.append(proposal.id)
        await web_login(api, "li", "committee", sites=["demo"])
        chinese = await api.client.get(f"/committee/proposals/{ids[0]}", headers=ZH)
        english = await api.client.get(f"/committee/proposals/{ids[0]}", headers=HTML)
        old = await api.client.get(f"/committee/proposals/{ids[1]}", headers=ZH)
    overdue = r'data-finding="inspection_overdue">([^<]+)<'
    # Chinese punctuation, as a property office writes it.
    assert re.findall(overdue, chinese.text) == ["定期检验已逾期（上次检验：2025-10-28）"]  # noqa: RUF001
    assert re.findall(overdue, english.text) == [
        "statutory inspection overdue (last on 2025-10-28)"
    ]
    assert "data-finding" not in old.text
    assert '<dd class="hint" lang="en">statutory inspection overdue' in old.text
    assert 'href="/assets/demo/elev-06"' in chinese.text  # the car's own page


NOT_AN_ASSET = "设备台账中没有该设备"


async def test_a_forged_proposal_form_is_refused_field_by_field_and_creates_nothing(
    tmp_path: Path,
) -> None:
    async with running_api(tmp_path, SettableClock(NOW)) as api:
        await seed_board(api.services.sessions)
        async with api.services.readers() as reader:
            before = len(await list_proposals(reader))
        await web_login(api, "li", "committee", sites=["demo"])
        form = await api.client.get("/committee/proposals/new", headers=ZH)
        assert form.status_code == 200
        for fields, field, message in (
            ({"title": "x" * 301, "amount": "1"}, "title", "最多 300 个字。"),
            ({"title": "t", "amount": "1.005"}, "amount", "金额最多保留两位小数（到分）。"),  # noqa: RUF001
            ({"title": "t", "amount": "1e30"}, "amount", "金额过大。"),
            ({"title": "t", "amount": "1", "asset": "demo/../../etc"}, "asset", NOT_AN_ASSET),
            ({"title": "t", "amount": "1", "asset": "x" * 200}, "asset", NOT_AN_ASSET),
        ):
            refused = await api.client.post(
                "/committee/proposals",
                data={"csrf_token": csrf_of(form.text), **fields},
                headers=ZH,
            )
            assert refused.status_code == 422, (fields, refused.text[:300])
            assert f'id="{field}-error">{message}' in refused.text, fields
        async with api.services.readers() as reader:
            assert len(await list_proposals(reader)) == before


def _embedded_fonts(pdf: bytes) -> set[str]:
    """The names of the fonts a PDF embeds (WeasyPrint compresses its objects)."""
    names: set[str] = set()
    for stream in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            data = zlib.decompress(stream.group(1))
        except zlib.error:
            continue
        names |= {n.decode() for n in re.findall(rb"/FontName\s*/([^\s/<>\[\]]+)", data)}
    return names


async def test_the_monthly_report_is_also_a_pdf_set_in_chinese(tmp_path: Path) -> None:
    async with running_api(tmp_path, SettableClock(NOW)) as api:
        await seed_board(api.services.sessions)
        await web_login(api, "li", "committee", sites=["demo"])
        page = await api.client.get("/committee/report?month=2026-11", headers=ZH)
        assert 'href="/committee/report.pdf?month=2026-11"' in page.text
        pdf = await api.client.get("/committee/report.pdf?month=2026-11", headers=ZH)
        bad_month = await api.client.get("/committee/report.pdf?month=11/2026", headers=ZH)
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert 'filename="estatewatch-report-2026-11.pdf"' in pdf.headers["content-disposition"]
    assert pdf.content.startswith(b"%PDF-")
    # The Chinese text is set in the CJK font (not boxes from a Latin one).
    assert any("Noto-Sans-CJK-SC" in name for name in _embedded_fonts(pdf.content))
    assert bad_month.status_code == 422
    # Making it left the same process's photo checks as strict as before (importing
    # WeasyPrint turns on Pillow's process-wide LOAD_TRUNCATED_IMAGES).
    whole = encoded(picture((400, 300)), "JPEG")
    with pytest.raises(PhotoRejected, match="damaged"):
        prepare(whole[: len(whole) // 3])
