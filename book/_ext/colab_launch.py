"""Point the theme's Colab button at a notebook that exists.

Colab opens only ``.ipynb`` files, but the book's chapters are MyST-Markdown notebooks. The build
writes each executed chapter as ``_build/html/_sources/<page>.ipynb`` (the download button serves
the same file), and publishing the site pushes ``_build/html`` to the ``colab_notebook_branch``
of the repository. This extension rewrites the Colab link to that file on that branch.
``published_notebooks.py`` rewrites the file itself so that it reads well in Jupyter and Colab.
"""
from __future__ import annotations

from urllib.parse import urlparse


def _rewrite_colab_link(app, pagename, templatename, context, doctree) -> None:
    theme = app.config.html_theme_options
    colab = theme.get("launch_buttons", {}).get("colab_url", "").rstrip("/")
    repo_url = theme.get("repository_url", "")
    if not colab or not repo_url:
        return
    org, repo = urlparse(repo_url).path.strip("/").split("/")[:2]
    target = (
        f"{colab}/github/{org}/{repo}/blob/{app.config.colab_notebook_branch}"
        f"/_sources/{pagename}.ipynb"
    )
    for button in context.get("header_buttons", []):
        for item in button.get("buttons", []) or []:
            if isinstance(item, dict) and item.get("text") == "Colab":
                item["url"] = target


def setup(app):
    app.add_config_value("colab_notebook_branch", "gh-pages", "html")
    # After sphinx-book-theme's own handler (priority 500) has added the buttons.
    app.connect("html-page-context", _rewrite_colab_link, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
