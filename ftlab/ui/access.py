"""Who is using the dashboard: a Hugging Face sign-in on a Space, a password login (`--auth`), or
nobody in particular (local use). Handlers that act on jobs take `(request, profile, ...)` first;
gradio fills both in by their annotations (`profile` is None without a sign-in)."""

from __future__ import annotations

from typing import Optional

import gradio as gr


def visitor(request: Optional[gr.Request], profile: Optional[gr.OAuthProfile]) -> Optional[str]:
    """The user name jobs are owned by: the HF username, else the --auth login, else None."""
    if profile is not None:
        return getattr(profile, "username", None) or profile.get("preferred_username")
    return getattr(request, "username", None) if request is not None else None
