"""`lawbot`: the command line of the village legal consultation bot."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from bot import texts
from bot.config import Config, ConfigError, load_config
from bot.services.outcomes import Sender
from bot.services.text_hygiene import printable

if TYPE_CHECKING:
    from bot.services.drafts import DraftService

__all__ = ["app", "main"]

app = typer.Typer(
    help="乡村法律咨询机器人 / Village legal consultation bot.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="数据库 / Database schema.", no_args_is_help=True)
config_app = typer.Typer(help="配置 / Configuration.", no_args_is_help=True)
kb_app = typer.Typer(help="知识库 / Knowledge base.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.add_typer(kb_app, name="kb")
advisor_app = typer.Typer(
    help="法律顾问 / Advisor side (for the console channel).", no_args_is_help=True
)
app.add_typer(advisor_app, name="advisor")
drafts_app = typer.Typer(help="问答草稿 / Draft FAQ entries from advisors' answers.")
kb_app.add_typer(drafts_app, name="drafts")

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="配置文件 / config file (else $LAWBOT_CONFIG, ./config.toml)."
    ),
]


class _State:
    config_path: Path | None = None
    loaded: Config | None = None  # the config this run loaded (named in error lines)


_state = _State()


@app.callback()
def _root(
    config: ConfigOption = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="详细日志 / debug logging.")
    ] = False,
) -> None:
    """乡村法律咨询机器人 / Village legal consultation bot."""
    _state.config_path = config
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def get_config(explicit: Path | None = None) -> Config:
    """Load the config chosen on the command line, or exit with one clear error line."""
    try:
        _state.loaded = load_config(explicit or _state.config_path)
        return _state.loaded
    except ConfigError as exc:
        err.print(f"[red]错误 error:[/red] {exc}")
        raise typer.Exit(2) from None


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """升级数据库结构 / Apply database migrations."""
    from storage.db import Database

    cfg = get_config(config)
    db = Database(cfg.database.url, pool_size=cfg.database.pool_size)
    db.upgrade()
    out.print(f"数据库已是最新 database at revision {db.current_revision()} ({db.backend})")
    db.dispose()


@config_app.command("check")
def config_check(config: ConfigOption = None) -> None:
    """检查配置 / Validate the configuration and summarise it."""
    cfg = get_config(config)
    source = cfg.source or "built-in defaults"
    out.print(f"配置正确 config OK: {source}")
    out.print(
        f"  {cfg.town.name}（{cfg.town.county}），{len(cfg.villages)} 个村/场，时区 {cfg.town.timezone}"
    )
    out.print(f"  数据库 database: {_safe_url(cfg.database.url)}")
    from storage.db import Database

    db = Database(cfg.database.url, pool_size=1)
    try:
        db.ping()
    except Exception as exc:
        err.print(
            f"[red]错误 error:[/red] 连不上数据库 cannot reach the database "
            f"{_safe_url(cfg.database.url)}: {_first_line(getattr(exc, 'orig', None) or exc)}"
        )
        raise typer.Exit(2) from None
    finally:
        db.dispose()
    out.print("  数据库连接正常 database reachable")
    out.print(f"  Bot API: {cfg.telegram.base_url}")
    missing = [v.name for v in cfg.villages if v.advisor_id is None]
    if missing:
        out.print(f"  [yellow]未配置法律顾问 no advisor:[/yellow] {'、'.join(missing)}")


@app.command("chat")
def chat(
    config: ConfigOption = None,
    user: Annotated[
        str, typer.Option("--user", help="终端用户 id / console user id.")
    ] = "console-user",
    village: Annotated[
        str | None, typer.Option("--village", help="村代码 / village code.")
    ] = None,
    semantic: Annotated[
        bool | None, typer.Option("--semantic/--no-semantic", help="语义匹配 / semantic signal.")
    ] = None,
) -> None:
    """终端对话 / Talk to the bot in the terminal (console channel)."""
    from bot.channels.console import ConsoleChat
    from bot.wiring import build_service

    cfg = get_config(config)
    if village is not None and cfg.village(village) is None:
        codes = ", ".join(v.code for v in cfg.villages)
        err.print(
            f"[red]错误 error:[/red] 没有这个村代码 unknown village code `{village}` (known: {codes})"
        )
        raise typer.Exit(2)
    service = build_service(cfg, semantic=semantic)
    try:
        ConsoleChat(service, user_id=user, out=sys.stdout).run(_input_lines(), village=village)
    finally:
        service.db.dispose()


def _input_lines() -> Iterator[bytes]:
    # Bytes, not text: a line in another encoding must not stop the conversation.
    stdin = sys.stdin.buffer
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            sys.stdout.write("您> ")
            sys.stdout.flush()
        try:
            line = stdin.readline()
        except KeyboardInterrupt:
            return
        if not line:
            return
        yield line


@app.command("run")
def run(
    config: ConfigOption = None,
    webhook: Annotated[
        str | None, typer.Option("--webhook", help="公网 webhook 地址 / public webhook URL.")
    ] = None,
    listen: Annotated[
        str, typer.Option("--listen", help="webhook 监听 HOST:PORT.")
    ] = "127.0.0.1:8443",
) -> None:
    """运行 Telegram 机器人 / Run the Telegram bot (polling, or webhook with --webhook)."""
    from bot.channels.telegram import build_application
    from bot.config import token_from_env
    from bot.wiring import build_services

    cfg = get_config(config)
    token = token_from_env()
    if token is None:
        err.print(
            "[red]错误 error:[/red] 没有机器人令牌 missing bot token: set the LAWBOT_TOKEN environment variable"
        )
        raise typer.Exit(2)
    host, _, port = listen.rpartition(":")
    if webhook and (not host or not port.isdigit()):
        err.print(f"[red]错误 error:[/red] --listen 应为 HOST:PORT, got `{listen}`")
        raise typer.Exit(2)
    logging.getLogger().setLevel(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    services = build_services(cfg)
    service = services.consultation
    application = build_application(services, token)
    from bot.channels.telegram import reliability

    reliability.install(application)  # journal every update before Telegram's offset moves past it
    try:
        if webhook:
            path = (
                webhook.rstrip("/").rsplit("/", 1)[-1] if "/" in webhook.split("//", 1)[-1] else ""
            )
            application.run_webhook(
                listen=host, port=int(port), url_path=path, webhook_url=webhook
            )
        else:
            application.run_polling()
    finally:
        service.db.dispose()


@app.command("bench-storage")
def bench_storage(
    config: ConfigOption = None,
    count: Annotated[int, typer.Option("--count", "-n", help="咨询条数 / consultations.")] = 1000,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="数据库 / database URL.")
    ] = None,
) -> None:
    """记录一条咨询的耗时 / Cost of logging one consultation (median, p99)."""
    from bot.ops.benchmarks import storage_cost
    from bot.wiring import open_database

    cfg = get_config(config)
    db = open_database(cfg, database_url)
    timing = storage_cost(db, count=count)
    out.print(
        f"{db.backend}: {timing.count} consultations, median {timing.p50_ms:.2f} ms, "
        f"p99 {timing.p99_ms:.2f} ms, {timing.per_second:.0f}/s"
    )
    db.dispose()


@app.command("bench-pipeline")
def bench_pipeline(
    config: ConfigOption = None,
    updates: Annotated[int, typer.Option("--updates", "-n", help="更新条数 / updates.")] = 2000,
    users: Annotated[int, typer.Option("--users", help="村民人数 / villagers.")] = 200,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="数据库 / database URL.")
    ] = None,
    semantic: Annotated[
        bool, typer.Option("--semantic/--no-semantic", help="语义匹配 / semantic signal.")
    ] = True,
) -> None:
    """端到端吞吐 / Updates through the real Application and the Bot API emulator."""
    from bot.ops.benchmarks import pipeline_throughput
    from bot.wiring import build_service, open_database

    cfg = get_config(config)
    db = open_database(cfg, database_url)
    service = build_service(cfg, db=db, semantic=semantic)
    timing = pipeline_throughput(cfg, service, updates=updates, users=users)
    out.print(
        f"{db.backend}: {timing.count} updates in {timing.seconds:.1f} s = {timing.per_second:.0f} updates/s; "
        f"reply latency p50 {timing.p50_ms:.1f} ms, p99 {timing.p99_ms:.1f} ms"
    )
    db.dispose()


def _advisor_sender(cfg: Config, escalation_id: int | None, as_user: str | None) -> Sender:
    if as_user:
        return Sender(channel="telegram", user_id=as_user, chat_id=as_user)
    from storage.db import Database

    village_code = None
    if escalation_id is not None:
        from storage.escalations import get_escalation

        db = Database(cfg.database.url)
        with db.session() as session:
            escalation = get_escalation(session=session, escalation_id=escalation_id)
            village_code = escalation.village_code if escalation else None
        db.dispose()
    village = cfg.village(village_code)
    user = (
        str(village.advisor_id)
        if village and village.advisor_id
        else str(next(iter(cfg.justice_office.telegram_ids), ""))
    )
    return Sender(channel="telegram", user_id=user, chat_id=user)


@advisor_app.command("reply")
def advisor_reply(
    escalation_id: Annotated[int, typer.Argument(help="咨询编号 / escalation id.")],
    text: Annotated[str, typer.Argument(help="答复内容 / the answer.")],
    config: ConfigOption = None,
    as_user: Annotated[
        str | None,
        typer.Option("--as", help="顾问 id / advisor id (default: the village's advisor)."),
    ] = None,
) -> None:
    """答复一条转办的咨询 / Answer an escalation as the village's advisor."""
    from bot.wiring import build_service

    cfg = get_config(config)
    sender = _advisor_sender(cfg, escalation_id, as_user)
    service = build_service(cfg, semantic=False)
    try:
        outcome = service.advisor_command(sender, "reply", f"{escalation_id} {text}")
        for reply in outcome.replies:
            out.print(reply.text, markup=False)
    finally:
        service.db.dispose()


@advisor_app.command("queue")
def advisor_queue(
    config: ConfigOption = None,
    as_user: Annotated[str | None, typer.Option("--as", help="顾问 id / advisor id.")] = None,
) -> None:
    """待处理的咨询 / List open escalations: one advisor's with --as, else the whole town's."""
    from bot.wiring import build_service

    cfg = get_config(config)
    service = build_service(cfg, semantic=False)
    try:
        if as_user:
            outcome = service.advisor_command(Sender("telegram", as_user, as_user), "queue")
        else:
            outcome = service.escalations.overview()
        for reply in outcome.replies:
            out.print(printable(reply.text), markup=False)
    finally:
        service.db.dispose()


@contextmanager
def _drafts(config: Path | None) -> Iterator[DraftService]:
    """Open the draft service; a refused edit or decision is one clear error line, exit 1."""
    from bot.services.drafts import DraftError, DraftService
    from bot.wiring import open_database
    from storage.clock import utcnow

    cfg = get_config(config)
    db = open_database(cfg)
    try:
        yield DraftService(config=cfg, db=db, clock=utcnow)
    except DraftError as exc:
        err.print(f"[red]错误 error:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        db.dispose()


@drafts_app.callback(invoke_without_command=True)
def drafts_list(
    ctx: typer.Context,
    config: ConfigOption = None,
    all_states: Annotated[
        bool, typer.Option("--all", help="包括已处理的 / include decided drafts.")
    ] = False,
) -> None:
    """列出问答草稿 / List draft FAQ entries."""
    if ctx.invoked_subcommand is not None:
        return
    with _drafts(config) as service:
        drafts = service.waiting(state=None if all_states else "draft")
    for draft in drafts:
        kind = texts.DRAFT_KINDS.get(draft.kind, draft.kind)
        out.print(
            printable(
                f"#{draft.id} [{draft.state}] [{kind}] [{draft.entry_id or draft.topic_key or '?'}]"
                f" {draft.question[:60]}"
            ),
            markup=False,
        )
        if draft.answer:
            out.print(printable(f"    答复：{draft.answer[:80]}"), markup=False)
        if draft.reason:
            out.print(f"    理由：{draft.reason}", markup=False)


@drafts_app.command("edit")
def drafts_edit(
    draft_id: Annotated[int, typer.Argument(help="草稿编号 / draft id.")],
    config: ConfigOption = None,
    question: Annotated[str | None, typer.Option("--question")] = None,
    answer: Annotated[str | None, typer.Option("--answer")] = None,
    short: Annotated[str | None, typer.Option("--short")] = None,
    variant: Annotated[
        list[str] | None, typer.Option("--variant", help="问法（可多次）/ repeatable.")
    ] = None,
    basis: Annotated[
        list[str] | None,
        typer.Option("--basis", help="法律名:条号（可多次）/ LAW:ARTICLE, repeatable."),
    ] = None,
    next_steps: Annotated[str | None, typer.Option("--next-steps")] = None,
    topic: Annotated[str | None, typer.Option("--topic", help="主题 key / topic key.")] = None,
) -> None:
    """修改草稿 / Edit a draft before approval."""
    from bot.services.drafts import parse_basis

    with _drafts(config) as service:
        service.edit(
            draft_id,
            question=question,
            answer=answer,
            short=short,
            variants=variant,
            basis=parse_basis(basis) if basis else None,
            next_steps=next_steps,
            topic_key=topic,
        )
    out.print(f"草稿 #{draft_id} 已修改 updated")


@drafts_app.command("approve")
def drafts_approve(
    draft_id: Annotated[int, typer.Argument(help="草稿编号 / draft id.")],
    config: ConfigOption = None,
    actor: Annotated[str, typer.Option("--by", help="审核人 / reviewer.")] = "cli",
) -> None:
    """审核通过并写入知识库 / Approve: write the entry into the drafts KB directory."""
    from bot.wiring import load_knowledge

    with _drafts(config) as service:
        entry_id = service.approve(draft_id, actor=actor, kb=load_knowledge(service.config))
    out.print(f"草稿 #{draft_id} 已上线为 {entry_id}（运行中的机器人一分钟内自动加载）")


@drafts_app.command("reject")
def drafts_reject(
    draft_id: Annotated[int, typer.Argument(help="草稿编号 / draft id.")],
    reason: Annotated[str, typer.Option("--reason", help="理由 / reason.")],
    config: ConfigOption = None,
    actor: Annotated[str, typer.Option("--by", help="审核人 / reviewer.")] = "cli",
) -> None:
    """不采用草稿 / Reject a draft, keeping the reason."""
    with _drafts(config) as service:
        service.reject(draft_id, reason=reason, actor=actor)
    out.print(f"草稿 #{draft_id} 已标记不采用 rejected")


@kb_app.command("check")
def kb_check(
    kb: Annotated[Path | None, typer.Option("--kb", help="知识库目录 / KB directory.")] = None,
    laws: Annotated[
        Path | None,
        typer.Option(
            "--laws", help="法律条文目录，默认自带的条文 / law texts (default: shipped)."
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="不显示警告 / hide warnings.")
    ] = False,
) -> None:
    """检查知识库 / Validate the knowledge base and its citations."""
    from knowledge.check import check_kb
    from knowledge.laws import default_laws_dir
    from knowledge.templates import unknown_fields

    result = check_kb(kb, laws or default_laws_dir())
    for problem in result.problems:
        if problem.error or not quiet:
            out.print(str(problem), markup=False)
    knowledge = result.kb
    phrasings = sum(len(e.phrasings) for e in knowledge.entries)
    for topic in knowledge.topics:
        out.print(f"  {topic.key:<20} {topic.name:<12} {len(topic.entries):>4} 条", markup=False)
    out.print(
        f"{len(knowledge.entries)} 条问答 entries, {phrasings} 种问法 phrasings, "
        f"{len(knowledge.topics)} 个主题 topics, {len(knowledge.lexicon.synonyms)} 对同义词 synonyms, "
        f"{len(knowledge.campaigns)} 条推送 campaign messages; "
        f"{len(result.errors)} 个错误 errors, {len(result.warnings)} 个警告 warnings"
    )
    unknown = unknown_fields(knowledge)
    for where, name in unknown:
        out.print(f"error: {where}: 未知模板字段 unknown template field {{{name}}}", markup=False)
    if result.errors or unknown:
        raise typer.Exit(1)


@kb_app.command("coverage")
def kb_coverage(
    set_path: Annotated[
        Path,
        typer.Option("--set", help="标注过的问题集 / labelled questions (JSON lines, by id)."),
    ] = Path("knowledge/eval/realqa/labels.jsonl"),
    split: Annotated[
        str | None,
        typer.Option("--split", help="只看 tune 或 test 一半 / only the tune or test half."),
    ] = None,
    kb: Annotated[Path | None, typer.Option("--kb", help="知识库目录 / KB directory.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON 输出 / as JSON.")] = False,
) -> None:
    """问答库覆盖率 / Share of in-scope labelled questions with an answer, per topic."""
    import json as json_module

    from knowledge.coverage import coverage, read_labels
    from knowledge.loader import KbError, default_kb_dir, load_kb
    from knowledge.realqa import RealQaMissing, load_split

    try:
        ids = None
        if split is not None:
            halves = load_split()
            if split not in halves:
                err.print(f"[red]错误 error:[/red] --split must be one of {', '.join(halves)}")
                raise typer.Exit(2)
            ids = halves[split]
        labels = read_labels(set_path, ids)
        report = coverage(load_kb(kb or default_kb_dir()), labels)
    except (OSError, ValueError, KbError, RealQaMissing) as exc:
        err.print(f"[red]错误 error:[/red] {exc}")
        raise typer.Exit(2) from None
    if as_json:
        out.print(json_module.dumps(report.as_json(), ensure_ascii=False, indent=1), markup=False)
        return
    table = Table(
        title=f"覆盖率 coverage: {report.covered}/{report.in_scope} = {report.share:.1%}"
    )
    for column in ("topic", "主题", "in scope", "covered", "share"):
        table.add_column(column)
    for row in report.topics:
        table.add_row(row.key, row.name, str(row.in_scope), str(row.covered), f"{row.share:.0%}")
    out.print(table)
    out.print("未覆盖最多的 most frequent uncovered: " + "，".join(
        f"{key} {n}" for key, n in report.uncovered[:10]))  # fmt: skip
    if report.unknown_entries:
        out.print(f"[yellow]标注里有 {len(report.unknown_entries)} 个已不存在的条目[/yellow]: "
                  + ", ".join(report.unknown_entries[:10]))  # fmt: skip


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _register_commands() -> None:
    from bot.cli import campaign as cli_campaign
    from bot.cli import http as cli_http
    from bot.cli import matching as cli_matching
    from bot.cli import ops as cli_ops
    from bot.cli import report as cli_report
    from bot.cli import users as cli_users
    from bot.cli import wechat as cli_wechat
    from knowledge.matcher import MatchSettings

    def configured_settings() -> MatchSettings:
        from bot.wiring import match_settings

        return match_settings(get_config())

    cli_matching.register(app, configured_settings, lambda: get_config().kb_fields())
    cli_report.register(app, get_config)
    cli_campaign.register(app, get_config)
    cli_ops.register(app, get_config)
    cli_http.register(app, get_config)
    cli_wechat.register(app, get_config)
    cli_users.register(app, get_config)


_register_commands()


def main() -> None:
    """Run the `lawbot` command; an unreachable database or Bot API is one line, exit 2."""
    os.environ.setdefault("PTB_TIMEDELTA", "1")  # PTB 22: retry_after as timedelta, no warning
    from sqlalchemy.exc import OperationalError
    from telegram.error import InvalidToken, NetworkError

    try:
        app()
    except OperationalError as exc:
        err.print(
            f"[red]错误 error:[/red] 连不上数据库 cannot reach the database {_configured_db()}: "
            f"{_first_line(exc.orig or exc)}",
            markup=True,
        )
        raise SystemExit(2) from None
    except InvalidToken:
        err.print(
            "[red]错误 error:[/red] 机器人令牌无效 the Bot API refused the token (LAWBOT_TOKEN)"
        )
        raise SystemExit(2) from None
    except NetworkError as exc:
        err.print(
            f"[red]错误 error:[/red] 连不上 Bot API cannot reach the Bot API "
            f"{_configured_api()}: {_first_line(exc)}"
        )
        raise SystemExit(2) from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def _configured_db() -> str:
    loaded = _state.loaded
    return _safe_url(loaded.database.url) if loaded else "(database.url)"


def _configured_api() -> str:
    loaded = _state.loaded
    return loaded.telegram.base_url if loaded else "(telegram.base_url)"


if __name__ == "__main__":
    main()
