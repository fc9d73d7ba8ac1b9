"""The OpenAPI 3.1 description of the HTTP API, written by hand to match `bot.channels.http.app`."""

from __future__ import annotations

from typing import Any

from bot.config import Http

__all__ = ["openapi_document"]

_USER = {
    "type": "string",
    "pattern": r"^[A-Za-z0-9._~@+=-]{1,40}$",
    "description": "The villager's opaque id in your system (not a phone number). "
    "Ids are per API key: the same id under two keys is two villagers.",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str, *, retry_after: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _ref("Error")}},
    }
    if retry_after:
        response["headers"] = {
            "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}
        }
    return response


def _replies(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": _ref("Replies")}},
    }


def openapi_document(settings: Http) -> dict[str, Any]:
    """Return the OpenAPI document (limits filled in from `[http]`)."""
    common = {
        "401": _error("Missing, wrong or revoked API key (`unauthorized`)."),
        "429": _error(
            f"Over {settings.user_requests_per_minute} requests a minute for this user or "
            f"{settings.key_requests_per_minute} for this key (`rate_limited`).",
            retry_after=True,
        ),
        "503": _error(
            "The database cannot be reached (`database_unavailable`).", retry_after=True
        ),
    }
    body_errors = {
        "400": _error(
            "Not a JSON object (`bad_json`), or an unknown village (`unknown_village`)."
        ),
        "413": _error(
            f"Text over {settings.max_text_chars} characters (`text_too_long`) or an oversized "
            "body (`body_too_large`)."
        ),
        "422": _error("A field is missing, empty or of the wrong type (`invalid_field`)."),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Village legal consultation bot — HTTP API",
            "version": "1.0.0",
            "description": "Villagers' questions and button presses in, the bot's replies out. "
            "See docs/http-api.md.",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": {
            "/messages": {
                "post": {
                    "operationId": "sendMessage",
                    "summary": "Send a villager's message and get the bot's replies.",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("Message")}},
                    },
                    "responses": {
                        "200": _replies(
                            "The replies (a repeated `message_id` gets the stored body again, "
                            "with the header `Idempotent-Replay: true`)."
                        ),
                        "409": _error(
                            "`message_id` was answered longer ago than the idempotency window "
                            "(`duplicate_message`); nothing was recorded again."
                        ),
                        **body_errors,
                        **common,
                    },
                }
            },
            "/actions": {
                "post": {
                    "operationId": "pressButton",
                    "summary": "Send the action of a button the villager chose.",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("Action")}},
                    },
                    "responses": {
                        "200": _replies(
                            "The replies (an expired or unknown action gets a polite reply)."
                        ),
                        **body_errors,
                        **common,
                    },
                }
            },
            "/users/{user}/messages": {
                "get": {
                    "operationId": "laterMessages",
                    "summary": "Replies that arrived later: advisor answers and answers to "
                    "messages the pace limit held back. Each is returned once.",
                    "parameters": [
                        {"name": "user", "in": "path", "required": True, "schema": _USER}
                    ],
                    "responses": {
                        "200": {
                            "description": "Replies not returned before (possibly none).",
                            "content": {"application/json": {"schema": _ref("LaterReplies")}},
                        },
                        "422": _error("A malformed user id (`invalid_field`)."),
                        **common,
                    },
                }
            },
            "/users/{user}/stream": {
                "get": {
                    "operationId": "laterMessagesStream",
                    "summary": "The same later replies as Server-Sent Events, as they arrive. "
                    "Each reply is an `event: reply` with an `id:` and `data:` a Reply as JSON; "
                    "a `: keep-alive` comment comes every 15 s. The stream ends after a few "
                    "minutes (reconnect) or when the client goes away. Each reply is sent once, "
                    "on this stream or by the poll.",
                    "parameters": [
                        {"name": "user", "in": "path", "required": True, "schema": _USER}
                    ],
                    "responses": {
                        "200": {
                            "description": "An event stream of `reply` events.",
                            "content": {
                                "text/event-stream": {
                                    "schema": {
                                        "type": "string",
                                        "description": "event: reply / id: … / data: "
                                        "{Reply as JSON}",
                                    },
                                    "x-event-data": _ref("Reply"),
                                }
                            },
                        },
                        "422": _error("A malformed user id (`invalid_field`)."),
                        **common,
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document.",
                    "security": [],
                    "responses": {"200": {"description": "The OpenAPI document."}},
                }
            },
            "/health": {
                "get": {
                    "operationId": "health",
                    "summary": "200 when the service and its database answer.",
                    "security": [],
                    "responses": {
                        "200": {"description": "Healthy."},
                        "503": common["503"],
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key from `lawbot api-key create NAME`.",
                }
            },
            "schemas": {
                "Message": {
                    "type": "object",
                    "required": ["user", "text"],
                    "properties": {
                        "user": _USER,
                        "text": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": settings.max_text_chars,
                            "description": "What the villager typed. `/help`, `/topics`, "
                            "`/mydata`, `/forget` … run the villager commands.",
                        },
                        "village": {
                            "type": ["string", "null"],
                            "description": "Village code: binds the villager's village first.",
                        },
                        "message_id": {
                            "type": ["string", "null"],
                            "pattern": r"^[\x21-\x7e]{1,40}$",
                            "description": "Your id of this message: the same id again returns "
                            "the same reply and records nothing twice.",
                        },
                    },
                },
                "Action": {
                    "type": "object",
                    "required": ["user", "action"],
                    "properties": {
                        "user": _USER,
                        "action": {
                            "type": "string",
                            "minLength": 1,
                            "description": "The `action` of a button from an earlier reply.",
                        },
                    },
                },
                "Button": {
                    "type": "object",
                    "required": ["label", "action"],
                    "properties": {
                        "label": {"type": "string"},
                        "action": {"type": "string"},
                    },
                },
                "Reply": {
                    "type": "object",
                    "required": ["text", "buttons"],
                    "properties": {
                        "text": {"type": "string"},
                        "buttons": {"type": "array", "items": _ref("Button")},
                    },
                },
                "Replies": {
                    "type": "object",
                    "required": ["replies", "consultation_id", "decision"],
                    "properties": {
                        "replies": {"type": "array", "items": _ref("Reply")},
                        "consultation_id": {"type": ["integer", "null"]},
                        "decision": {
                            "type": ["string", "null"],
                            "description": "answer, confirm, suggest, escalate, clarify, urgent, "
                            "choice, follow_up, throttled …",
                        },
                    },
                },
                "LaterReplies": {
                    "type": "object",
                    "required": ["replies"],
                    "properties": {"replies": {"type": "array", "items": _ref("Reply")}},
                },
                "Error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string", "description": "For programs (English)."},
                        "message": {"type": "string", "description": "For people (Chinese)."},
                        "field": {"type": "string", "description": "The field at fault."},
                    },
                },
            },
        },
    }
