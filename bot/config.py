"""Load and validate the TOML configuration into frozen pydantic models, one per TOML table.

The file is chosen by `--config FILE`, else `LAWBOT_CONFIG`, else `./config.toml`; with none of
them present the example's defaults apply. Any wrong or missing key fails fast with `ConfigError`,
whose message is one line naming the key and the file.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import tomllib
from datetime import time
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.services.campaign_config import CampaignDef
from knowledge.laws import default_laws_dir

__all__ = [
    "Config",
    "ConfigError",
    "Village",
    "find_config_path",
    "load_config",
]

ENV_CONFIG = "LAWBOT_CONFIG"
ENV_TOKEN = "LAWBOT_TOKEN"
_EXAMPLE = "config.example.toml"
_CODE = re.compile(r"^[a-z0-9_]{2,32}$")


logger = logging.getLogger(__name__)


class ConfigError(Exception):
    """The configuration cannot be used; the message names the key and the file."""


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _parse_clock(value: Any) -> Any:
    if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value):
        hours, minutes = map(int, value.split(":"))
        return time(hours, minutes)
    return value


Clock = Annotated[time, Field(description="HH:MM")]


class Town(_Table):
    """[town]: the town the bot serves."""

    name: str = "曹溪镇"
    county: str = "弋阳县"
    city: str = "上饶市"
    province: str = "江西省"
    timezone: str = "Asia/Shanghai"

    def fields(self) -> dict[str, str]:
        """Return the values of the KB's template fields (`{town}`, `{county}` …)."""
        return {
            "town": self.name,
            "county": self.county,
            "city": self.city,
            "province": self.province,
        }

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        """Return the town's time zone."""
        return ZoneInfo(self.timezone)


class JusticeOffice(_Table):
    """[justice_office]: the town's 司法所."""

    name: str = "司法所"
    phone: str = ""
    address: str = ""
    telegram_ids: tuple[int, ...] = ()


class Staff(_Table):
    """[staff]: who may see statistics and run pushes; who gets error notices."""

    staff_ids: tuple[int, ...] = ()
    admin_ids: tuple[int, ...] = ()


class Village(_Table):
    """[[villages]]: one village (or forest farm) with its advisors."""

    name: str
    code: str
    advisor_name: str = ""  # how villagers address the advisor, e.g. 张律师
    advisor_id: int | None = None
    backup_advisor_id: int | None = None

    @field_validator("code")
    @classmethod
    def _code_is_short(cls, value: str) -> str:
        if not _CODE.match(value):
            raise ValueError("must be 2–32 lowercase letters, digits or _ (used in deep links)")
        return value


class DatabaseSettings(_Table):
    """[database]: where consultations are stored."""

    url: str = "sqlite:///data/lawbot.sqlite3"
    pool_size: int = Field(default=5, ge=1, le=100)

    @field_validator("url")
    @classmethod
    def _supported(cls, value: str) -> str:
        if not value.startswith(
            ("sqlite://", "postgresql://", "postgresql+psycopg://", "postgres://")
        ):
            raise ValueError("must start with sqlite:// or postgresql://")
        return value


class Telegram(_Table):
    """[telegram]: the Bot API server and group behaviour."""

    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"

    @model_validator(mode="before")
    @classmethod
    def _retired_keys(cls, data: Any) -> Any:
        # In groups the bot always answers only when mentioned; the switch was never read.
        if isinstance(data, dict) and "groups_need_mention" in data:
            data = {k: v for k, v in data.items() if k != "groups_need_mention"}
            logger.warning("config: telegram.groups_need_mention is no longer used; remove it")
        return data


class Conversation(_Table):
    """[conversation]: pacing and browsing."""

    max_messages_per_minute: int = Field(default=12, ge=1, le=600)
    topic_questions: int = Field(default=6, ge=1, le=20)
    # after the advisor answers, the villager's messages go to that thread for this long
    thread_hours: float = Field(default=24, gt=0, le=24 * 30)


class Knowledge(_Table):
    """[knowledge]: the knowledge base and the optional law texts."""

    kb_dir: str = ""
    laws_dir: str = ""
    drafts_dir: str = "data/kb-drafts"


class Matching(_Table):
    """[matching]: the matcher's signal and, optionally, decision thresholds.

    Unset thresholds take the fitted ones shipped with the weights (`knowledge/matcher_weights.py`,
    chosen on the labelled tune split); setting one overrides just that band.
    """

    tau_high: float | None = Field(default=None, ge=0, le=1)
    tau_confirm: float | None = Field(default=None, ge=0, le=1)
    tau_low: float | None = Field(default=None, ge=0, le=1)
    delta: float | None = Field(default=None, ge=0, le=1)
    semantic: bool = True
    cache_dir: str = "data/cache"

    @model_validator(mode="after")
    def _ordered(self) -> Matching:
        if self.tau_low is not None and self.tau_high is not None and self.tau_low > self.tau_high:
            raise ValueError("tau_low must not exceed tau_high")
        return self


class Sla(_Table):
    """[sla]: how long an escalation may wait before reminder and failover."""

    remind_hours: float = Field(default=12, gt=0)
    backup_hours: float = Field(default=24, gt=0)
    office_hours: float = Field(default=48, gt=0)
    urgent_minutes: float = Field(default=15, gt=0, le=24 * 60)
    quiet_start: Clock = time(22, 0)
    quiet_end: Clock = time(7, 0)

    _clock = field_validator("quiet_start", "quiet_end", mode="before")(_parse_clock)

    @model_validator(mode="after")
    def _ordered(self) -> Sla:
        if not self.remind_hours <= self.backup_hours <= self.office_hours:
            raise ValueError("need remind_hours ≤ backup_hours ≤ office_hours")
        return self


class Campaigns(_Table):
    """[campaigns]: pacing and timing of publicity pushes."""

    rate_per_second: float = Field(default=25, gt=0, le=30)
    grace_hours: float = Field(default=6, ge=0)
    quiet_start: Clock = time(21, 0)
    quiet_end: Clock = time(8, 0)
    schedule: tuple[CampaignDef, ...] = ()

    _clock = field_validator("quiet_start", "quiet_end", mode="before")(_parse_clock)


class Privacy(_Table):
    """[privacy]: retention and small-cell suppression."""

    retention_days: int = Field(default=730, ge=1)
    small_cell: int = Field(default=3, ge=1)


class Http(_Table):
    """[http]: the HTTP JSON API channel (`lawbot serve`)."""

    listen: str = "127.0.0.1:8080"
    max_text_chars: int = Field(default=2000, ge=1, le=20_000)
    user_requests_per_minute: int = Field(default=30, ge=1, le=10_000)
    key_requests_per_minute: int = Field(default=600, ge=1, le=1_000_000)
    idempotency_hours: float = Field(default=24, gt=0, le=24 * 30)

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:8080")
        return value


class Wechat(_Table):
    """[wechat]: the WeChat Official Account channel (`/wechat`, off without a token).

    Each key may also come from the environment (`LAWBOT_WECHAT_APP_ID`, `LAWBOT_WECHAT_TOKEN`,
    `LAWBOT_WECHAT_AES_KEY`); the app secret only from `LAWBOT_WECHAT_SECRET`.
    """

    app_id: str = ""
    token: str = ""
    encoding_aes_key: str = ""
    api_base_url: str = "https://api.weixin.qq.com"
    reply_seconds: float = Field(default=4.0, gt=0, le=4.8)
    # Publicity pushes to followers who have not written for 48 hours (no customer-service
    # message then) go out as this template message (fields first/keyword1/remark, see
    # docs/wechat.md); empty: those deliveries are recorded skipped.
    push_template_id: str = ""

    @field_validator("encoding_aes_key")
    @classmethod
    def _aes_key(cls, value: str) -> str:
        if value and len(value) != 43:
            raise ValueError("must be the 43-character EncodingAESKey from the WeChat console")
        return value

    def resolved(self) -> Wechat:
        """Return these settings with the environment's values filled in over the file's."""
        env = {
            "app_id": os.environ.get("LAWBOT_WECHAT_APP_ID", "").strip(),
            "token": os.environ.get("LAWBOT_WECHAT_TOKEN", "").strip(),
            "encoding_aes_key": os.environ.get("LAWBOT_WECHAT_AES_KEY", "").strip(),
        }
        return self.model_validate({**self.model_dump(), **{k: v for k, v in env.items() if v}})

    @staticmethod
    def secret() -> str | None:
        """Return the app secret from `LAWBOT_WECHAT_SECRET` (never from a file), or None."""
        return os.environ.get("LAWBOT_WECHAT_SECRET", "").strip() or None


class ConsoleSettings(_Table):
    """[console]: the staff web console under /console on `lawbot serve`."""

    enabled: bool = True
    secret_file: str = "data/console-secret"  # session-signing key, made once (0600)
    session_hours: float = Field(default=8, gt=0, le=24 * 7)
    https_only: bool = False  # set true behind HTTPS: the session cookie is then Secure
    logins_per_minute: int = Field(default=10, ge=1, le=1000)  # per client address


class Notify(_Table):
    """[notify]: e-mail copies of advisor cards, reminders and urgent alerts (off when empty).

    `emails` maps a person's id as the config names them (advisor_id, staff_ids, the office's
    telegram_ids) to an address; the SMTP password comes only from `LAWBOT_SMTP_PASSWORD`.
    """

    smtp_url: str = ""  # smtp://host:587 (STARTTLS when offered) or smtps://host:465
    from_address: str = ""
    username: str = ""
    emails: dict[str, str] = {}

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: str) -> str:
        if value and not re.fullmatch(r"smtps?://[^\s/:]+(:\d{1,5})?/?", value):
            raise ValueError("must be smtp://HOST:PORT or smtps://HOST:PORT")
        return value

    @model_validator(mode="after")
    def _sender(self) -> Notify:
        if self.smtp_url and "@" not in self.from_address:
            raise ValueError("from_address is needed when smtp_url is set")
        return self

    @staticmethod
    def password() -> str | None:
        """Return the SMTP password from `LAWBOT_SMTP_PASSWORD`, or None."""
        return os.environ.get("LAWBOT_SMTP_PASSWORD") or None


class Scheduler(_Table):
    """[scheduler]: whether this process runs the SLA sweeps and campaign jobs."""

    enabled: bool = True


class Config(_Table):
    """The whole configuration; `source` is the file it came from (None for built-in defaults)."""

    town: Town = Town()
    justice_office: JusticeOffice = JusticeOffice()
    staff: Staff = Staff()
    villages: tuple[Village, ...] = ()
    database: DatabaseSettings = DatabaseSettings()
    telegram: Telegram = Telegram()
    conversation: Conversation = Conversation()
    knowledge: Knowledge = Knowledge()
    matching: Matching = Matching()
    sla: Sla = Sla()
    campaigns: Campaigns = Campaigns()
    privacy: Privacy = Privacy()
    http: Http = Http()
    wechat: Wechat = Wechat()
    console: ConsoleSettings = ConsoleSettings()
    notify: Notify = Notify()
    scheduler: Scheduler = Scheduler()
    source: Path | None = None

    @field_validator("villages")
    @classmethod
    def _unique_villages(cls, villages: tuple[Village, ...]) -> tuple[Village, ...]:
        for attr in ("code", "name"):
            values = [getattr(v, attr) for v in villages]
            duplicates = sorted({v for v in values if values.count(v) > 1})
            if duplicates:
                raise ValueError(f"duplicate village {attr}: {', '.join(duplicates)}")
        return villages

    def kb_fields(self) -> dict[str, str]:
        """The values of the KB's template fields: the town's places and the justice office."""
        office = self.justice_office
        return {
            **self.town.fields(),
            "office": office.name,
            "office_phone": office.phone or "12348",
        }

    def village(self, code: str | None) -> Village | None:
        """Return the village with this code, or None."""
        return next((v for v in self.villages if v.code == code), None)

    def is_staff(self, user_id: int) -> bool:
        """Tell whether a Telegram user id belongs to staff, admins or the justice office."""
        return (
            user_id in self.staff.staff_ids
            or user_id in self.staff.admin_ids
            or user_id in self.justice_office.telegram_ids
        )

    def resolve(self, relative: str) -> Path | None:
        """Resolve a configured path relative to the working directory (None when empty)."""
        return Path(relative).expanduser() if relative else None

    def laws_path(self) -> Path:
        """Return `[knowledge] laws_dir`, or the statute texts shipped with the package."""
        return self.resolve(self.knowledge.laws_dir) or default_laws_dir()


def token_from_env() -> str | None:
    """Return the bot token from the environment, or None when it is not set."""
    token = os.environ.get(ENV_TOKEN, "").strip()
    return token or None


def find_config_path(explicit: Path | None) -> tuple[Path | None, bool]:
    """Choose the config file: --config, else $LAWBOT_CONFIG, else ./config.toml.

    Returns (path, must_exist). A path chosen explicitly must exist; ./config.toml may be absent.
    """
    if explicit is not None:
        return explicit, True
    env = os.environ.get(ENV_CONFIG, "").strip()
    if env:
        return Path(env), True
    local = Path("config.toml")
    return (local, False) if local.is_file() else (None, False)


def example_path() -> Path | None:
    """Return the shipped example config (defaults when no config file is present)."""
    for candidate in (Path.cwd() / _EXAMPLE, Path(__file__).resolve().parent.parent / _EXAMPLE):
        if candidate.is_file():
            return candidate
    return None


def load_config(explicit: Path | None = None) -> Config:
    """Load the configuration chosen by `find_config_path`, or the example's defaults."""
    path, must_exist = find_config_path(explicit)
    if path is None:
        example = example_path()
        return _load_file(example) if example else Config()
    if not path.is_file():
        if must_exist:
            raise ConfigError(f"配置文件不存在 config file not found: {path}")
        return Config()
    return _load_file(path)


def _load_file(path: Path) -> Config:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"配置文件格式错误 invalid TOML in {path}: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"无法读取配置文件 cannot read {path}: {exc}") from exc
    if "source" in data:
        raise ConfigError(f"配置项错误 unknown key `source` in {path}")
    try:
        return Config.model_validate({**data, "source": path})
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None


def _describe(exc: ValidationError, path: Path) -> str:
    error = exc.errors()[0]
    location = error["loc"]
    key = _dotted(location)
    if error["type"] == "extra_forbidden":
        hint = _closest(location)
        suggestion = f" (did you mean `{hint}`?)" if hint else ""
        return f"未知配置项 unknown key `{key}` in {path}{suggestion}"
    if error["type"] == "missing":
        return f"缺少配置项 missing key `{key}` in {path}"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"配置项 `{key}` 的值不对 invalid value in {path}: {message}"


def _dotted(location: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in location:
        if isinstance(part, int):
            parts[-1] = f"{parts[-1]}[{part + 1}]" if parts else f"[{part + 1}]"
        else:
            parts.append(part)
    return ".".join(parts) or "(top level)"


def _closest(location: tuple[int | str, ...]) -> str | None:
    model: type[BaseModel] = Config
    for part in location[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        inner = getattr(annotation, "__args__", (annotation,))[0] if annotation else None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        elif isinstance(inner, type) and issubclass(inner, BaseModel):
            model = inner
    names = [n for n in model.model_fields if n != "source"]
    match = difflib.get_close_matches(str(location[-1]), names, n=1)
    return match[0] if match else None
