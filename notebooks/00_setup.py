# %% [markdown] slideshow={"slide_type": "slide"}
# # 00 · Setup: the course, your machine, and the model we will fine-tune
#
# **LoRA from first principles** builds a language-model fine-tune from the ground up: tokens, embeddings,
# positions, attention, the transformer block and the training loop; then LoRA by hand and with PEFT,
# quantization and QLoRA; and finally a question-answering chatbot trained on your laptop's CPU.

# %% [markdown] slideshow={"slide_type": "subslide"}
# **In this notebook you will**
# - check that your environment is ready (versions, device, the bundled model and data);
# - meet `course-gpt2`, the small GPT-2 that ships with the course, and see what it knows;
# - see what it *cannot* do yet — answer a question — which is what the course teaches it;
# - learn how to switch to the real GPT-2 or to a GPU.
#
# *Runs offline; run time on a 2-core machine: figure 1 of `benchmarks/RESULTS.md`.*

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Timing (docs/workshops.md, measured 25 November 2026 on a quiet 2-core machine): the whole
# notebook runs in 5.2 s. The half-day path gives this lesson 15 minutes (block 1, setup and the problem, with
# `make doctor` on every laptop); the 90-minute path 10 minutes (block 1, §3–4 live). No section is timed on its
# own: see docs/workshops.md.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## How the course works
#
# | you want to … | run |
# |---|---|
# | open the course | `make lab` (first run creates `.venv` and installs everything) |
# | check everything | `make test` (offline; executes every lesson and lab solution) |
# | check a laptop quickly | `make doctor` |
#
# Work the notebooks in order. After each lesson, open its lab in `labs/` — visible tests tell you at once
# whether you are on track; hidden tests grade your work. Code a later lesson needs is saved in `utils/`
# and imported, so each lesson stands on its own.

# %% [markdown] slideshow={"slide_type": "skip"}
# **On Google Colab**, run the next cell first, with `COURSE_REPO` set to the address of the course repository
# you opened this notebook from: Colab brings only the notebook, so the cell clones the course (its `utils/` and
# `data/`) and installs the pins Colab lacks. Anywhere else it does nothing. `docs/colab_gpu.md` explains it.

# %% slideshow={"slide_type": "skip"}
# Google Colab only (elsewhere this cell does nothing): clone the course and install the pins Colab lacks.
import os
import subprocess
import sys

try:
    import google.colab  # only Colab has it (utils.device.in_colab asks the same way)
    IN_COLAB = True
except ImportError:
    IN_COLAB = False

if IN_COLAB:
    COURSE_REPO = "https://github.com/YOUR-ACCOUNT/lora-first-principles"  # the address of your copy
    COURSE_DIR = "/content/lora-first-principles"
    # requirements.txt's pins for what Colab lacks or ships at another version; Colab's own torch (a CUDA
    # build), numpy, matplotlib and tqdm stay as they are (docs/colab_gpu.md says why)
    PINS = ["transformers==5.23.0", "tokenizers==0.23.3", "safetensors==0.8.0", "datasets==5.2.0",
            "peft==0.21.2", "accelerate==1.15.0", "bitsandbytes==0.50.2", "ipywidgets==8.1.9"]
    if "YOUR-ACCOUNT" in COURSE_REPO:
        raise ValueError("set COURSE_REPO to the address of the course repository, then run this cell again")
    if not os.path.isdir(COURSE_DIR):
        subprocess.run(["git", "clone", "--depth", "1", COURSE_REPO, COURSE_DIR], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *PINS], check=True)
    os.chdir(COURSE_DIR)  # the course's root, where `python -m chatbot.chat` and friends run
    if COURSE_DIR not in sys.path:
        sys.path.insert(0, COURSE_DIR)  # so this running kernel imports `utils` at once
    # a package this kernel imported before the install keeps its old version until the session restarts
    stale = [pin for pin in PINS if pin.split("==")[0] in sys.modules
             and getattr(sys.modules[pin.split("==")[0]], "__version__", "") != pin.split("==")[1]]
    if stale:
        print("Restart the session (Runtime > Restart session), then run this cell again:", *stale)
    else:
        print("course ready in", COURSE_DIR)

# %% slideshow={"slide_type": "skip"}
from utils.notebook import setup

device = setup(seed=0)  # seeds Python, NumPy and torch; picks a GPU when there is one
print("device:", device.type)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. Is the environment ready?
#
# The pins live in `requirements.txt`. torch is the CPU build (`torch==2.13.0`); everything the course
# does also runs on a GPU when one is present, but nothing needs one.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Ask everyone to run this cell, or `make doctor`, now: a red line comes with one sentence of
# advice (docs/workshops.md, "When a laptop is not ready"). Versions only; nothing here needs a GPU.

# %% slideshow={"slide_type": "subslide"}
import sys
from importlib.metadata import PackageNotFoundError, version

print("Python", sys.version.split()[0])
for package in ["torch", "transformers", "peft", "bitsandbytes", "datasets", "nbgrader"]:
    try:
        print(f"{package:<13} {version(package)}")
    except PackageNotFoundError:  # nbgrader on Colab: labs are validated and graded in JupyterLab
        print(f"{package:<13} not installed")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. The offline spine: a bundled model and bundled data
#
# No lesson downloads anything. The course ships
#
# - `data/models/course-gpt2/` — a real `GPT2LMHeadModel` checkpoint, pretrained for the course by
#   `scripts/pretrain_base_model.py` on statements of facts about countries and chemical elements;
# - `data/qa/` — more than ten thousand question/answer pairs about the same facts, split **by fact**, so the
#   test questions ask about facts the fine-tune never saw as questions.
#
# Both load through the same code a student would use for the real GPT-2: `from_pretrained` and
# `datasets.load_dataset`.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Nothing downloads: the model and the Q&A data are in `data/`. Stress that the model is a real
# `GPT2LMHeadModel` (about 4 M parameters instead of 124 M) loaded by the same `from_pretrained` code as GPT-2, and
# that the Q&A split is by fact (Check yourself, question 3). Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"}
from utils.data import load_qa
from utils.models import load_model

model, tokenizer = load_model()  # course-gpt2, or whatever COURSE_MODEL names
qa = load_qa()

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
n_params = sum(p.numel() for p in model.parameters())
config = model.config
print(f"{type(model).__name__}: {config.n_layer} layers, d_model {config.n_embd}, {config.n_head} heads")
print(f"vocabulary {len(tokenizer):,} tokens, context {config.n_positions} tokens")
print(f"{n_params:,} parameters ({n_params * 4 / 1e6:.1f} MB in fp32)")
print({split: qa[split].num_rows for split in qa})

# %% [markdown] slideshow={"slide_type": "fragment"}
# GPT-2 small has 124 million parameters; ours has about 4 million, with exactly the same architecture.
# That is what lets every experiment of the course run on a laptop CPU in seconds — and every line of code
# works unchanged on the real GPT-2.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. What does the model know?
#
# The model was trained on sentences such as *"The capital of Peru is Lima."* Give it the start of such a
# sentence and it completes it. `complete` (from `utils.generation`) asks for the single most likely next token,
# eight times (greedy decoding).

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Run live on both paths (docs/workshops.md: 90-minute block 1 runs §3–4). Greedy decoding, eight
# tokens: the model completes statements of facts it saw in pretraining.

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
from utils.generation import complete

for prompt in ["The capital of France is", "The chemical symbol of Gold is", "Most people in Brazil speak"]:
    print(f"{prompt!r:40} -> {complete(model, tokenizer, prompt)!r}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. What can it not do?
#
# It has never seen a question. Ask one in the format the chatbot will use, and it does not answer:
# the knowledge is there, the behaviour is not. Teaching that behaviour with a small LoRA adapter, a few percent of
# the model's parameters (lesson 13 counts them), is the course's final project.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** The course's promise in one slide: the knowledge is there, the behaviour is not. Lesson 13 adds
# the behaviour with a LoRA adapter; keep this output in mind for its before/after comparison.

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
from utils.data import format_prompt

question = "What is the capital of France?"
print(format_prompt(question) + complete(model, tokenizer, format_prompt(question)))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. Switching to the real GPT-2, or to a GPU
#
# Every lesson loads its model with `utils.models.load_model()`, which reads the `COURSE_MODEL` environment
# variable. Where the Hugging Face Hub is reachable (or GPT-2 is in your cache):
#
# ```bash
# COURSE_MODEL=gpt2 make lab
# ```
#
# The same `from_pretrained` call then fetches the real 124M-parameter GPT-2. Offline, you get one clear
# sentence telling you what to do instead of a page of HTTP errors:

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Mention only: `COURSE_MODEL=gpt2` needs the Hub or a warm cache; offline the error is one
# sentence. A GPU is optional everywhere (docs/colab_gpu.md for Colab). Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
from utils.models import ModelNotAvailableError

try:
    load_model("someone/a-model-that-is-not-cached")
except ModelNotAvailableError as error:
    print(error)

# %% [markdown] slideshow={"slide_type": "subslide"}
# A GPU is used automatically when PyTorch sees one (`utils.device.get_device()`); set `COURSE_DEVICE=cpu` to
# force the CPU. On Colab, run this notebook's Colab cell (above the seed cell) first; the lessons then find
# the GPU themselves. `docs/colab_gpu.md` has the same cell for any other lesson, and the GPU details.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Check yourself
#
# 1. The model completes *"The capital of France is"* but not *"Question: What is the capital of France?"*.
#    Is the missing piece knowledge or behaviour? How would you test your answer?
# 2. Our model has about 4 million parameters. At 4 bytes per parameter, how many megabytes is the checkpoint?
#    Compare with the size printed above.
# 3. Why does the course split the Q&A data *by fact* rather than by question?
#
# <details><summary>Answers</summary>
#
# 1. Behaviour. Section 3 shows the knowledge: given *"The capital of France is"*, the model completes
#    *Paris*. What it lacks is the habit of answering after `Answer:`. To test it, teach the question format on
#    *other* facts and ask again about France: if it now answers, the missing piece was the behaviour
#    (lesson 13 does exactly this, with test questions whose facts the fine-tune never saw as questions).
# 2. Parameters × 4 bytes, the MB figure printed in section 2. The file `data/models/course-gpt2/model.safetensors`
#    is that many bytes plus a small header (`ls -l` shows it); the output layer shares the embedding matrix, so
#    it is stored once.
# 3. Several phrasings of the same question exist. Split by question, a paraphrase of a test question would be in
#    the training set and the model could score by remembering the answer. Split by fact, every test fact appears
#    only as a statement in pretraining, so test accuracy measures the skill of answering, not memory.
# </details>

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - `make lab` opens the course; `make test` proves all of it runs, offline.
# - `load_model()` and `load_qa()` give you the bundled GPT-2-architecture model and the Q&A data;
#   `COURSE_MODEL=gpt2` switches to the real GPT-2 through the same code path.
# - The base model completes facts as statements but does not answer questions — yet.
#
# Next: **01 · tokens and one-hot vectors**.
