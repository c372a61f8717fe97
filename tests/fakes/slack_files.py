"""The fake Slack's file uploads, as Slack does them since files.upload was retired:
`files.getUploadURLExternal` (filename, length) answers an `upload_url` and a `file_id`; the client
POSTs the bytes to that URL (here on 127.0.0.1, answered "OK - <length>"); then
`files.completeUploadExternal` (`files` a JSON list of `{"id", "title"}`, `channel_id`, `thread_ts`,
`initial_comment`) shares them, and the share shows as a message in the channel or thread."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Failure = tuple[int, str]  # an HTTP status and the body the upload URL answers with


@dataclass
class UploadedFile:
    id: str
    name: str
    length: int  # announced by files.getUploadURLExternal
    content: bytes | None = None  # what arrived at the upload URL
    title: str | None = None
    shares: list[dict[str, Any]] = field(default_factory=list)  # channel, thread_ts, initial_comment


class FileUploads:
    """Mixed into FakeSlackAPI, which records the calls and dispatches `m_<method>`."""

    url: str
    files: dict[str, UploadedFile]
    upload_failures: deque[Failure]  # scripted answers of the upload URL, first come first served
    m_chat_postMessage: Callable[[dict[str, Any]], dict[str, Any]]  # posts the share's message

    def setup_uploads(self, app: web.Application) -> None:
        self.files = {}
        self.upload_failures = deque()
        app.router.add_post("/upload/v1/{file_id}", self._upload)

    def shared_files(self, channel: str, thread_ts: str | None = None) -> list[UploadedFile]:
        """The files shared in a channel (and in one thread of it, when given)."""
        return [
            f
            for f in self.files.values()
            if any(s["channel"] == channel and (thread_ts is None or s["thread_ts"] == thread_ts) for s in f.shares)
        ]

    def m_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        name, length = args.get("filename"), str(args.get("length") or "")
        if not name or not length.isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{len(self.files) + 1:08d}"
        self.files[file_id] = UploadedFile(file_id, str(name), int(length))
        return {"ok": True, "upload_url": f"{self.url}/upload/v1/{file_id}", "file_id": file_id}

    async def _upload(self, request: web.Request) -> web.Response:
        if self.upload_failures:
            status, body = self.upload_failures.popleft()
            return web.Response(status=status, text=body)
        found = self.files.get(request.match_info["file_id"])
        if found is None:
            return web.Response(status=404, text="Not Found")
        found.content = await request.read()
        return web.Response(text=f"OK - {len(found.content)}")

    def m_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        try:
            wanted = json.loads(args.get("files") or "[]")
        except json.JSONDecodeError:
            return {"ok": False, "error": "invalid_arguments"}
        found = [self.files.get(str(item.get("id"))) for item in wanted if isinstance(item, dict)]
        if not found or any(f is None or f.content is None for f in found):
            return {"ok": False, "error": "file_not_found"}
        channel = args.get("channel_id")
        files = []
        for item, uploaded in zip(wanted, found, strict=True):
            assert uploaded is not None
            uploaded.title = item.get("title") or uploaded.name
            if channel:
                share = {"channel": channel, "thread_ts": args.get("thread_ts"), "comment": args.get("initial_comment")}
                uploaded.shares.append(share)
            files.append({"id": uploaded.id, "title": uploaded.title, "name": uploaded.name})
        if channel:
            names = ", ".join(f["name"] for f in files)
            shown = {"channel": channel, "thread_ts": args.get("thread_ts"), "files": files}
            self.m_chat_postMessage({**shown, "text": args.get("initial_comment") or names})
        return {"ok": True, "files": files}


def missing_scope(method: str, granted: set[str]) -> str | None:
    """The scope a method needs that the token lacks (Slack answers `missing_scope`, `needed`)."""
    needed = NEEDS.get(method)
    return needed if needed and needed not in granted else None


NEEDS = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.delete": "chat:write",
    "chat.postEphemeral": "chat:write",
    "users.info": "users:read",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
}
