"""What a local model alias must get right before any server starts or any model is
called: a readable GGUF file that fits in memory, and a chat template llama.cpp knows.

Run at collection (`generation.models`) and again by the pool, so a wrong ``model_path``
or ``chat_format`` is one error naming the alias, before a paid call elsewhere is made.
"""

from __future__ import annotations

from pathlib import Path

from deltajudge.errors import LocalServerError

#: The first four bytes of every GGUF file.
GGUF_MAGIC = b"GGUF"

#: llama.cpp's built-in chat templates (``llama-chat.cpp``). llama.cpp takes any other
#: string as a template *text* and renders it literally, so a typo would silently send
#: every prompt as that word: we accept only these names.
CHAT_FORMATS = frozenset(
    [
        "chatml",
        "llama2",
        "llama2-sys",
        "llama2-sys-bos",
        "llama2-sys-strip",
        "mistral-v1",
        "mistral-v3",
        "mistral-v3-tekken",
        "mistral-v7",
        "mistral-v7-tekken",
        "phi3",
        "phi4",
        "falcon3",
        "zephyr",
        "monarch",
        "gemma",
        "orion",
        "openchat",
        "vicuna",
        "vicuna-orca",
        "deepseek",
        "deepseek2",
        "deepseek3",
        "command-r",
        "llama3",
        "chatglm3",
        "chatglm4",
        "glmedge",
        "minicpm",
        "exaone3",
        "rwkv-world",
        "granite",
        "gigachat",
        "megrez",
        "llama4",
        "hunyuan-moe",
        "kimi-k2",
        "gpt-oss",
        "bitnet",
        "grok-2",
    ]
)
#: llama-cpp-python's spellings that name one of the templates above differently.
_CHAT_FORMAT_ALIASES = {"llama-2": "llama2", "llama-3": "llama3", "mistral-instruct": "mistral-v1"}

#: Headroom the operating system and the KV cache need beyond the weights themselves.
_MEMORY_HEADROOM = 1.2


def check_chat_format(chat_format: str | None, alias: str) -> str | None:
    """The llama.cpp template name for ``chat_format``, or a `LocalServerError` naming the
    alias (also run at collection, before any call)."""
    if chat_format is None:
        return None
    name = _CHAT_FORMAT_ALIASES.get(chat_format, chat_format)
    if name not in CHAT_FORMATS:
        raise LocalServerError(
            f"local model {alias!r}: unknown chat_format {chat_format!r}; llama.cpp's "
            f"built-in templates are: {', '.join(sorted(CHAT_FORMATS))}. Leave chat_format "
            "unset to use the template stored in the GGUF file"
        )
    return name


def check_model_file(model_path: Path, alias: str) -> Path:
    """A readable GGUF file that fits in memory, or a `LocalServerError` naming the alias:
    also run at collection, so a wrong ``model_path`` fails before any other model is called."""
    path = model_path.expanduser()
    what = f"local model {alias!r}"
    if not path.is_file():
        problem = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise LocalServerError(f"{what}: the model file {path} {problem}")
    try:
        with path.open("rb") as model_file:
            magic = model_file.read(len(GGUF_MAGIC))
    except OSError as exc:
        raise LocalServerError(f"{what}: cannot read the model file {path}: {exc}") from exc
    if magic != GGUF_MAGIC:
        raise LocalServerError(
            f"{what}: {path} is not a GGUF file (it starts with {magic!r}, expected "
            f"{GGUF_MAGIC!r}); llama.cpp serves .gguf files — convert other formats with "
            "llama.cpp's convert_hf_to_gguf.py"
        )
    available = _available_memory()
    needed = path.stat().st_size * _MEMORY_HEADROOM
    if available is not None and needed > available:
        raise LocalServerError(
            f"{what}: {path} needs about {needed / 2**30:.1f} GiB of memory and this machine "
            f"has {available / 2**30:.1f} GiB available; use a smaller quantisation "
            "(Q4_K_M, Q3_K_M) or a smaller model"
        )
    return path


def _available_memory() -> int | None:
    """Bytes the kernel says a new process can use (``MemAvailable``); None off Linux."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
