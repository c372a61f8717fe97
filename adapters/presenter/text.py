"""Cutting text for any platform: where a long text may be cut, and splitting that loses nothing."""

from __future__ import annotations


def cut_point(text: str, room: int) -> int:
    """Where to cut `text` so the first part has at most `room` characters: after a paragraph, a line
    or a word that ends in the last two thirds of the room, else at the room's end, but never inside
    an escaped entity such as `&amp;`."""
    window = text[:room]
    for separator in ("\n\n", "\n", " "):
        at = window.rfind(separator)
        if at > room // 3:
            return at + len(separator)
    return len(safe_cut(window)) or room


def safe_cut(text: str) -> str:
    """Drop a trailing half entity (`&am`) so a cut never produces broken escaping."""
    amp = text.rfind("&", max(0, len(text) - 5))
    if amp != -1 and ";" not in text[amp:]:
        return text[:amp]
    return text


def split_exact(text: str, size: int) -> list[str]:
    """Chunks of at most `size` characters that join back to exactly `text`."""
    chunks: list[str] = []
    while len(text) > size:
        cut = cut_point(text, size)
        chunks.append(text[:cut])
        text = text[cut:]
    if text or not chunks:
        chunks.append(text)
    return chunks
