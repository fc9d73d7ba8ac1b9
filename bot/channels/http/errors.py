"""Errors of the HTTP API: an English `code` for programs and a Chinese `message` for people."""

from __future__ import annotations

from starlette.responses import JSONResponse

__all__ = ["MESSAGES", "ApiError", "error_response"]

MESSAGES: dict[str, str] = {
    "unauthorized": "API 密钥缺失、错误或已吊销。请在请求头 Authorization: Bearer <密钥> 中提供有效密钥。",
    "bad_json": "请求体不是有效的 JSON 对象。",
    "invalid_field": "字段“{field}”缺失或不正确：{detail}",
    "text_too_long": "消息太长了，最多 {limit} 个字。请分几条发送。",
    "body_too_large": "请求体太大了。",
    "unknown_village": "没有代码为“{village}”的村。",
    "duplicate_message": "这个 message_id 已经处理过，保存的回复已过期；请为新消息使用新的 message_id。",
    "rate_limited": "请求太频繁了，请 {seconds} 秒后再试。",
    "database_unavailable": "服务暂时不可用（数据库连接失败），请稍后再试。",
    "not_found": "没有这个接口。",
    "method_not_allowed": "这个接口不支持该请求方法。",
    "internal_error": "服务内部出错了，请稍后再试。",
}


class ApiError(Exception):
    """A request the API refuses: HTTP status, code, and the Chinese message's parameters."""

    def __init__(
        self,
        status: int,
        code: str,
        *,
        headers: dict[str, str] | None = None,
        field: str | None = None,
        **params: object,
    ) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.headers = headers or {}
        self.field = field
        self.params = params

    def response(self) -> JSONResponse:
        """Render the error as its JSON response."""
        return error_response(
            self.status, self.code, headers=self.headers, field=self.field, **self.params
        )


def error_response(
    status: int,
    code: str,
    *,
    headers: dict[str, str] | None = None,
    field: str | None = None,
    **params: object,
) -> JSONResponse:
    """Return `{"code", "message"[, "field"]}` with the status and headers."""
    body: dict[str, object] = {
        "code": code,
        "message": MESSAGES[code].format(field=field or "", **params),
    }
    if field is not None:
        body["field"] = field
    return JSONResponse(body, status_code=status, headers=headers)
