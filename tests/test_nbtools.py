import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

from wic.experiments import nbtools


def _png(nbytes: int) -> str:
    import base64

    return base64.b64encode(b"\x89PNG" + b"x" * (nbytes - 4)).decode()


def test_strip_for_commit_keeps_small_thumbnails_only_and_drops_widget_state_and_noise(tmp_path):
    noise = ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
             "I0000 00:00:1795612803.623925   10043 port.cc:153] oneDNN custom operations are on.\n")
    small, big = _png(20_000), _png(nbtools.THUMBNAIL_BYTES + 1)
    figures = [new_output("display_data", data={"image/png": small, "text/plain": "<Figure>"})
               for _ in range(nbtools.THUMBNAIL_FIGURES + 1)]
    nb = new_notebook(cells=[
        new_code_cell("show()", metadata={"tags": ["dataset-images"]},
                      outputs=[new_output("display_data", data={"image/png": big}),
                               new_output("display_data", data={"text/html": "<img src=...>"}),
                               new_output("display_data", data={"text/markdown": "**3** pairs",
                                                                "text/plain": "<Markdown>"}),
                               *figures]),
        new_code_cell("build()", outputs=[new_output("stream", name="stderr", text=noise),
                                          new_output("stream", name="stdout", text="ok\n")]),
        new_code_cell("warn()", outputs=[new_output("stream", name="stderr",
                                                    text=noise + "UserWarning: real\n")]),
        new_code_cell("sweep()", outputs=[
            new_output("display_data", data={nbtools.WIDGET_VIEW: {"model_id": "x"},
                                             "text/plain": "sweep:  50%|#####     | 12/24"}),
            new_output("stream", name="stdout", text="24 runs: 24 ok\n")]),
        new_code_cell("plot()", outputs=[new_output("display_data", data={"image/png": big})]),
    ])
    nb.metadata["widgets"] = {"state": {"upload": "secret bytes"}}
    src = tmp_path / "nb.ipynb"
    nbformat.write(nb, src)
    out = nbformat.read(nbtools.strip_for_commit(src, tmp_path / "out.ipynb"), 4)
    # the big image, the HTML and the figure past the cap are gone; small thumbnails stay
    kept = out.cells[0].outputs
    assert kept[0]["data"]["text/markdown"] == "**3** pairs"
    assert len(kept) == 1 + nbtools.THUMBNAIL_FIGURES
    assert all(o["data"]["image/png"] == small for o in kept[1:])
    assert [o["name"] for o in out.cells[1].outputs] == ["stdout"]
    assert out.cells[2].outputs[0]["text"] == "UserWarning: real\n"
    assert [o["output_type"] for o in out.cells[3].outputs] == ["stream"]  # no frozen bar
    assert out.cells[4].outputs[0]["data"]["image/png"] == big  # not a dataset-images cell
    assert "widgets" not in out.metadata


def test_committed_dataset_images_are_a_handful_of_small_thumbnails():
    """No committed notebook carries more CIFAR-10 pictures than the rule allows."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, 4)
        for cell in nb.cells:
            if nbtools.STRIP_TAG not in cell.get("metadata", {}).get("tags", []):
                continue
            sizes = [nbtools._png_bytes(o) for o in cell.get("outputs", [])
                     if o.get("output_type") != "stream"
                     and not set(o.get("data", {})) <= nbtools.TEXT_MIMES]
            assert None not in sizes, (path.name, "a rich output that is not a PNG figure")
            assert len(sizes) <= nbtools.THUMBNAIL_FIGURES, path.name
            assert all(s <= nbtools.THUMBNAIL_BYTES for s in sizes), (path.name, sizes)


def test_committed_notebooks_carry_no_machine_paths():
    """No absolute paths of the machine that ran them (papermill metadata, outputs)."""
    import json
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for nb in sorted((root / "notebooks").glob("*.ipynb")):
        text = nb.read_text()
        assert "input_path" not in text and "output_path" not in text, nb.name
        assert not re.search(r"(/work/|/home/|/root/|/tmp/)", text), nb.name
        json.loads(text)  # still a notebook


def test_shown_text_is_what_a_reader_sees_without_a_kernel():
    from nbformat.v4 import new_markdown_cell

    cell = new_code_cell("show()", outputs=[
        new_output("stream", name="stdout", text="printed\n"),
        new_output("display_data", data={"text/markdown": "**rendered**", "text/plain": "<md>"}),
        new_output("display_data", data={"image/png": "AAAA", "text/plain": "<Figure>"})])
    assert nbtools.shown_text(cell) == "printed\n**rendered**"
    assert nbtools.shown_text(new_markdown_cell("# title")) == "# title"
