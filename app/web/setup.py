"""Everything a browser opens: the pages, their static files, the offline API docs."""

from __future__ import annotations

from fastapi import FastAPI

from app.web.docs import install_docs


def install_web(app: FastAPI) -> None:
    install_docs(app)
