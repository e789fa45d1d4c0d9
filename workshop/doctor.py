"""Is this laptop ready for the course?  `make doctor` (or `python -m workshop.doctor`) answers in about 10 seconds.

Offline and read-only: it checks the Python version, the installed packages against the pins in
`requirements.txt`, that the bundled model and the Q&A data are present and load, whether a GPU is usable,
that bitsandbytes can quantize a tensor to 4-bit NF4, that JupyterLab, the nbgrader extension and the
widget manager are installed, and (for instructors) whether the grading sandbox works and which cgroup version
limits a student's memory. It prints one table row per check and one sentence of advice per problem.

Exit status: 0 when every required check passes (a missing GPU is only a note), 1 otherwise.

    python -m workshop.doctor                       # the bundled model, data/ of this checkout
    python -m workshop.doctor --model gpt2          # the model $COURSE_MODEL would pick, or any name or directory
    python -m workshop.doctor --data-dir /elsewhere # a data/ folder somewhere else
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from utils import DATA_DIR, ROOT, SPLITS

PASS, NOTE, FAIL = "ok", "note", "FAIL"
MIN_PYTHON = (3, 10)
TESTED_PYTHON = (3, 11)
QA_COLUMNS = {"question", "answer", "fact_id"}


@dataclass
class Result:
    """One row of the table: a status, what was found, and (unless the status is PASS) what to do about it."""

    name: str
    status: str
    detail: str
    advice: str = ""
    seconds: float = 0.0


def check_python() -> Result:
    """Python >= 3.10 is required (pyproject.toml); 3.11 is the version the course is tested with."""
    found = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] < MIN_PYTHON:
        return Result("Python", FAIL, f"{found} (need >= {MIN_PYTHON[0]}.{MIN_PYTHON[1]})",
                      "Install Python 3.11 (python.org, `conda env create -f environment.yml`, or `uv python "
                      "install 3.11`), delete .venv and run `make setup` again, or open the course in Colab.")
    return Result("Python", PASS, f"{found} at {sys.executable}")


def read_pins(requirements: Path) -> dict[str, str | None]:
    """package name -> pinned version (None for an unpinned line) from a requirements file."""
    pins: dict[str, str | None] = {}
    for line in requirements.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(?:==\s*([^\s;]+))?", line)
        if match:
            pins[match.group(1)] = match.group(2)
    return pins


def _public_version(version: str) -> str:
    """'2.13.0+cpu' -> '2.13.0': the CPU and CUDA builds of one torch release both satisfy its pin."""
    return version.split("+", 1)[0]


def check_packages(requirements: Path) -> Result:
    """Every package of requirements.txt is installed, at its pinned version."""
    if not requirements.is_file():
        return Result("packages", FAIL, f"{requirements} not found",
                      "Run the doctor from the course folder (the one with requirements.txt).")
    pins = read_pins(requirements)
    missing, different = [], []
    for name, pinned in pins.items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
            continue
        if pinned and _public_version(installed) != pinned:
            different.append(f"{name} {installed} (pinned {pinned})")
    if missing:
        return Result("packages", FAIL, f"missing: {', '.join(missing)}",
                      "Run `make setup` (or `pip install -r requirements.txt` in the course environment).")
    if different:
        return Result("packages", NOTE, "; ".join(different),
                      "Other versions usually work, but printed numbers may differ from the committed ones: "
                      "`pip install -r requirements.txt` restores the pins.")
    return Result("packages", PASS, f"{len(pins)} pinned packages at their pinned versions")


def check_model(name: str | None) -> Result:
    """The model lessons use ($COURSE_MODEL, else the bundled course-gpt2) loads offline and runs a forward pass."""
    import torch
    from transformers.utils import logging as hf_logging

    from utils.models import REQUIRED_FILES, ModelNotAvailableError, load_model, model_name

    label = f"model {model_name(name)}"
    advice = ("Unset COURSE_MODEL (or pass no --model) to use the bundled model, and restore it with "
              "`git checkout -- data/models` (a `git lfs pull` if model.safetensors is a small text file).")
    folder = Path(model_name(name))
    if folder.is_dir() and (missing := [f for f in REQUIRED_FILES if not (folder / f).is_file()]):
        return Result(label, FAIL, f"{folder} has no {', '.join(missing)}", advice)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        model, tokenizer = load_model(name, device="cpu")
        ids = tokenizer("The capital of France is", return_tensors="pt").input_ids
        with torch.no_grad():
            logits = model(ids).logits
    except (ModelNotAvailableError, OSError, ValueError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return Result(label, FAIL, first_line[:160], advice)
    if not torch.isfinite(logits).all():
        return Result(label, FAIL, "the forward pass produced NaN or inf",
                      "The weights are damaged: restore them with `git checkout -- data/models`.")
    n_params = sum(p.numel() for p in model.parameters())
    return Result(label, PASS, f"{n_params / 1e6:.1f}M parameters, logits {tuple(logits.shape)}")


def check_data(data_dir: Path) -> Result:
    """The Q&A splits exist and every line is a JSON object with question, answer and fact_id."""
    qa_dir = data_dir / "qa"
    counts = {}
    for split in SPLITS:
        path = qa_dir / f"{split}.jsonl"
        if not path.is_file():
            return Result("Q&A data", FAIL, f"{path} missing",
                          "Restore the data with `git checkout -- data/qa` (or rebuild it with "
                          "`python scripts/build_dataset.py`).")
        try:
            rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except json.JSONDecodeError as err:
            return Result("Q&A data", FAIL, f"{path.name}: not JSON lines ({err.msg}, line {err.lineno})",
                          "Restore the data with `git checkout -- data/qa`.")
        if not rows or not all(QA_COLUMNS <= row.keys() for row in rows):
            return Result("Q&A data", FAIL, f"{path.name}: empty or missing {sorted(QA_COLUMNS)}",
                          "Restore the data with `git checkout -- data/qa`.")
        counts[split] = len(rows)
    return Result("Q&A data", PASS, " / ".join(f"{n:,} {split}" for split, n in counts.items()))


def check_gpu() -> Result:
    """A usable GPU is a bonus, never required: a tiny matmul proves the driver works."""
    import torch

    if torch.cuda.is_available():
        try:
            x = torch.randn(64, 64, device="cuda")
            float((x @ x).sum())
        except RuntimeError as err:
            return Result("GPU", NOTE, f"CUDA present but unusable: {str(err).splitlines()[0][:100]}",
                          "Update the NVIDIA driver, or set COURSE_DEVICE=cpu to run everything on the CPU.")
        bf16 = "bf16" if torch.cuda.is_bf16_supported() else "fp16 only (no bf16)"
        return Result("GPU", PASS, f"{torch.cuda.get_device_name(0)}, {bf16}")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return Result("GPU", NOTE, "Apple GPU (MPS) found; the course uses the CPU",
                      "Nothing to do: every lesson runs on the CPU; COURSE_DEVICE=mps is experimental.")
    build = "CPU build of torch" if torch.version.cuda is None else f"torch built for CUDA {torch.version.cuda}"
    return Result("GPU", NOTE, f"none ({build}); lessons run on the CPU",
                  "Nothing to do: every lesson runs on 2 CPU cores; for the full-size runs use a GPU "
                  "machine or Colab (docs/colab_gpu.md).")


def check_bitsandbytes() -> Result:
    """bitsandbytes quantizes a small tensor to 4-bit NF4 with double quantization and back (lessons 11-12)."""
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)  # it warns about an optional CPU kernel
    try:
        import torch
        from bitsandbytes import functional as bnbf
    except Exception as err:  # a broken native library raises more than ImportError
        return Result("bitsandbytes 4-bit", FAIL, f"import failed: {str(err).splitlines()[0][:120]}",
                      "Reinstall it with `pip install --force-reinstall bitsandbytes==0.50.2`.")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    weights = torch.randn(64, 64, generator=torch.Generator().manual_seed(0)).to(device)
    try:
        packed, state = bnbf.quantize_4bit(weights, quant_type="nf4", compress_statistics=True)
        restored = bnbf.dequantize_4bit(packed, state).float()
    except Exception as err:
        return Result("bitsandbytes 4-bit", FAIL, f"quantize_4bit failed on {device}: {str(err)[:100]}",
                      "Reinstall bitsandbytes==0.50.2; on a GPU check that torch and the driver agree on CUDA.")
    error = float((restored - weights).abs().mean() / weights.abs().mean())
    if packed.numel() * 2 != weights.numel() or error > 0.2:
        return Result("bitsandbytes 4-bit", FAIL, f"round trip wrong: relative error {error:.3f}",
                      "Reinstall bitsandbytes==0.50.2 (`pip install --force-reinstall bitsandbytes==0.50.2`).")
    return Result("bitsandbytes 4-bit", PASS,
                  f"NF4 + double quant on {device}: {weights.numel()} weights -> {packed.numel()} bytes, "
                  f"relative error {error:.3f}")


def check_grading_sandbox() -> Result:
    """For instructors (`make grade`): whether bubblewrap can sandbox a student's kernel here, and which cgroup
    version limits the memory of a student's whole process tree. Students never need it: a NOTE, never a FAIL."""
    from grading.sandbox import TreeLimits, limits_note, sandbox_problem

    problem = sandbox_problem()
    probe = TreeLimits(f"course-grading-{os.getpid()}-doctor", 0.5)
    try:
        limits = limits_note(probe)
    finally:
        probe.remove()
    if problem:
        return Result("grading sandbox", NOTE, f"bubblewrap unusable: {problem[:140]}; memory: {limits}",
                      "Only instructors need it: `make grade` refuses to run student code unsandboxed "
                      "(install bubblewrap, or pass --unsafe-no-sandbox for trusted notebooks only).")
    if probe.version is None:
        return Result("grading sandbox", NOTE, f"bubblewrap works; memory: {limits}",
                      "Only instructors need it: to limit a whole student's process tree, run `make grade` "
                      "inside a delegated cgroup v2 subtree (`systemd-run --user --scope -p Delegate=yes make "
                      "grade ...`) or set COURSE_GRADING_CGROUP to one you may write.")
    return Result("grading sandbox", PASS, f"bubblewrap works; memory: {limits}")


def _jupyter_dirs(kind: str) -> list[Path]:
    from jupyter_core.paths import jupyter_config_path, jupyter_path

    return [Path(p) for p in (jupyter_config_path() if kind == "config" else jupyter_path(kind))]


def _labextension_version(package: str) -> str | None:
    """Version of an installed prebuilt JupyterLab extension, read from its package.json (no subprocess)."""
    for folder in _jupyter_dirs("labextensions"):
        manifest = folder / package / "package.json"
        if manifest.is_file():
            return json.loads(manifest.read_text(encoding="utf-8")).get("version", "?")
    return None


def _server_extension_enabled(module_prefix: str) -> bool:
    """True when some jupyter_server_config.d/*.json enables a server extension starting with module_prefix."""
    for folder in _jupyter_dirs("config"):
        for config in sorted((folder / "jupyter_server_config.d").glob("*.json")):
            try:
                enabled = json.loads(config.read_text(encoding="utf-8"))["ServerApp"]["jpserver_extensions"]
            except (KeyError, TypeError, json.JSONDecodeError):
                continue
            if any(name.startswith(module_prefix) and on for name, on in enabled.items()):
                return True
    return False


def check_jupyterlab() -> Result:
    """JupyterLab is installed and its `jupyter-lab` command is on the environment's PATH."""
    try:
        version = metadata.version("jupyterlab")
    except metadata.PackageNotFoundError:
        return Result("JupyterLab", FAIL, "not installed", "Run `make setup` (it installs jupyterlab==4.6.6).")
    command = shutil.which("jupyter-lab", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    if command is None:
        return Result("JupyterLab", FAIL, f"{version} installed but no `jupyter-lab` command",
                      "Reinstall it in this environment: `pip install --force-reinstall jupyterlab==4.6.6`.")
    return Result("JupyterLab", PASS, f"{version} ({command})")


def check_nbgrader() -> Result:
    """The nbgrader lab extension (Assignments, Validate) and its server extensions are installed and enabled."""
    lab = _labextension_version("@jupyter/nbgrader")
    server = _server_extension_enabled("nbgrader.server_extensions")
    if lab is None or not server:
        missing = [what for what, ok in (("lab extension", lab), ("server extension", server)) if not ok]
        return Result("nbgrader extension", FAIL, f"{' and '.join(missing)} missing",
                      "Run `make setup` (pip installs nbgrader==0.9.6 with its extensions), then restart JupyterLab.")
    return Result("nbgrader extension", PASS, f"@jupyter/nbgrader {lab}, server extensions enabled")


def check_widgets() -> Result:
    """The ipywidgets manager extension, without which sliders and the chat box show as plain text."""
    lab = _labextension_version("@jupyter-widgets/jupyterlab-manager")
    if lab is None:
        return Result("widgets extension", FAIL, "@jupyter-widgets/jupyterlab-manager missing",
                      "Run `make setup` (it installs ipywidgets==8.1.9 and jupyterlab_widgets), then restart "
                      "JupyterLab.")
    return Result("widgets extension", PASS, f"@jupyter-widgets/jupyterlab-manager {lab}")


def check_slides() -> Result:
    """The JavaScript `make slides` copies next to the decks, so they present with no network (optional)."""
    from workshop import slides

    missing = slides.missing_assets()
    if missing:
        return Result("slides offline", NOTE, f"vendor/slides lacks {', '.join(missing[:2])}",
                      "Run `git checkout -- vendor` to restore it; without it `make slides` stops, and "
                      "`python -m workshop.slides --cdn` makes decks that need internet in the room.")
    versions = json.loads((slides.VENDORED / "MANIFEST.json").read_text(encoding="utf-8"))
    return Result("slides offline", PASS, f"reveal.js {versions['reveal.js']['version']}, MathJax "
                                          f"{versions['mathjax']['version']} vendored")


def run_checks(model: str | None = None, data_dir: Path = DATA_DIR,
               requirements: Path = ROOT / "requirements.txt") -> list[Result]:
    """Run every check in order, timing each; a check that crashes becomes a FAIL row, never a traceback."""
    checks: list[tuple[str, Callable[[], Result]]] = [
        ("Python", check_python),
        ("packages", lambda: check_packages(requirements)),
        ("JupyterLab", check_jupyterlab),
        ("nbgrader extension", check_nbgrader),
        ("widgets extension", check_widgets),
        ("Q&A data", lambda: check_data(data_dir)),
        ("model", lambda: check_model(model)),
        ("GPU", check_gpu),
        ("bitsandbytes 4-bit", check_bitsandbytes),
        ("slides offline", check_slides),
        ("grading sandbox", check_grading_sandbox),
    ]
    results = []
    for name, check in checks:
        start = time.perf_counter()
        try:
            result = check()
        except Exception as err:  # the doctor must report, not crash
            result = Result(name, FAIL, f"{type(err).__name__}: {str(err)[:120]}",
                            "Run `make setup`; if this persists, send this table to the course staff.")
        result.seconds = time.perf_counter() - start
        results.append(result)
    return results


def _paint(text: str, status: str, color: bool) -> str:
    if not color:
        return text
    code = {PASS: "32", NOTE: "33", FAIL: "31"}[status]
    return f"\033[{code}m{text}\033[0m"


def format_report(results: list[Result], color: bool = False) -> str:
    """The table, then one line of advice per row that did not pass."""
    width = max(len(r.name) for r in results)
    lines = [f"{'check':<{width}}  {'status':<6}  {'time':>5}  detail", "-" * (width + 60)]
    for r in results:
        status = _paint(f"{r.status:<6}", r.status, color)
        lines.append(f"{r.name:<{width}}  {status}  {r.seconds:4.1f}s  {r.detail}")
    advice = [r for r in results if r.status != PASS]
    if advice:
        lines += ["", "What to do:"]
        lines += [f"  {_paint(r.status, r.status, color)} {r.name}: {r.advice}" for r in advice]
    failed = sum(r.status == FAIL for r in results)
    verdict = "Ready for the course." if not failed else f"Not ready: {failed} required check(s) failed."
    lines += ["", _paint(verdict, FAIL if failed else PASS, color)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workshop.doctor", description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model name or directory (default: $COURSE_MODEL, else course-gpt2)")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="the course's data/ folder")
    parser.add_argument("--requirements", type=Path, default=ROOT / "requirements.txt", help=argparse.SUPPRESS)
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the doctor never touches the network
    start = time.perf_counter()
    results = run_checks(args.model, args.data_dir, args.requirements)
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty() and "NO_COLOR" not in os.environ)
    print(format_report(results, color))
    print(f"(checked in {time.perf_counter() - start:.1f} s)")
    return 1 if any(r.status == FAIL for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
