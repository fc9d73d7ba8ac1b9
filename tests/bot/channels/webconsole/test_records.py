"""Offline records, the dispute register and the year report through the console's HTTP pages:
CSRF on every form, advisors refused another village's work, numbers as the services count."""

from __future__ import annotations

import html
import io
import re

import httpx
from openpyxl import load_workbook
from sqlmodel import select

from bot.services.consultation import ConsultationService
from bot.services.year_report import build_year_report
from storage.models import Escalation
from storage.record_models import DisputeCase, OfflineRecord
from tests.bot.channels.webconsole.conftest import Console, csrf_of, sign_in
from tests.storage.test_queries import build_fixture


async def _post(client: httpx.AsyncClient, page: str, action: str, **data: str) -> httpx.Response:
    form = await client.get(page)
    assert form.status_code == 200, form.text
    return await client.post(action, data={"csrf": csrf_of(form.text), **data})


def _escalation_of(service: ConsultationService, village: str) -> int:
    with service.db.session() as session:
        row = session.exec(select(Escalation).where(Escalation.village_code == village)).first()
    assert row is not None
    assert row.id is not None
    return row.id


async def test_staff_record_a_hotline_call_and_find_it_masked_in_the_list(
    client: httpx.AsyncClient, service: ConsultationService
) -> None:
    await sign_in(client, "chen")
    saved = await _post(
        client, "/console/records", "/console/records", kind="hotline", day="2026-11-19",
        village="shaofan", summary="来电 13812345678 问欠薪", people="1",
    )  # fmt: skip
    assert saved.status_code == 303
    page = await client.get("/console/records?kind=hotline")
    assert "已记录 #" in page.text
    assert "[电话]" in page.text
    assert "13812345678" not in page.text
    assert re.search(r'<b id="total">1</b>', page.text)
    with service.db.session() as session:
        assert session.exec(select(OfflineRecord)).one().recorded_by == "chen"


async def test_a_record_form_without_its_csrf_token_is_refused(
    client: httpx.AsyncClient, service: ConsultationService
) -> None:
    await sign_in(client, "chen")
    forged = await client.post(
        "/console/records", data={"kind": "hotline", "summary": "x", "csrf": "guess"}
    )
    assert forged.status_code == 403
    missing = await client.post("/console/disputes", data={"kind": "land"})
    assert missing.status_code == 403
    with service.db.session() as session:
        assert session.exec(select(OfflineRecord)).all() == []
        assert session.exec(select(DisputeCase)).all() == []


async def test_an_invalid_record_comes_back_with_the_reason(client: httpx.AsyncClient) -> None:
    await sign_in(client, "chen")
    response = await _post(
        client, "/console/records", "/console/records", kind="publicity_event", place="",
        event_kind="集中宣传",
    )  # fmt: skip
    assert response.status_code == 303
    page = await client.get("/console/records")
    assert "请填写普法活动的地点" in page.text


async def test_an_advisor_is_refused_another_villages_records_cases_and_the_year_report(
    console: Console, client: httpx.AsyncClient, service: ConsultationService
) -> None:
    build_fixture(service.db)
    shaofan = _escalation_of(service, "shaofan")
    await sign_in(client, "zhang")  # the advisor of 外洪村
    refused = await _post(
        client, "/console/records", "/console/records", kind="walk_in", village="shaofan",
        summary="问离婚",
    )  # fmt: skip
    assert refused.status_code == 403
    assert (await client.get(f"/console/disputes/new?escalation={shaofan}")).status_code == 403
    opened = await _post(
        client, "/console/disputes/new", "/console/disputes", kind="land", village="shaofan",
        parties="甲 乙", summary="占地",
    )  # fmt: skip
    assert opened.status_code == 403
    assert (await client.get("/console/records?village=shaofan")).status_code == 403
    assert (await client.get("/console/year")).status_code == 403
    assert (await client.get("/console/year.xlsx")).status_code == 403
    case = console.services.consultation.db
    with case.session() as session:
        other = DisputeCase(
            kind="land", village_code="shaofan", opened_on=service.clock().date(),
            opened_by="chen", parties="甲", summary="乙",
        )  # fmt: skip
        session.add(other)
        session.flush()
        other_id = other.id
    assert (await client.get(f"/console/disputes/{other_id}")).status_code == 403
    step = await _post(client, "/console/disputes", f"/console/disputes/{other_id}/step", note="x")
    assert step.status_code == 403
    listing = await client.get("/console/disputes")
    assert f'id="dispute-{other_id}"' not in listing.text
    accepted = await _post(
        client, "/console/records", "/console/records", kind="walk_in", village="waihong",
        summary="问土地承包",
    )  # fmt: skip
    assert accepted.status_code == 303


async def test_a_case_opened_from_an_escalation_is_worked_and_closed_through_the_pages(
    client: httpx.AsyncClient, service: ConsultationService
) -> None:
    build_fixture(service.db)
    escalation_id = _escalation_of(service, "waihong")
    await sign_in(client, "zhang")
    inbox = await client.get("/console/escalations")
    assert f"/console/disputes/new?escalation={escalation_id}" in inbox.text
    form = await client.get(f"/console/disputes/new?escalation={escalation_id}")
    assert "修路占地能赔多少钱" in form.text, "the villager's question is pre-filled"
    opened = await client.post(
        "/console/disputes",
        data={
            "csrf": csrf_of(form.text), "kind": "land", "village": "waihong",
            "parties": "村民A 与 施工方（电话13812345678）", "summary": "修路占地赔偿",
            "mediator": "张律师", "opened_on": "2026-11-18",
            "escalation_id": str(escalation_id),
        },
    )  # fmt: skip
    assert opened.status_code == 303
    here = opened.headers["location"]
    step = await _post(client, here, f"{here}/step", day="2026-11-19", note="约双方到村委会调解")
    assert step.status_code == 303
    closed = await _post(
        client, here, f"{here}/close", day="2026-11-20", outcome="success",
        satisfaction="satisfied",
    )  # fmt: skip
    assert closed.status_code == 303
    page = await client.get(here)
    assert "约双方到村委会调解" in page.text
    assert "调解成功" in page.text
    assert "满意" in page.text
    assert "13812345678" not in page.text
    assert 'id="step-form"' not in page.text, "a closed case takes no more steps"
    register = await client.get("/console/disputes")
    assert '<b id="mediation-rate">100.0%</b>' in register.text
    assert '<b id="dispute-satisfaction">100.0%</b>' in register.text


async def test_the_dashboard_shows_open_cases_for_staff(
    client: httpx.AsyncClient, service: ConsultationService
) -> None:
    await sign_in(client, "chen")
    await _post(
        client, "/console/disputes/new", "/console/disputes", kind="family", village="",
        parties="夫妻双方", summary="赡养老人",
    )  # fmt: skip
    dashboard = await client.get("/console/")
    assert re.search(r'id="disputes-open-now"><a [^>]*>1</a>', dashboard.text)


async def test_the_year_page_and_workbook_show_the_year_reports_numbers(
    client: httpx.AsyncClient, service: ConsultationService
) -> None:
    build_fixture(service.db)
    await sign_in(client, "chen")
    await _post(
        client, "/console/records", "/console/records", kind="walk_in", day="2026-05-04",
        summary="来访问借款", people="2",
    )  # fmt: skip
    page = await client.get("/console/year?year=2026")
    assert page.status_code == 200
    expected = build_year_report(service.db, service.config, 2026, now=service.clock())
    shown = dict(re.findall(r'<th scope="row">([^<]+)</th><td>([^<]*)</td>', page.text))
    for section in expected.sections():
        for label, value in section.rows:
            assert html.unescape(shown[html.escape(label)]) == str(value), label
    assert shown["来访咨询（人次）"] == "2"
    download = await client.get("/console/year.xlsx?year=2026")
    assert download.status_code == 200
    assert "year-report-2026.xlsx" in download.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(download.content))["年度报表"]
    cells = {r[0]: r[1] for r in sheet.iter_rows(values_only=True) if r and r[0]}
    assert cells["接受群众法律咨询（人次）"] == expected.data["consultations"]["total"]
