"""The console's routes: sign-in, dashboard, ledger, escalation inbox, drafts, campaigns, audit
log and accounts. Pages are rendered on the server (Jinja2); every form carries a CSRF token;
service calls run in worker threads. A push sent from the campaigns page is delivered in a
background task through the injected `send` (the Telegram bot of `lawbot serve`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from bot import texts
from bot.channels.http.limits import SlidingWindow
from bot.channels.webconsole.charts import bar_chart
from bot.channels.webconsole.records import record_routes
from bot.channels.webconsole.security import SecurityHeaders, csrf_ok, csrf_token, load_secret
from bot.services import ledger as ledger_service
from bot.services import report as rp
from bot.services.accounts import ROLES, AccountError, Identity
from bot.services.campaign_schedule import Occurrence
from bot.services.campaigns import RunReport, SendFunc
from bot.services.container import Services
from bot.services.drafts import DraftError
from bot.services.outcomes import Notice, Outcome, Sender
from storage import campaign_repository as crepo
from storage import escalations as esc_repo
from storage import queries as q
from storage.campaign_models import RunState

__all__ = ["SESSION_COOKIE", "build_console_app"]

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
PAGE_SIZE = 50
SESSION_COOKIE = "lawbot_console"
REFRESH_SECONDS = 3  # the campaigns page reloads itself while a run is sending
Notify = Callable[[tuple[Notice, ...]], Awaitable[None]]


async def _no_notify(_notices: tuple[Notice, ...]) -> None:
    return None


class _Redirect(Exception):
    def __init__(self, url: str) -> None:
        self.url = url


class _Forbidden(Exception):
    pass


@dataclass
class _Console:
    services: Services
    notify: Notify
    templates: Jinja2Templates
    logins: SlidingWindow
    session_seconds: float
    prefix: str
    send: SendFunc | None = None
    deliveries: set[asyncio.Task[None]] = field(default_factory=set)

    # --- helpers --------------------------------------------------------------------------------

    def url(self, path: str = "") -> str:
        return f"{self.prefix}{path}"

    def page(self, request: Request, name: str, who: Identity | None, **context: Any) -> Response:
        context |= {
            "who": who,
            "csrf": csrf_token(request.session),
            "url": self.url,
            "town": self.services.config.town.name,
            "office": self.services.config.justice_office.name,
            "flash": request.session.pop("flash", None),
        }
        return self.templates.TemplateResponse(request, name, context)

    async def who(self, request: Request, *, admin: bool = False) -> Identity:
        name = request.session.get("user")
        since = request.session.get("since")
        if not isinstance(name, str) or not isinstance(since, (int, float)):
            raise _Redirect(self.url("/login"))
        if time.time() - since > self.session_seconds:
            request.session.clear()
            request.session["flash"] = texts.CONSOLE_SESSION_EXPIRED
            raise _Redirect(self.url("/login"))
        who = await run_in_threadpool(self.services.accounts.identity, name)
        if who is None:
            request.session.clear()
            raise _Redirect(self.url("/login"))
        if admin and not who.is_admin:
            raise _Forbidden
        return who

    async def form(self, request: Request) -> dict[str, str]:
        data = await request.form()
        if not csrf_ok(request.session, data.get("csrf")):
            raise _Forbidden
        return {k: v for k, v in data.items() if isinstance(v, str)}

    def flash(self, request: Request, message: str) -> None:
        request.session["flash"] = message

    def actor(self, who: Identity) -> Sender | None:
        """The advisor identity the escalation service knows this person by."""
        config = self.services.config
        if who.telegram_id:
            return Sender("telegram", who.telegram_id, who.telegram_id)
        if who.villages is not None:
            for code in who.villages:
                village = config.village(code)
                if village is not None and village.advisor_id:
                    return Sender("telegram", str(village.advisor_id), str(village.advisor_id))
            return None
        office = config.justice_office.telegram_ids
        return Sender("telegram", str(office[0]), str(office[0])) if office else None

    def period(self, request: Request) -> tuple[datetime, datetime, str, str]:
        tz = self.services.config.town.tz
        first = _date(request.query_params.get("from"))
        last = _date(request.query_params.get("to"))
        try:
            start, end = rp.period_from_dates(
                first, last, tz, now=self.services.consultation.clock()
            )
        except ValueError:
            start, end = rp.period_from_dates(
                None, None, tz, now=self.services.consultation.clock()
            )
        shown_end = (end.astimezone(tz)).date().fromordinal(end.astimezone(tz).toordinal() - 1)
        return start, end, start.astimezone(tz).date().isoformat(), shown_end.isoformat()

    def topics(self) -> dict[str, str]:
        return {t.key: t.name for t in self.services.consultation.kb.topics}

    # --- sign-in --------------------------------------------------------------------------------

    async def login_form(self, request: Request) -> Response:
        """GET /login: the sign-in form."""
        return self.page(request, "login.html", None)

    async def login(self, request: Request) -> Response:
        """POST /login: check the password (throttled per address, accounts lock)."""
        client = request.client.host if request.client else "?"
        wait = self.logins.hit(client)
        if wait is not None:
            response = self.page(request, "login.html", None, error=texts.CONSOLE_TOO_MANY)
            response.status_code = 429
            response.headers["Retry-After"] = str(wait)
            return response
        data = await self.form(request)
        outcome = await run_in_threadpool(
            self.services.accounts.sign_in, data.get("username", ""), data.get("password", "")
        )
        if outcome.identity is None:
            error = {
                "locked": texts.CONSOLE_LOCKED,
                "disabled": texts.CONSOLE_DISABLED,
            }.get(outcome.problem or "", texts.CONSOLE_WRONG_PASSWORD)
            response = self.page(request, "login.html", None, error=error)
            response.status_code = 401
            return response
        request.session.clear()  # a fresh session (and CSRF token) after signing in
        request.session["user"] = outcome.identity.name
        request.session["since"] = time.time()
        return RedirectResponse(self.url(""), status_code=303)

    async def logout(self, request: Request) -> Response:
        """POST /logout."""
        await self.form(request)
        request.session.clear()
        return RedirectResponse(self.url("/login"), status_code=303)

    # --- dashboard ------------------------------------------------------------------------------

    async def dashboard(self, request: Request) -> Response:
        """GET /: this period's figures, as `lawbot report --json`."""
        who = await self.who(request)
        start, end, first, last = self.period(request)
        services = self.services
        built = await run_in_threadpool(
            rp.build_report,
            services.consultation.db,
            services.config,
            start,
            end,
            topic_names=self.topics(),
            now=services.consultation.clock(),
            sections=rp.DASHBOARD_SECTIONS,
        )
        data = built.as_dict()
        if who.villages is not None:
            codes = set(who.villages)
            data["by_village"] = [v for v in data["by_village"] if v["code"] in codes]
        charts = {
            "village": bar_chart("分村咨询量", [(v["name"], v["questions"]) for v in data["by_village"]]),
            "topic": bar_chart("主题", [(t["name"], t["questions"]) for t in data["by_topic"][:12]]),
            "channel": bar_chart(
                "渠道",
                [(rp.CHANNEL_LABELS.get(c["channel"], c["channel"]), c["questions"]) for c in data["by_channel"]],
            ),
            "month": bar_chart("分月", [(m["month"], m["questions"]) for m in data["by_month"]]),
        }  # fmt: skip
        return self.page(
            request, "dashboard.html", who, r=data, charts=charts, first=first, last=last,
            note=rp.SUPPRESSION_NOTE.format(n=services.config.privacy.small_cell),
            percent=rp.percent, hours=rp.hours_text,
        )  # fmt: skip

    # --- ledger ---------------------------------------------------------------------------------

    def ledger_filter(
        self, request: Request, who: Identity
    ) -> tuple[q.LedgerFilter, dict[str, str]]:
        start, end, first, last = self.period(request)
        params = request.query_params
        chosen = {k: params.get(k, "") for k in ("village", "topic", "decision", "channel")}
        filter = q.LedgerFilter(
            start=start, end=end, villages=who.villages,
            **{k: (v or None) for k, v in chosen.items()},
        )  # fmt: skip
        return filter, chosen | {"from": first, "to": last}

    async def ledger(self, request: Request) -> Response:
        """GET /ledger: the filtered, paginated ledger."""
        who = await self.who(request)
        filter, chosen = self.ledger_filter(request, who)
        page_no = max(1, _int(request.query_params.get("page"), 1))
        services = self.services
        page = await run_in_threadpool(
            ledger_service.ledger_page,
            services.consultation.db,
            services.config,
            filter,
            self.topics(),
            offset=(page_no - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )
        pages = max(1, -(-page.total // PAGE_SIZE))
        query = "&".join(f"{k}={v}" for k, v in chosen.items() if v)
        villages = [v for v in services.config.villages if who.sees(v.code)]
        return self.page(
            request, "ledger.html", who, page=page, page_no=page_no, pages=pages, chosen=chosen,
            query=query, villages=villages, topics=self.topics(), decisions=rp.DECISION_LABELS,
            channels=rp.CHANNEL_LABELS, headers=ledger_service.HEADERS,
        )  # fmt: skip

    async def ledger_export(self, request: Request) -> Response:
        """GET /ledger.csv or /ledger.xlsx: exactly the filtered lines."""
        who = await self.who(request)
        filter, chosen = self.ledger_filter(request, who)
        kind = request.path_params["kind"]
        services = self.services
        make = ledger_service.export_csv if kind == "csv" else ledger_service.export_xlsx
        body = await run_in_threadpool(
            make, services.consultation.db, services.config, filter, self.topics()
        )
        await run_in_threadpool(
            services.accounts.audit, who.name, "ledger.export", kind, str(chosen)
        )
        media = (
            "text/csv; charset=utf-8"
            if kind == "csv"
            else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        name = f"ledger-{chosen['from']}-{chosen['to']}.{kind}"
        return Response(
            body,
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    # --- escalations ----------------------------------------------------------------------------

    async def escalations(self, request: Request) -> Response:
        """GET /escalations: the inbox with SLA badges."""
        who = await self.who(request)
        views = await run_in_threadpool(
            self.services.consultation.escalations.inbox_views, who.villages
        )
        return self.page(
            request, "escalations.html", who, views=views, can_act=self.actor(who) is not None
        )

    async def escalation_action(self, request: Request) -> Response:
        """POST /escalations/{id}/{verb}: claim, reply, call, office, draft, done."""
        who = await self.who(request)
        data = await self.form(request)
        actor = self.actor(who)
        escalation_id = int(request.path_params["id"])
        verb = request.path_params["verb"]
        service = self.services.consultation.escalations
        if who.villages is not None:  # an advisor acts only on their villages' escalations
            village = await run_in_threadpool(self.escalation_village, escalation_id)
            if not who.sees(village):
                raise _Forbidden
        if actor is None:
            self.flash(request, texts.CONSOLE_NO_ADVISOR_ID)
            return RedirectResponse(self.url("/escalations"), status_code=303)
        calls: dict[str, Callable[[], Outcome]] = {
            "claim": lambda: service.claim(actor, escalation_id),
            "reply": lambda: service.reply(actor, escalation_id, data.get("text", "")),
            "call": lambda: service.request_call(actor, escalation_id),
            "office": lambda: service.to_office(actor, escalation_id),
            "draft": lambda: service.make_draft(actor, escalation_id),
            "done": lambda: service.done(actor, escalation_id),
        }
        call = calls.get(verb)
        if call is None or (verb == "reply" and not data.get("text", "").strip()):
            self.flash(
                request, texts.CONSOLE_EMPTY_REPLY if verb == "reply" else texts.UNKNOWN_COMMAND
            )
            return RedirectResponse(self.url("/escalations"), status_code=303)
        outcome = await run_in_threadpool(call)
        await run_in_threadpool(
            self.services.accounts.audit, who.name, f"escalation.{verb}", str(escalation_id),
            data.get("text", "")[:200],
        )  # fmt: skip
        if outcome.notices:
            await self.notify(outcome.notices)
        self.flash(request, " ".join(r.text for r in outcome.replies)[:300])
        return RedirectResponse(self.url("/escalations"), status_code=303)

    def escalation_village(self, escalation_id: int) -> str | None:
        """The village code of an escalation (None: unknown escalation or no village)."""
        with self.services.consultation.db.session() as session:
            escalation = esc_repo.get_escalation(session=session, escalation_id=escalation_id)
            return escalation.village_code if escalation is not None else None

    # --- knowledge ------------------------------------------------------------------------------

    async def drafts(self, request: Request) -> Response:
        """GET /drafts: waiting drafts with their KB-rule problems, and unanswered questions."""
        who = await self.who(request)
        if who.villages is not None:
            raise _Forbidden
        consultation = self.services.consultation
        drafts = await run_in_threadpool(consultation.drafts.waiting)
        problems = {
            d.id: await run_in_threadpool(consultation.drafts.problems, d.id or 0, consultation.kb)
            for d in drafts[:30]
        }
        start, end, _, _ = self.period(request)
        built = await run_in_threadpool(
            rp.build_report, consultation.db, self.services.config, start, end,
            topic_names=self.topics(), now=consultation.clock(), sections={"gaps"},
        )  # fmt: skip
        return self.page(
            request, "drafts.html", who, drafts=drafts, problems=problems,
            gaps=built.as_dict()["gaps"], topics=self.topics(), kinds=texts.DRAFT_KINDS,
        )  # fmt: skip

    async def draft_action(self, request: Request) -> Response:
        """POST /drafts/{id}/approve|reject|edit, or /drafts/new."""
        who = await self.who(request)
        if who.villages is not None:
            raise _Forbidden
        data = await self.form(request)
        drafts = self.services.consultation.drafts
        consultation = self.services.consultation
        verb = request.path_params.get("verb", "new")
        raw_id = request.path_params.get("id", "0")
        try:
            if verb == "new":
                draft = await run_in_threadpool(
                    lambda: drafts.create(
                        question=data.get("question", ""), answer=data.get("answer", ""),
                        topic_key=data.get("topic") or None, actor=who.name,
                        short=data.get("short", ""), basis=data.get("basis", "").splitlines(),
                        next_steps=data.get("next_steps", ""),
                    )
                )  # fmt: skip
                message = texts.CONSOLE_DRAFT_CREATED.format(id=draft.id)
            elif verb == "approve":
                entry = await run_in_threadpool(
                    lambda: drafts.approve(int(raw_id), actor=who.name, kb=consultation.kb)
                )
                await run_in_threadpool(consultation.refresh_knowledge)
                message = texts.DRAFT_APPROVED.format(id=raw_id, entry=entry)
            elif verb == "reject":
                await run_in_threadpool(
                    lambda: drafts.reject(
                        int(raw_id), reason=data.get("reason", ""), actor=who.name
                    )
                )
                message = texts.DRAFT_REJECTED.format(id=raw_id)
            elif verb == "edit":
                await run_in_threadpool(
                    lambda: drafts.edit(
                        int(raw_id), question=data.get("question"), answer=data.get("answer"),
                        short=data.get("short"), topic_key=data.get("topic") or None,
                    )
                )  # fmt: skip
                message = texts.CONSOLE_DRAFT_SAVED.format(id=raw_id)
            else:
                raise DraftError(texts.UNKNOWN_COMMAND)
        except DraftError as exc:
            message = str(exc)
        else:
            await run_in_threadpool(
                self.services.accounts.audit, who.name, f"draft.{verb}", raw_id, str(data)[:500]
            )
        self.flash(request, message)
        return RedirectResponse(self.url("/drafts"), status_code=303)

    # --- campaigns ------------------------------------------------------------------------------

    def staff_only(self, who: Identity) -> None:
        """Refuse advisors: publicity pushes are the justice office's (as on Telegram)."""
        if who.role not in ("staff", "admin") or who.villages is not None:
            raise _Forbidden

    def audience(self, villages: tuple[str, ...] | None) -> str:
        """Describe an audience: everybody, or the names of its villages."""
        if villages is None:
            return texts.CAMPAIGN_AUDIENCE_ALL
        config = self.services.config
        return "、".join(getattr(config.village(c), "name", c) for c in villages)

    def find_push(self, key: str, day: str) -> Occurrence | None:
        """The occurrence of push `key` scheduled for the local date `day`, if any."""
        try:
            wanted = date.fromisoformat(day)
        except ValueError:
            return None
        start = datetime.combine(wanted - timedelta(days=2), datetime.min.time(), tzinfo=UTC)
        found = self.services.campaigns.occurrences(start, start + timedelta(days=5))
        return next((o for o in found if o.push_key == key and o.scheduled_for == wanted), None)

    def run_state(self, occ: Occurrence) -> str | None:
        """The state of the run of an occurrence (None: not started, missed or cancelled)."""
        with self.services.campaigns.db.session() as session:
            run = crepo.get_run(
                session=session,
                campaign=occ.campaign,
                push_key=occ.push_key,
                scheduled_for=occ.scheduled_for,
            )
            return None if run is None else str(run.state)

    def push_view(self, occ: Occurrence) -> dict[str, Any]:
        """What the schedule and the confirmation show of one occurrence (worker thread)."""
        campaigns = self.services.campaigns
        return {
            "occ": occ,
            "title": campaigns.title(occ.campaign),
            "text": campaigns.render(occ),
            "audience": self.audience(occ.villages),
            "size": campaigns.audience_size(occ.villages),
            "state": self.run_state(occ),
        }

    async def campaigns(self, request: Request) -> Response:
        """GET /campaigns: the schedule with previews and audiences, and every run's progress."""
        who = await self.who(request)
        self.staff_only(who)
        campaigns = self.services.campaigns

        def load() -> tuple[list[dict[str, Any]], list[RunReport]]:
            reports = campaigns.reports(limit=20)  # first: a run seen done is done below too
            return [self.push_view(o) for o in campaigns.upcoming(limit=12)], reports

        pushes, reports = await run_in_threadpool(load)
        states = [r.state for r in reports] + [p["state"] for p in pushes]
        running = RunState.RUNNING in states
        response = self.page(
            request, "campaigns.html", who, pushes=pushes, reports=reports, running=running,
            tz=self.services.config.town.tz, can_send=self.send is not None,
        )  # fmt: skip
        if running:  # no script needed: the browser reloads the page until the runs are done
            response.headers["Refresh"] = str(REFRESH_SECONDS)
        return response

    async def campaign_confirm(self, request: Request) -> Response:
        """GET /campaigns/confirm?push=KEY&day=DATE: the text and audience before sending."""
        who = await self.who(request)
        self.staff_only(who)
        key = request.query_params.get("push", "")
        day = request.query_params.get("day", "")
        occ = self.find_push(key, day)
        if occ is None:
            self.flash(request, texts.CONSOLE_CAMPAIGN_UNKNOWN.format(key=key[:40], day=day[:10]))
            return RedirectResponse(self.url("/campaigns"), status_code=303)
        push = await run_in_threadpool(self.push_view, occ)
        return self.page(
            request, "campaign_confirm.html", who, push=push, tz=self.services.config.town.tz,
            can_send=self.send is not None, no_sender=texts.CONSOLE_CAMPAIGN_NO_SENDER,
        )  # fmt: skip

    async def campaign_action(self, request: Request) -> Response:
        """POST /campaigns/send or /campaigns/cancel (push, day): start a run, or cancel one."""
        who = await self.who(request)
        self.staff_only(who)
        data = await self.form(request)
        verb = request.path_params["verb"]
        key, day = data.get("push", ""), data.get("day", "")
        occ = self.find_push(key, day)
        back = RedirectResponse(self.url("/campaigns"), status_code=303)
        if occ is None or verb not in ("send", "cancel"):
            self.flash(request, texts.CONSOLE_CAMPAIGN_UNKNOWN.format(key=key[:40], day=day[:10]))
            return back
        campaigns = self.services.campaigns
        actor = f"console:{who.name}"
        where = {"key": occ.push_key, "day": occ.scheduled_for}
        if verb == "cancel":
            cancelled = await run_in_threadpool(lambda: campaigns.cancel(occ, actor=actor))
            if cancelled:
                await run_in_threadpool(
                    self.services.accounts.audit, who.name, "campaign.cancel",
                    f"{occ.push_key}@{occ.scheduled_for}", "",
                )  # fmt: skip
            self.flash(
                request,
                (
                    texts.CONSOLE_CAMPAIGN_CANCELLED
                    if cancelled
                    else texts.CONSOLE_CAMPAIGN_CANCEL_TOO_LATE
                ).format(**where),
            )
            return back
        send = self.send
        if send is None:
            self.flash(request, texts.CONSOLE_CAMPAIGN_NO_SENDER)
            return back
        if await run_in_threadpool(self.run_state, occ) is not None:
            self.flash(request, texts.CONSOLE_CAMPAIGN_HANDLED.format(**where))
            return back
        run_id = await run_in_threadpool(lambda: campaigns.start_run(occ, actor=actor))
        if run_id is None:
            self.flash(request, texts.CONSOLE_CAMPAIGN_HANDLED.format(**where))
            return back
        size = await run_in_threadpool(campaigns.audience_size, occ.villages)
        await run_in_threadpool(
            self.services.accounts.audit, who.name, "campaign.send",
            f"{occ.push_key}@{occ.scheduled_for}", f"run {run_id}, {size} 人",
        )  # fmt: skip
        task = asyncio.create_task(self.deliver(run_id, send), name=f"console-run-{run_id}")
        self.deliveries.add(task)
        task.add_done_callback(self.deliveries.discard)
        self.flash(request, texts.CONSOLE_CAMPAIGN_STARTED.format(key=occ.push_key, size=size))
        return RedirectResponse(self.url(f"/campaigns#run-{run_id}"), status_code=303)

    async def deliver(self, run_id: int, send: SendFunc) -> None:
        """Deliver a run in the background; the page shows its progress from the database."""
        try:
            counts = await self.services.campaigns.deliver(run_id, send)
        except Exception:  # the rows stay pending (or sending): a restart resumes the run
            logger.exception("console run %d: delivery stopped", run_id)
        else:
            logger.info("console run %d finished: %s", run_id, counts)

    # --- admin ----------------------------------------------------------------------------------

    async def audit(self, request: Request) -> Response:
        """GET /audit: who changed what, when (admins)."""
        who = await self.who(request, admin=True)
        offset = max(0, _int(request.query_params.get("offset"), 0))
        entries = await run_in_threadpool(
            lambda: self.services.accounts.audit_log(limit=100, offset=offset)
        )
        return self.page(
            request, "audit.html", who, entries=entries, offset=offset,
            tz=self.services.config.town.tz,
        )  # fmt: skip

    async def users(self, request: Request) -> Response:
        """GET /users: the accounts (admins)."""
        who = await self.who(request, admin=True)
        accounts = await run_in_threadpool(self.services.accounts.accounts)
        return self.page(
            request, "users.html", who, accounts=accounts, roles=ROLES,
            villages=self.services.config.villages,
        )  # fmt: skip

    async def user_action(self, request: Request) -> Response:
        """POST /users (add) or /users/{name}/disable (admins)."""
        who = await self.who(request, admin=True)
        data = await self.form(request)
        accounts = self.services.accounts
        name = request.path_params.get("name")
        try:
            if name is None:
                await run_in_threadpool(
                    lambda: accounts.add(
                        data.get("username", "").strip().lower(), data.get("role", ""),
                        data.get("password", ""),
                        villages=[v for v in data.get("villages", "").split(",") if v.strip()],
                        telegram_id=data.get("telegram_id") or None, actor=who.name,
                    )
                )  # fmt: skip
                message = texts.CONSOLE_USER_ADDED
            else:
                await run_in_threadpool(lambda: accounts.disable(name, actor=who.name))
                message = texts.CONSOLE_USER_DISABLED
        except AccountError as exc:
            message = str(exc)
        self.flash(request, message)
        return RedirectResponse(self.url("/users"), status_code=303)


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _int(value: str | None, default: int) -> int:
    return int(value) if value and value.isdigit() else default


def build_console_app(
    services: Services,
    *,
    notify: Notify | None = None,
    send: SendFunc | None = None,
    prefix: str = "/console",
    secret: str | None = None,
) -> Starlette:
    """The console as an ASGI app to mount at `prefix` (sessions signed with `secret`).

    `send` delivers publicity pushes (None: the campaigns page shows them but cannot send);
    the app's `state.deliveries` holds the background deliveries still running.
    """
    settings = services.config.console
    secret = secret or load_secret(
        services.config.resolve(settings.secret_file) or Path("data/console-secret")
    )
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    console = _Console(
        services=services,
        notify=notify or _no_notify,
        templates=templates,
        logins=SlidingWindow(settings.logins_per_minute),
        session_seconds=settings.session_hours * 3600,
        prefix=prefix,
        send=send,
    )

    def guarded(
        handler: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except _Redirect as redirect:
                return RedirectResponse(redirect.url, status_code=303)
            except _Forbidden:
                response = console.page(request, "forbidden.html", None)
                response.status_code = 403
                return response

        run.__doc__ = handler.__doc__
        return run

    routes = [
        Route("/login", guarded(console.login_form), methods=["GET"]),
        Route("/login", guarded(console.login), methods=["POST"]),
        Route("/logout", guarded(console.logout), methods=["POST"]),
        Route("/", guarded(console.dashboard), methods=["GET"]),
        Route("/ledger", guarded(console.ledger), methods=["GET"]),
        Route("/ledger.{kind:str}", guarded(console.ledger_export), methods=["GET"]),
        Route("/escalations", guarded(console.escalations), methods=["GET"]),
        Route(
            "/escalations/{id:int}/{verb:str}",
            guarded(console.escalation_action),
            methods=["POST"],
        ),
        Route("/drafts", guarded(console.drafts), methods=["GET"]),
        Route("/drafts/new", guarded(console.draft_action), methods=["POST"]),
        Route("/drafts/{id:int}/{verb:str}", guarded(console.draft_action), methods=["POST"]),
        Route("/campaigns", guarded(console.campaigns), methods=["GET"]),
        Route("/campaigns/confirm", guarded(console.campaign_confirm), methods=["GET"]),
        Route("/campaigns/{verb:str}", guarded(console.campaign_action), methods=["POST"]),
        Route("/audit", guarded(console.audit), methods=["GET"]),
        Route("/users", guarded(console.users), methods=["GET"]),
        Route("/users", guarded(console.user_action), methods=["POST"]),
        Route("/users/{name:str}/disable", guarded(console.user_action), methods=["POST"]),
        *record_routes(console, guarded),
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(
            SessionMiddleware,
            secret_key=secret,
            session_cookie=SESSION_COOKIE,
            max_age=int(settings.session_hours * 3600),
            path=prefix or "/",
            same_site="strict",
            https_only=settings.https_only,
        ),
    ]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.deliveries = console.deliveries
    return app
