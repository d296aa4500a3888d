"""Accuracy of each low-bit format through the plugin's OpenAI server, measured by lm-eval.

    python benchmarks/lm_eval_accuracy.py [--formats unquantized,sym_int4,...] [--limit N]

For each format the server is started in host mode on the demo model (``vllm serve`` with
``--quantization ipex_low_bit --load-in-low-bit FORMAT``; ``unquantized`` is the model as stored,
run in float32, the baseline) and lm-eval's ``local-completions`` client runs two local tasks against
``/v1/completions`` with the server's own tokenizer (``/tokenize``, ``/tokenizer_info``):

- ``plugin_capitals``: 60 four-way multiple-choice questions (``lm_eval_tasks/capitals.jsonl``,
  distractors drawn from the other capitals), ``acc`` / ``acc_norm``;
- ``plugin_capitals_text``: the same facts as sentences, rolling log-likelihood
  (``word_perplexity``, ``bits_per_byte``).

lm-eval is installed into its own virtual environment under the project's cache folder (it
only talks HTTP to the server, so it needs neither torch nor vLLM); nothing is downloaded from
a model hub (both tasks read local JSON files, hub access is switched off). Prints one table
last: each format's figures and their difference from the baseline of the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.harness.server import VllmServer, free_port  # noqa: E402

LM_EVAL = "lm-eval[api]==0.4.13"
TASKS_DIR = REPO / "benchmarks" / "lm_eval_tasks"
SERVED = "smollm2"
API_KEY = "lm-eval-key"
DEFAULT_FORMATS = "unquantized,sym_int4,asym_int4,fp8_e5m2,fp8_e4m3,fp6,sym_int8,nf4"
# lm-eval's result keys: "metric,filter"
METRICS = {"plugin_capitals": ("acc,none", "acc_norm,none"),
           "plugin_capitals_text": ("word_perplexity,none", "bits_per_byte,none")}


def client_python() -> Path:
    """The lm-eval client's interpreter, installed once into the project's cache folder."""
    from vllm_ipex_plugin import envs

    root = Path(envs.cache_root()) / "lm_eval_client"
    python = root / "bin" / "python"
    marker = root / "installed.txt"
    if not marker.exists() or marker.read_text() != LM_EVAL:
        venv.EnvBuilder(with_pip=True, clear=True).create(root)
        subprocess.run([str(python), "-m", "pip", "install", "-q", LM_EVAL], check=True)
        marker.write_text(LM_EVAL)
    return python


def write_tasks(folder: Path) -> None:
    """The two task YAMLs with absolute data paths (lm-eval resolves them against its cwd)."""
    facts = [json.loads(line) for line in (TASKS_DIR / "capitals.jsonl").read_text().splitlines()]
    text_file = folder / "capitals_text.jsonl"
    text_file.write_text("".join(json.dumps({"text": f"The capital of {f['country']} is "
                                             f"{f['choices'][f['answer']]}."}) + "\n" for f in facts))
    common = "dataset_path: json\ntest_split: train\n"
    (folder / "plugin_capitals.yaml").write_text(
        "task: plugin_capitals\n" + common
        + f"dataset_kwargs:\n  data_files: {TASKS_DIR / 'capitals.jsonl'}\n"
        + "output_type: multiple_choice\n"
        + "doc_to_text: \"Question: What is the capital of {{country}}?\\nAnswer:\"\n"
        + "doc_to_choice: \"{{choices}}\"\ndoc_to_target: answer\n"
        + "metric_list:\n  - metric: acc\n  - metric: acc_norm\n")
    (folder / "plugin_capitals_text.yaml").write_text(
        "task: plugin_capitals_text\n" + common + f"dataset_kwargs:\n  data_files: {text_file}\n"
        + "output_type: loglikelihood_rolling\ndoc_to_text: \"\"\ndoc_to_target: \"{{text}}\"\n"
        + "metric_list:\n  - metric: word_perplexity\n  - metric: byte_perplexity\n  - metric: bits_per_byte\n")


def evaluate(python: Path, base_url: str, tasks: Path, out: Path, limit: int | None) -> dict:
    """One lm-eval run against the server; its results per task."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", OPENAI_API_KEY=API_KEY,
               HF_DATASETS_CACHE=str(out / "datasets"))
    args = [str(python), "-m", "lm_eval", "--model", "local-completions", "--model_args",
            f"base_url={base_url}/v1/completions,model={SERVED},tokenizer_backend=remote,num_concurrent=8,"
            f"max_retries=1", "--include_path", str(tasks), "--tasks", ",".join(METRICS),
            "--output_path", str(out)]
    if limit:
        args += ["--limit", str(limit)]
    proc = subprocess.run(args, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"lm-eval failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    (result_file,) = sorted(out.rglob("results_*.json"))[-1:]
    return json.loads(result_file.read_text())["results"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formats", default=DEFAULT_FORMATS)
    parser.add_argument("--limit", type=int, help="documents per task (default: all)")
    args = parser.parse_args()
    from vllm_ipex_plugin.demo_model import build_demo_model

    model = str(build_demo_model())
    python = client_python()
    work = Path(tempfile.mkdtemp(prefix="lm_eval_"))
    write_tasks(work)
    env = dict(os.environ, IPEX_PLUGIN_HOST_MODE="1")
    rows = {}
    for name in args.formats.split(","):
        server_args = ["--api-key", API_KEY, "--served-model-name", SERVED, "--dtype", "float32",
                       "--max-model-len", "512", "--enable-tokenizer-info-endpoint"]
        if name != "unquantized":
            server_args += ["--quantization", "ipex_low_bit", "--load-in-low-bit", name]
        with VllmServer(model, server_args, free_port(), str(work / f"serve_{name}.log"), env=env) as server:
            rows[name] = evaluate(python, server.base_url, work, work / f"out_{name}", args.limit)
        print(name, json.dumps({t: {m: rows[name][t][m] for m in ms} for t, ms in METRICS.items()}), flush=True)
    base = rows.get("unquantized")
    print(f"\nlm-eval {LM_EVAL.split('==')[1]} local-completions, host mode (CPU, {os.cpu_count()} cores), demo model "
          f"(SmolLM2-135M-Instruct, float32 activations), {'all' if not args.limit else args.limit} documents per task")
    print("| format | capitals acc | acc_norm | capitals text word ppl | bits/byte | acc vs unquantized | "
          "ppl vs unquantized |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        acc, acc_norm = (r["plugin_capitals"][m] for m in METRICS["plugin_capitals"])
        ppl, bpb = (r["plugin_capitals_text"][m] for m in METRICS["plugin_capitals_text"])
        d_acc = f"{acc - base['plugin_capitals']['acc,none']:+.3f}" if base else "-"
        d_ppl = f"{ppl / base['plugin_capitals_text']['word_perplexity,none']:.3f}x" if base else "-"
        print(f"| {name} | {acc:.3f} | {acc_norm:.3f} | {ppl:.2f} | {bpb:.4f} | {d_acc} | {d_ppl} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
