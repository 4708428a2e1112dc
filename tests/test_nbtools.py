import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

from wic.experiments import nbtools


def test_strip_for_commit_drops_dataset_images_widget_state_and_native_noise(tmp_path):
    noise = ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
             "I0000 00:00:1795612803.623925   10043 port.cc:153] oneDNN custom operations are on.\n")
    nb = new_notebook(cells=[
        new_code_cell("show()", metadata={"tags": ["dataset-images"]},
                      outputs=[new_output("display_data", data={"image/png": "AAAA"})]),
        new_code_cell("build()", outputs=[new_output("stream", name="stderr", text=noise),
                                          new_output("stream", name="stdout", text="ok\n")]),
        new_code_cell("warn()", outputs=[new_output("stream", name="stderr",
                                                    text=noise + "UserWarning: real\n")]),
    ])
    nb.metadata["widgets"] = {"state": {"upload": "secret bytes"}}
    src = tmp_path / "nb.ipynb"
    nbformat.write(nb, src)
    out = nbformat.read(nbtools.strip_for_commit(src, tmp_path / "out.ipynb"), 4)
    assert out.cells[0].outputs == []
    assert [o["name"] for o in out.cells[1].outputs] == ["stdout"]
    assert out.cells[2].outputs[0]["text"] == "UserWarning: real\n"
    assert "widgets" not in out.metadata


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
