"""The course as a static website: every committed notebook rendered to HTML, with navigation.

``make book`` (``python -m wic.experiments.book``) writes ``runs/book/index.html`` and one page
per notebook (``01_data_exploration.html`` …), each with a bar linking the contents, the
previous and the next lesson. Links between notebooks (``03_training.ipynb``) point at the
rendered pages. The pages show the committed outputs of a full run, so a teacher can open the
folder or put it on any web server — no kernel needed.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
from pathlib import Path

from wic import config
from wic.experiments.pipeline import PIPELINE, notebooks_dir

NAV_STYLE = ("position:sticky;top:0;z-index:10;background:#f7f7f7;border-bottom:1px solid #ddd;"
             "padding:8px 16px;font:15px/1.4 system-ui,sans-serif;display:flex;gap:18px")


def title_of(nb_path: Path) -> str:
    """The notebook's first heading (``# 01 · Data exploration: …``), without the ``#``."""
    nb = json.loads(nb_path.read_text())
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", "")).splitlines():
                if line.startswith("# "):
                    return line[2:].strip().replace("`", "")
    return nb_path.stem


def _nav(pages: list[tuple[str, str]], i: int | None) -> str:
    links = ['<a class="wic-nav-home" href="index.html">Contents</a>']
    if i is not None and i > 0:
        links.append(f'<a class="wic-nav-prev" href="{pages[i - 1][0]}">← '
                     f"{html.escape(pages[i - 1][1])}</a>")
    if i is not None and i + 1 < len(pages):
        links.append(f'<a class="wic-nav-next" href="{pages[i + 1][0]}">'
                     f"{html.escape(pages[i + 1][1])} →</a>")
    return f'<nav class="wic-nav" style="{NAV_STYLE}">{"".join(links)}</nav>'


def build(out: Path | None = None, notebooks: list[str] | None = None) -> Path:
    """Render the notebooks (default: the course, in order) into ``out``; returns index.html."""
    from nbconvert import HTMLExporter

    out = Path(out) if out else config.runs_dir() / "book"
    out.mkdir(parents=True, exist_ok=True)
    nb_dir = notebooks_dir()
    names = notebooks or [n for n in PIPELINE if (nb_dir / n).is_file()]
    pages = [(Path(n).with_suffix(".html").name, title_of(nb_dir / n)) for n in names]
    from nbconvert.preprocessors import TagRemovePreprocessor

    from wic.experiments.nbtools import CI_ONLY_TAG

    exporter = HTMLExporter(template_name="lab")
    # the smoke profile's checks are not part of the lesson
    exporter.register_preprocessor(TagRemovePreprocessor(remove_cell_tags={CI_ONLY_TAG}),
                                   enabled=True)
    for i, name in enumerate(names):
        body, _ = exporter.from_filename(str(nb_dir / name))
        # links between notebooks go to the rendered pages
        body = re.sub(r'href="(\d\d_[A-Za-z0-9_]+)\.ipynb', r'href="\1.html', body)
        nav = _nav(pages, i)
        body = re.sub(r"(<body[^>]*>)", lambda m, nav=nav: m.group(1) + nav, body, count=1)
        (out / pages[i][0]).write_text(body, encoding="utf-8")
    items = "".join(f'<li><a href="{f}">{html.escape(t)}</a></li>' for f, t in pages)
    index = (f"<!doctype html><html><head><meta charset='utf-8'><title>WIC — the course</title>"
             f"</head><body style='font:16px/1.5 system-ui,sans-serif;max-width:760px;"
             f"margin:0 auto;padding:0 16px'>{_nav(pages, None)}<h1>WIC — a CIFAR-10 course in "
             f"notebooks</h1><p>Each lesson is a Jupyter notebook, shown here with the outputs of "
             f"a full run. Open them in JupyterLab (<code>make lab</code>) to run and change them."
             f"</p><ol class='wic-contents'>{items}</ol></body></html>")
    (out / "index.html").write_text(index, encoding="utf-8")
    return out / "index.html"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Render the course notebooks into a static site.")
    p.add_argument("--out", help="output folder (default: runs/book)")
    args = p.parse_args(argv)
    index = build(Path(args.out) if args.out else None)
    print(f"the course: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
