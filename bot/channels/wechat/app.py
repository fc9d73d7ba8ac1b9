"""The WeChat Official Account channel: `/wechat`, the URL WeChat's servers post messages to.

`GET` answers WeChat's URL check; `POST` takes a follower's message or event in plain or safe
(AES) mode, asks the services in a worker thread, and answers passively when the reply is ready
within `[wechat] reply_seconds`; otherwise it answers an empty 200 and sends the reply later as a
customer-service message. WeChat gives up after 5 s and posts the same message again (3 times):
each message is one job per update key (`wechat:<MsgId>`; events, which carry no MsgId,
`wechat:<FromUserName>:<CreateTime>:<digest of Event and EventKey>`, so two menu clicks in one
second are two updates), so a retry waits for the same reply and never starts a second consultation or reply.

The channel also sends publicity pushes (`push_sender`, `bot.channels.wechat.pushes`); a typed
number after a push picks its 👍有用/退订 (`CampaignService.click`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import xmltodict
from sqlalchemy.exc import IntegrityError
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from bot import texts
from bot.channels.wechat import menu
from bot.channels.wechat.client import WechatClient
from bot.channels.wechat.notifier import CHANNEL, Delivery, WechatNotifier
from bot.channels.wechat.pushes import wechat_sender
from bot.channels.wechat.render import CHOICE_SECONDS, Choices, render, split_text, typed_number
from bot.config import Wechat
from bot.services import actions
from bot.services.campaigns import SendFunc
from bot.services.container import Services
from bot.services.outcomes import Notice, Outcome, Sender
from bot.services.replies import Reply
from storage import repositories as repo

__all__ = [
    "PATH",
    "Inbound",
    "WechatChannel",
    "build_wechat",
    "build_wechat_app",
    "event_key",
    "inbound",
]

logger = logging.getLogger(__name__)

PATH = "/wechat"
MAX_BODY = 64 * 1024  # a WeChat post is a few hundred bytes of XML
JOB_SECONDS = 300.0  # how long a finished job answers WeChat's retries (they come within ~15 s)
SUCCESS = "success"  # the empty answer: WeChat shows nothing and does not retry
_COMMAND = re.compile(r"^/([a-z_]{1,32})(?:\s+(.*))?$", re.DOTALL)
MEDIA_KINDS = {
    "image": "photo",
    "video": "video",
    "shortvideo": "video",
    "location": "location",
    "file": "document",
}
SCENE_MAX_CHARS = 32
PUSH_ACTIONS = frozenset({"cf", "cu"})  # a push's 👍有用 / 退订 (the campaign service's own)
CHOICE_WINDOW = timedelta(seconds=CHOICE_SECONDS)
KEY_MAX_CHARS = 64  # the ledger's update_key column

Notify = Callable[[tuple[Notice, ...]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Inbound:
    """A follower's message or event as the channel handles it."""

    openid: str
    account: str  # the official account's id (ToUserName): the passive reply comes from it
    key: str  # the update key: one job, one consultation, one reply
    kind: str  # text | voice | photo | video | ... | subscribe | scan | click | unsubscribe
    text: str = ""  # the text, the voice recognition, the QR scene or the menu key


def inbound(message: Any, raw: Mapping[str, Any]) -> Inbound | None:
    """Translate a parsed WeChat message (and its raw fields) to an `Inbound`; None to ignore."""
    openid = str(raw.get("FromUserName") or "")
    account = str(raw.get("ToUserName") or "")
    if not openid:
        return None
    msg_type = str(raw.get("MsgType") or "").lower()
    if msg_type != "event":
        msg_id = raw.get("MsgId") or f"{openid}:{raw.get('CreateTime')}"
        key = f"{CHANNEL}:{msg_id}"
        if msg_type == "text":
            return Inbound(openid, account, key, "text", str(message.content or ""))
        if msg_type == "voice":
            return Inbound(openid, account, key, "voice", str(message.recognition or "").strip())
        return Inbound(openid, account, key, MEDIA_KINDS.get(msg_type, "other"))
    event = str(raw.get("Event") or "")
    key = event_key(raw)
    name = event.lower()
    if name == "subscribe":
        scene = str(raw.get("EventKey") or "").removeprefix("qrscene_")
        return Inbound(openid, account, key, "subscribe", _scene(scene))
    if name == "scan":
        return Inbound(openid, account, key, "scan", _scene(str(raw.get("EventKey") or "")))
    if name == "unsubscribe":
        return Inbound(openid, account, key, "unsubscribe")
    if name == "click":
        return Inbound(openid, account, key, "click", str(raw.get("EventKey") or ""))
    return None  # VIEW (a menu link), LOCATION reports, send-job reports: nothing to answer


def event_key(raw: Mapping[str, Any]) -> str:
    """The update key of an event (events carry no MsgId): sender, time, event and its key.

    A retry of an event repeats all four; two menu clicks in the same second differ in EventKey.
    Event and EventKey go in as a digest: the key must fit the ledger's 64 characters.
    """
    openid = str(raw.get("FromUserName") or "")
    created = str(raw.get("CreateTime") or "")
    what = f"{raw.get('Event') or ''}\0{raw.get('EventKey') or ''}"
    digest = hashlib.sha1(what.encode(), usedforsecurity=False).hexdigest()[:12]
    key = f"{CHANNEL}:{openid}:{created}:{digest}"
    if len(key) <= KEY_MAX_CHARS:
        return key
    whole = hashlib.sha1(f"{openid}\0{created}\0{what}".encode(), usedforsecurity=False)
    return f"{CHANNEL}:{whole.hexdigest()}"


def _scene(value: str) -> str:
    value = value.strip().lower()
    return value if 0 < len(value) <= SCENE_MAX_CHARS else ""


@dataclass
class _Turn:
    """The reply to one update: its messages, and the ledger key to mark replied."""

    chunks: list[str]
    ledger_key: str | None = None


@dataclass
class _Job:
    """One update being answered; WeChat's retries of it join it."""

    item: Inbound
    task: asyncio.Task[_Turn]
    deferred: bool = False  # the reply goes (went) out as a customer-service message
    finished: bool = False  # the rest of the reply was sent and the update marked replied
    started: float = field(default_factory=time.monotonic)


class WechatChannel:
    """The `/wechat` routes over the services, the API client and the notifier they share."""

    def __init__(
        self,
        services: Services,
        *,
        settings: Wechat,
        client: WechatClient | None,
        notify: Notify | None = None,
        notifier: WechatNotifier | None = None,
    ) -> None:
        if not settings.token:
            raise ValueError("the WeChat channel needs [wechat] token (or LAWBOT_WECHAT_TOKEN)")
        self.services = services
        self.settings = settings
        self.client = client
        self.notifier = notifier or WechatNotifier(services, client)
        self.choices: Choices = self.notifier.choices
        if self.choices.stamp is None:  # date the offers on the services' clock
            self.choices.stamp = services.campaigns.clock
        self._notify = notify
        self._crypto = (
            WeChatCrypto(settings.token, settings.encoding_aes_key, settings.app_id)
            if settings.encoding_aes_key and settings.app_id
            else None
        )
        self._jobs: dict[str, _Job] = {}
        self.routes = [
            Route(PATH, self.verify, methods=["GET"]),
            Route(PATH, self.receive, methods=["POST"]),
        ]

    def push_sender(self) -> SendFunc | None:
        """The campaign sender for WeChat followers (None without an API client)."""
        if self.client is None:
            return None
        return wechat_sender(
            self.client,
            choices=self.choices,
            template_id=self.settings.push_template_id,
            town=self.services.config.town.name,
        )

    async def aclose(self) -> None:
        """Stop background deliveries and close the API client."""
        await self.notifier.aclose()
        if self.client is not None:
            await self.client.aclose()

    # --- endpoints ------------------------------------------------------------------------------

    async def verify(self, request: Request) -> Response:
        """GET /wechat: WeChat's URL check; echo `echostr` when the signature is right."""
        query = request.query_params
        if not self._signed(query):
            return PlainTextResponse("invalid signature", status_code=403)
        return PlainTextResponse(query.get("echostr", ""))

    async def receive(self, request: Request) -> Response:
        """POST /wechat: a follower's message or event → a passive reply or an empty 200."""
        arrived = time.monotonic()
        query = request.query_params
        if not self._signed(query):
            return PlainTextResponse("invalid signature", status_code=403)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY:
            return PlainTextResponse("too large", status_code=413)
        body = await request.body()
        if len(body) > MAX_BODY:
            return PlainTextResponse("too large", status_code=413)
        aes = query.get("encrypt_type", "raw") == "aes"
        try:
            xml = self._decrypt(body, query) if aes else body.decode()
            raw = xmltodict.parse(xml)["xml"]
            message = parse_message(xml)
        except InvalidSignatureException:
            return PlainTextResponse("invalid signature", status_code=403)
        except Exception as exc:  # malformed XML or ciphertext: WeChat never sends it
            logger.warning("unreadable WeChat post (%s): %r", "aes" if aes else "plain", exc)
            return PlainTextResponse("bad request", status_code=400)
        item = inbound(message, raw) if isinstance(raw, dict) else None
        if item is None:
            return PlainTextResponse(SUCCESS)
        job = self._job(item)
        wait = self.settings.reply_seconds - (time.monotonic() - arrived)
        if not job.deferred and not job.task.done() and wait > 0:
            try:
                await asyncio.wait({job.task}, timeout=wait)
            except asyncio.CancelledError:  # WeChat hung up: the reply goes out later
                self._defer(job)
                raise
        if job.deferred:
            return PlainTextResponse(SUCCESS)
        if not job.task.done():
            self._defer(job)
            return PlainTextResponse(SUCCESS)
        turn = job.task.result()
        if not turn.chunks:
            self.notifier.spawn(self._finish(job, rest=False))
            return PlainTextResponse(SUCCESS)
        reply = TextReply(
            source=item.account, target=item.openid, content=turn.chunks[0], time=int(time.time())
        ).render()
        if aes:
            assert self._crypto is not None
            reply = self._crypto.encrypt_message(
                reply, query.get("nonce", ""), str(int(time.time()))
            )
        return Response(
            reply, media_type="application/xml", background=BackgroundTask(self._finish, job)
        )

    # --- checks ---------------------------------------------------------------------------------

    def _signed(self, query: Mapping[str, str]) -> bool:
        try:
            check_signature(
                self.settings.token,
                query.get("signature", ""),
                query.get("timestamp", ""),
                query.get("nonce", ""),
            )
        except InvalidSignatureException:
            return False
        return True

    def _decrypt(self, body: bytes, query: Mapping[str, str]) -> str:
        if self._crypto is None:
            raise ValueError("safe mode post, but [wechat] encoding_aes_key or app_id is not set")
        plain = self._crypto.decrypt_message(
            body.decode(),
            query.get("msg_signature", ""),
            query.get("timestamp", ""),
            query.get("nonce", ""),
        )
        return str(plain)

    # --- jobs -----------------------------------------------------------------------------------

    def _job(self, item: Inbound) -> _Job:
        """The job answering this update: the running one for a retry, else a new one."""
        self._prune()
        job = self._jobs.get(item.key)
        if job is None:
            action = self._typed_action(item)
            push = self._push_number(item)
            task = asyncio.create_task(self._work(item, action, push))
            job = _Job(item, task)
            self._jobs[item.key] = job
        return job

    def _typed_action(self, item: Inbound) -> str | None:
        """The button a typed number or the advisor keyword picks from the last message."""
        if item.kind != "text":
            return None
        offer = self.choices.current(item.openid)
        number = typed_number(item.text)
        if number is not None:
            return offer.numbers.get(number)
        if item.text.strip() == texts.WECHAT_ADVISOR_KEYWORD:
            return offer.advisor
        return None

    def _push_number(self, item: Inbound) -> tuple[int, datetime | None] | None:
        """A typed number, and when this process last offered the follower numbers: a push sent
        after that (by another process too: `lawbot campaign send`, the leader) is what the
        number answers."""
        number = typed_number(item.text) if item.kind == "text" else None
        if number is None:
            return None
        offered = self.choices.current(item.openid)
        if offered.numbers or offered.advisor is not None:
            return number, self.choices.offered_at(item.openid)
        return number, None

    def _prune(self) -> None:
        now = time.monotonic()
        for key, job in list(self._jobs.items()):
            if job.task.done() and now - job.started > JOB_SECONDS:
                del self._jobs[key]

    def _defer(self, job: _Job) -> None:
        if not job.deferred:
            job.deferred = True
            self.notifier.spawn(self._send_later(job))

    async def _work(
        self, item: Inbound, action: str | None, push: tuple[int, datetime | None] | None
    ) -> _Turn:
        """Ask the services (in a worker thread), render the reply, send the notices."""
        try:
            outcomes, ledger_key = await run_in_threadpool(self._converse, item, action, push)
        except Exception:
            logger.exception("answering WeChat update %s failed", item.key)
            return _Turn([texts.BUSY])
        replies = [r for o in outcomes for r in o.replies]
        notices = tuple(n for o in outcomes for n in o.notices)
        if notices:
            self.notifier.spawn(self._deliver_notices(notices))
        if not replies:
            return _Turn([], ledger_key)
        rendered = render(replies)
        self.choices.remember(item.openid, rendered.offer)
        return _Turn(split_text(rendered.text), ledger_key)

    async def _finish(self, job: _Job, *, rest: bool = True) -> None:
        """After a passive reply: send what did not fit in it, then mark the update replied."""
        if job.finished:
            return
        job.finished = True
        turn = job.task.result()
        if rest and len(turn.chunks) > 1:
            await self.notifier.send(job.item.openid, "\n".join(turn.chunks[1:]))
        if turn.ledger_key is not None:
            await run_in_threadpool(self.services.consultation.mark_replied, turn.ledger_key)

    async def _send_later(self, job: _Job) -> None:
        """The reply was not ready in time: send it as customer-service messages when it is."""
        turn = await job.task
        if job.finished:
            return
        job.finished = True
        if turn.chunks:
            result = await self.notifier.send(job.item.openid, "\n".join(turn.chunks))
            if result is not Delivery.SENT:
                logger.warning(
                    "reply to WeChat update %s not delivered (%s)", job.item.key, result
                )
                return
        if turn.ledger_key is not None:
            await run_in_threadpool(self.services.consultation.mark_replied, turn.ledger_key)

    async def _deliver_notices(self, notices: tuple[Notice, ...]) -> None:
        mine = tuple(n for n in notices if n.channel == CHANNEL)
        others = tuple(n for n in notices if n.channel != CHANNEL)
        try:
            if mine:
                await self.notifier.deliver(mine)
            if others:
                await (self._notify or _log_notices)(others)
        except Exception:
            logger.exception("delivering %d notices from the WeChat channel failed", len(notices))

    # --- service calls (in a worker thread) -----------------------------------------------------

    def _converse(
        self,
        item: Inbound,
        action: str | None,
        push: tuple[int, datetime | None] | None = None,
    ) -> tuple[list[Outcome], str | None]:
        """Run the update through the services; return the outcomes and the ledger key used."""
        service = self.services.consultation
        sender = Sender(channel=CHANNEL, user_id=item.openid, chat_id=item.openid)
        if item.kind == "unsubscribe":
            service.set_subscription(sender, subscribed=False)  # no reply: they left
            return [], None
        if push is not None:
            number, after = push
            action = (
                self.services.campaigns.typed_push_choice(
                    CHANNEL, item.openid, number, within=CHOICE_WINDOW, after=after
                )
                or action
            )
        greeted = self._greeted(sender)
        out: list[Outcome] = []
        ledger_key: str | None = None
        if item.kind == "subscribe" or (item.kind == "scan" and not greeted):
            out.append(service.start(sender, item.text or None))
        elif item.kind == "scan":
            if item.text:
                out.append(service.act(sender, actions.encode(actions.VILLAGE, item.text)))
        else:
            if not greeted:
                out.append(service.start(sender))
            if action is not None:
                out.append(self._act(sender, action))
            elif item.kind == "click":
                if item.text == menu.CONSULT:
                    out.append(service.command(sender, "help"))
                elif item.text == menu.LEARN:
                    out.append(service.command(sender, "topics"))
                elif item.text == menu.ADVISOR:
                    ledger_key = item.key
                    out.append(self._ask(sender, texts.WECHAT_ADVISOR_KEYWORD, item.key))
            elif item.kind == "text" and (command := _COMMAND.fullmatch(item.text.strip())):
                arg = (command.group(2) or "").strip()
                out.append(service.command(sender, command.group(1), arg))
            elif item.kind == "text" or (item.kind == "voice" and item.text):
                ledger_key = item.key
                out.append(self._ask(sender, item.text, item.key))
            else:  # a voice note WeChat did not transcribe, a photo, a video...
                ledger_key = item.key
                out.append(service.unsupported(sender, item.kind, update_key=item.key))
        if any(o.duplicate for o in out):
            return [], None  # answered before this process remembered it: nothing again
        return [*out, *self._later(sender)], ledger_key

    def _act(self, sender: Sender, action: str) -> Outcome:
        """Carry out a picked button: a push's 👍有用/退订 goes to the campaign service."""
        if actions.decode(action)[0] in PUSH_ACTIONS:
            answer = self.services.campaigns.click(CHANNEL, sender.user_id, action)
            return Outcome((Reply(answer),))
        return self.services.consultation.act(sender, action)

    def _ask(self, sender: Sender, text: str, update_key: str) -> Outcome:
        service = self.services.consultation
        try:
            return service.ask(sender, text, update_key=update_key)
        except IntegrityError:
            # Another process stored the same update first: asking again finds its record.
            return service.ask(sender, text, update_key=update_key)

    def _later(self, sender: Sender) -> list[Outcome]:
        """Held messages released now, and advisors' answers that could not be sent before."""
        service = self.services.consultation
        released = service.release_held(sender)
        waiting = service.inbox(sender)
        if waiting.replies:
            note = Outcome((Reply(texts.WECHAT_LATE_ANSWER_NOTE),))
            return [*released, note, waiting]
        return released

    def _greeted(self, sender: Sender) -> bool:
        with self.services.consultation.db.session() as session:
            villager = repo.get_villager(
                session=session, channel=sender.channel, channel_user_id=sender.user_id
            )
            return villager is not None and villager.consent_at is not None


async def _log_notices(notices: Sequence[Notice]) -> None:
    for notice in notices:
        logger.warning(
            "notice for %s user %s (escalation %s) not delivered by the WeChat channel; "
            "advisors still see it in /queue",
            notice.channel,
            notice.user_id,
            notice.escalation_id,
        )


def build_wechat(
    services: Services,
    *,
    settings: Wechat | None = None,
    client: WechatClient | None = None,
    notify: Notify | None = None,
) -> WechatChannel:
    """Build the WeChat channel over `services`; mount its `.routes` (settings from `[wechat]`).

    Without `client`, one is made from `[wechat] app_id` and `LAWBOT_WECHAT_SECRET` (none when
    either is missing: passive replies only). `notify` delivers the notices for others (advisor
    cards); notices for WeChat followers go to the channel's own `notifier`.
    """
    settings = settings or services.config.wechat.resolved()
    secret = Wechat.secret()
    if client is None and settings.app_id and secret:
        client = WechatClient(
            app_id=settings.app_id, secret=secret, base_url=settings.api_base_url
        )
    if client is None:
        logger.warning(
            "WeChat: no app_id or LAWBOT_WECHAT_SECRET: replies slower than %ss and advisors' "
            "answers wait for the follower's next message",
            settings.reply_seconds,
        )
    return WechatChannel(services, settings=settings, client=client, notify=notify)


def build_wechat_app(services: Services, **kwargs: Any) -> tuple[Starlette, WechatChannel]:
    """Build a Starlette app serving only `/wechat` (for tests and a stand-alone process)."""
    channel = build_wechat(services, **kwargs)
    return Starlette(routes=channel.routes), channel
