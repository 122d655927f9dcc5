"""The local Sphinx extension that keeps outputs in the .ipynb downloads."""

import sys
from pathlib import Path
from types import SimpleNamespace

import nbformat
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "_ext"))
import executed_downloads  # noqa: E402


def notebook(with_output):
    cell = nbformat.v4.new_code_cell("print(6 * 7)")
    if with_output:
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="42\n")]
        cell.execution_count = 1
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# t"), cell])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def test_unexecuted_download_is_filled_from_the_cache(tmp_path):
    outdir, written = tmp_path / "html", tmp_path / "jupyter_execute" / "ch.ipynb"
    outdir.mkdir()
    written.parent.mkdir()
    nbformat.write(notebook(with_output=False), written)
    get_cache(str(tmp_path / ".jupyter_cache")).cache_notebook_bundle(
        CacheBundleIn(notebook(with_output=True), str(written)), check_validity=False)
    app = SimpleNamespace(outdir=str(outdir), config=SimpleNamespace(nb_execution_cache_path=""))
    executed_downloads.fill_from_cache(app, "ch", None, {}, None)
    filled = nbformat.read(written, as_version=4)
    assert filled.cells[1].outputs[0]["text"] == "42\n"


def test_nothing_happens_without_a_cache_match(tmp_path):
    outdir, written = tmp_path / "html", tmp_path / "jupyter_execute" / "ch.ipynb"
    outdir.mkdir()
    written.parent.mkdir()
    nbformat.write(notebook(with_output=False), written)
    before = written.read_bytes()
    app = SimpleNamespace(outdir=str(outdir), config=SimpleNamespace(nb_execution_cache_path=""))
    executed_downloads.fill_from_cache(app, "ch", None, {}, None)
    assert written.read_bytes() == before
    assert not executed_downloads.has_outputs(nbformat.read(written, as_version=4))
