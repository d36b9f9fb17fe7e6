"""Print the README's benchmark table from benchmarks/results/*.json.

    python benchmarks/report.py            # markdown table on stdout
    python benchmarks/report.py --readme   # rewrite the table between the markers in README.md
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def _flat(prefix: str, value, out: list) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else k, v, out)
    else:
        out.append((prefix, value))


def _shown(value) -> str:
    if isinstance(value, float) and abs(value) < 1:
        return f"{value:.3f}".rstrip("0").rstrip(".")
    if isinstance(value, (int, float)):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:g}"
    return str(value)


def table() -> str:
    """One table per results file, headed by its input, machine and date."""
    parts = []
    for path in sorted(RESULTS.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        machine, date = data.pop("machine", "?"), data.pop("date", "?")
        speed = data.pop("machine_speed", None)   # (benchmarks/common.py speed_score)
        if speed:
            machine += f", speed {speed['interpreter']}/{speed['memory']}"
        given = data.pop("input", {})
        flat: list = []
        _flat("", data, flat)
        inputs = ", ".join(f"{k} {_shown(v)}" for k, v in given.items())
        parts.append(f"**{path.stem}** ({inputs}; {machine}; {date})\n")
        parts.append("| figure | value |\n|---|---|")
        parts.extend(f"| {key} | {_shown(value)} |" for key, value in flat)
        parts.append("")
    return "\n".join(parts).rstrip()


def main() -> int:
    text = table()
    if "--readme" in sys.argv:
        readme = ROOT / "README.md"
        body = readme.read_text(encoding="utf-8")
        if BEGIN not in body or END not in body:
            print(f"README.md has no {BEGIN} ... {END} markers", file=sys.stderr)
            return 1
        head, rest = body.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        readme.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
