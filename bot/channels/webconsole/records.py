"""Console pages for offline work, the dispute register and the year report.

    GET  /records                       offline records (filters) and the form to record one
    POST /records                       record a hotline call, walk-in, legal opinion or event
    GET  /disputes                      the dispute register: open cases first, 调结率 and 满意率
    GET  /disputes/new?escalation=ID    the form to open a case (from an escalation or ?record=ID)
    POST /disputes                      open a case
    GET  /disputes/{id}                 one case: its steps, the step and the closing forms
    POST /disputes/{id}/step|close      add a dated step; close with outcome and satisfaction
    GET  /year?year=YYYY, /year.xlsx    the year report (staff and admins)

Advisors see and change only their villages (the services refuse the rest: a 403 page here).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.services import disputes as ds
from bot.services import records as rs
from bot.services import report as rp
from bot.services.accounts import Identity
from bot.services.container import Services
from bot.services.year_report import YearReport, build_year_report

__all__ = ["record_routes"]

Handler = Callable[[Request], Awaitable[Response]]
PAGE_SIZE = 50
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class Console(Protocol):
    """What these pages use of the console (`app._Console`)."""

    services: Services

    def url(self, path: str = "") -> str: ...

    def page(
        self, request: Request, name: str, who: Identity | None, **context: Any
    ) -> Response: ...

    async def who(self, request: Request, *, admin: bool = False) -> Identity: ...

    async def form(self, request: Request) -> dict[str, str]: ...

    def flash(self, request: Request, message: str) -> None: ...


def _day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise rs.RecordError(f"日期格式应为 年-月-日（YYYY-MM-DD）：{value}") from None


def _number(value: str | None, default: int = 0) -> int:
    value = (value or "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise rs.RecordError(f"应填写数字：{value}") from None


def _id(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


class _Pages:
    """The handlers, over the console's helpers and freshly built use cases."""

    def __init__(self, console: Console) -> None:
        self.console = console

    # --- use cases (built per call: tests swap the clock and config on the services) ------

    def records(self) -> rs.RecordService:
        s = self.console.services
        return rs.RecordService(s.config, s.consultation.db, s.consultation.clock)

    def disputes(self) -> ds.DisputeService:
        s = self.console.services
        return ds.DisputeService(s.config, s.consultation.db, s.consultation.clock)

    def forbidden(self, request: Request) -> Response:
        response = self.console.page(request, "forbidden.html", None)
        response.status_code = 403
        return response

    def back(self, request: Request, path: str, message: str) -> Response:
        self.console.flash(request, message[:300])
        return RedirectResponse(self.console.url(path), status_code=303)

    def villages(self, who: Identity) -> list[Any]:
        return [v for v in self.console.services.config.villages if who.sees(v.code)]

    # --- offline records --------------------------------------------------------------------

    async def records_page(self, request: Request) -> Response:
        """GET /records: the filtered offline records and the form to add one."""
        who = await self.console.who(request)
        params = request.query_params
        chosen = {k: params.get(k, "") for k in ("kind", "village", "from", "to")}
        raw_page = params.get("page", "")
        page_no = max(1, int(raw_page)) if raw_page.isdigit() else 1
        service = self.records()
        try:
            first, last = _day(chosen["from"]), _day(chosen["to"])
            page = await run_in_threadpool(
                lambda: service.page(
                    who, kind=chosen["kind"] or None, village=chosen["village"] or None,
                    first=first, last=last, offset=(page_no - 1) * PAGE_SIZE, limit=PAGE_SIZE,
                )
            )  # fmt: skip
        except rs.RecordForbidden:
            return self.forbidden(request)
        except rs.RecordError as exc:
            return self.back(request, "/records", str(exc))
        pages = max(1, -(-page.total // PAGE_SIZE))
        query = "&".join(f"{k}={v}" for k, v in chosen.items() if v)
        return self.console.page(
            request, "records.html", who, page=page, page_no=page_no, pages=pages,
            chosen=chosen, query=query, kinds=rs.KIND_LABELS, villages=self.villages(who),
            opinions=rs.OPINION_LABELS, events=rs.EVENT_KINDS, today=service.today().isoformat(),
            topics={t.key: t.name for t in self.console.services.consultation.kb.topics},
        )  # fmt: skip

    async def record_add(self, request: Request) -> Response:
        """POST /records: record one piece of offline work."""
        who = await self.console.who(request)
        data = await self.console.form(request)
        service = self.records()
        try:
            line = await run_in_threadpool(
                lambda: service.add(
                    who, kind=data.get("kind", ""), day=_day(data.get("day")),
                    village_code=data.get("village") or None, topic=data.get("topic", ""),
                    summary=data.get("summary", ""), people=_number(data.get("people"), 1),
                    opinion_for=data.get("opinion_for", ""), place=data.get("place", ""),
                    event_kind=data.get("event_kind", ""),
                    materials=_number(data.get("materials")),
                    banners=_number(data.get("banners")),
                    attendees=_number(data.get("attendees")),
                )
            )  # fmt: skip
        except rs.RecordForbidden:
            return self.forbidden(request)
        except rs.RecordError as exc:
            return self.back(request, "/records", str(exc))
        return self.back(request, "/records", f"已记录 #{line.id}（{line.kind_label}）。")

    # --- disputes ---------------------------------------------------------------------------

    async def disputes_page(self, request: Request) -> Response:
        """GET /disputes: the register, open cases first, with this year's 调结率 and 满意率."""
        who = await self.console.who(request)
        params = request.query_params
        chosen = {k: params.get(k, "") for k in ("state", "village")}
        service = self.disputes()
        year = service.today().year
        try:
            cases = await run_in_threadpool(
                lambda: service.cases(
                    who, state=chosen["state"] or None, village=chosen["village"] or None
                )
            )
            figures = await run_in_threadpool(
                service.figures, who, date(year, 1, 1), date(year, 12, 31)
            )
        except rs.RecordForbidden:
            return self.forbidden(request)
        return self.console.page(
            request, "disputes.html", who, cases=cases, figures=figures, year=year,
            chosen=chosen, villages=self.villages(who), percent=rp.percent,
            open_count=sum(1 for c in cases if c.state == "open"),
        )  # fmt: skip

    async def dispute_new(self, request: Request) -> Response:
        """GET /disputes/new: the form to open a case, pre-filled from its source."""
        who = await self.console.who(request)
        service = self.disputes()
        escalation_id = _id(request.query_params.get("escalation"))
        record_id = _id(request.query_params.get("record"))
        try:
            if escalation_id is not None:
                draft = await run_in_threadpool(service.draft_from_escalation, who, escalation_id)
            elif record_id is not None:
                draft = await run_in_threadpool(service.draft_from_record, who, record_id)
            else:
                draft = ds.DisputeDraft(None, "")
        except rs.RecordForbidden:
            return self.forbidden(request)
        except rs.RecordError as exc:
            return self.back(request, "/disputes", str(exc))
        return self.console.page(
            request, "dispute.html", who, case=None, draft=draft, kinds=ds.KIND_LABELS,
            villages=self.villages(who), today=service.today().isoformat(),
        )  # fmt: skip

    async def dispute_open(self, request: Request) -> Response:
        """POST /disputes: open a case."""
        who = await self.console.who(request)
        data = await self.console.form(request)
        service = self.disputes()
        try:
            case = await run_in_threadpool(
                lambda: service.open(
                    who, kind=data.get("kind", ""), village_code=data.get("village") or None,
                    parties=data.get("parties", ""), summary=data.get("summary", ""),
                    mediator=data.get("mediator", ""), opened_on=_day(data.get("opened_on")),
                    escalation_id=_id(data.get("escalation_id")),
                    record_id=_id(data.get("record_id")),
                )
            )  # fmt: skip
        except rs.RecordForbidden:
            return self.forbidden(request)
        except rs.RecordError as exc:
            return self.back(request, "/disputes", str(exc))
        return self.back(request, f"/disputes/{case.id}", f"已登记矛盾纠纷 #{case.id}。")

    async def dispute_page(self, request: Request) -> Response:
        """GET /disputes/{id}: one case with its steps."""
        who = await self.console.who(request)
        service = self.disputes()
        try:
            case = await run_in_threadpool(service.get, who, int(request.path_params["id"]))
        except rs.RecordForbidden:
            return self.forbidden(request)
        except rs.RecordError as exc:
            return self.back(request, "/disputes", str(exc))
        return self.console.page(
            request, "dispute.html", who, case=case, draft=None, kinds=ds.KIND_LABELS,
            outcomes=ds.OUTCOME_LABELS, satisfactions=ds.SATISFACTION_LABELS,
            today=service.today().isoformat(),
        )  # fmt: skip

    async def dispute_action(self, request: Request) -> Response:
        """POST /disputes/{id}/step or /disputes/{id}/close."""
        who = await self.console.who(request)
        data = await self.console.form(request)
        dispute_id = int(request.path_params["id"])
        verb = request.path_params["verb"]
        service = self.disputes()
        here = f"/disputes/{dispute_id}"
        try:
            if verb == "step":
                await run_in_threadpool(
                    lambda: service.add_step(
                        who, dispute_id, note=data.get("note", ""), day=_day(data.get("day"))
                    )
                )
                message = "已记录调处经过。"
            elif verb == "close":
                await run_in_threadpool(
                    lambda: service.close(
                        who, dispute_id, outcome=data.get("outcome", ""),
                        satisfaction=data.get("satisfaction") or None, day=_day(data.get("day")),
                    )
                )  # fmt: skip
                message = "已结案。"
            else:
                return self.back(request, here, "没有这个操作。")
        except rs.RecordForbidden:
            return self.forbidden(request)
        except rs.RecordError as exc:
            return self.back(request, here, str(exc))
        return self.back(request, here, message)

    # --- the year report --------------------------------------------------------------------

    async def year_figures(self, request: Request) -> tuple[Identity, YearReport | None]:
        """Who asks, and the year's report (None for an advisor: the report is the office's)."""
        who = await self.console.who(request)
        if who.villages is not None:
            return who, None
        services = self.console.services
        now = services.consultation.clock()
        this_year = now.astimezone(services.config.town.tz).year
        raw = request.query_params.get("year", "")
        year = int(raw) if raw.isdigit() and 2000 <= int(raw) <= 2100 else this_year
        built = await run_in_threadpool(
            lambda: build_year_report(
                services.consultation.db, services.config, year,
                topic_names={t.key: t.name for t in services.consultation.kb.topics}, now=now,
            )
        )  # fmt: skip
        return who, built

    async def year_page(self, request: Request) -> Response:
        """GET /year: the year report page (staff and admins)."""
        who, built = await self.year_figures(request)
        if built is None:
            return self.forbidden(request)
        return self.console.page(request, "year.html", who, y=built)

    async def year_xlsx(self, request: Request) -> Response:
        """GET /year.xlsx: the year report as a workbook (staff and admins)."""
        who, built = await self.year_figures(request)
        if built is None:
            return self.forbidden(request)
        body = await run_in_threadpool(built.to_xlsx)
        await run_in_threadpool(
            self.console.services.accounts.audit, who.name, "year.export", str(built.year)
        )
        name = f"year-report-{built.year}.xlsx"
        return Response(
            body,
            media_type=XLSX,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )


def record_routes(console: Console, guarded: Callable[[Handler], Handler]) -> list[BaseRoute]:
    """The routes of these pages, each wrapped by the console's `guarded`."""
    pages = _Pages(console)
    return [
        Route("/records", guarded(pages.records_page), methods=["GET"]),
        Route("/records", guarded(pages.record_add), methods=["POST"]),
        Route("/disputes", guarded(pages.disputes_page), methods=["GET"]),
        Route("/disputes", guarded(pages.dispute_open), methods=["POST"]),
        Route("/disputes/new", guarded(pages.dispute_new), methods=["GET"]),
        Route("/disputes/{id:int}", guarded(pages.dispute_page), methods=["GET"]),
        Route("/disputes/{id:int}/{verb:str}", guarded(pages.dispute_action), methods=["POST"]),
        Route("/year", guarded(pages.year_page), methods=["GET"]),
        Route("/year.xlsx", guarded(pages.year_xlsx), methods=["GET"]),
    ]
