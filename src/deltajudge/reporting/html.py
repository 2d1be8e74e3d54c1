"""``report.html``: one self-contained page a person reads to decide about a fine-tune.

Everything comes from the `Report` (never a model or the network) and the page opens
from ``file://`` with no connection: styles, the small sorting script and the charts
(`deltajudge.reporting.svg`) are inline. The first screen is the verdict
(`deltajudge.reporting.lead`). Filtering and expanding cases are pure CSS and
``<details>``; only column sorting and, on big reports, the searchable index of every case
need JavaScript. Big reports render a few hundred cases in full (`html_index`), so 100,000 cases
make a page of the same shape, not a 200 MB one.

Safety: jinja2 autoescapes every data string; the only `Markup` we build (charts, word
diffs, the case index's JSON) is assembled from escaped pieces. On top of that, the page's
Content-Security-Policy allows exactly our own stylesheet and script by hash, so even a
string that slipped through unescaped could not run or load anything.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from array import array
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from jinja2 import (
    BytecodeCache,
    Environment,
    FileSystemBytecodeCache,
    PackageLoader,
    StrictUndefined,
)
from markupsafe import Markup

from deltajudge.atomic import atomic_text
from deltajudge.reporting import lead, svg
from deltajudge.reporting import markdown as words
from deltajudge.reporting.html_cases import case_columns, case_rows, model_classes, score_text
from deltajudge.reporting.html_index import select_cases
from deltajudge.reporting.model import GraderInfo, ModelFigures, Report, RubricEntry
from deltajudge.reporting.redacted import redacted

_EMPTY = ModelFigures()
#: Points per model on a length/score scatter: beyond a few thousand the dots only overlap,
#: and every point costs page bytes. Larger sets are thinned evenly (every k-th answer).
SCATTER_POINTS = 4000
_SECRET = re.compile(r"api[_-]?key|secret|password|authorization|bearer", re.IGNORECASE)


def _bytecode_cache() -> BytecodeCache | None:
    """jinja2's own compiled-template cache, in its per-user directory under the system
    temp dir: compiling the page's templates is ~0.3 s of every run on 2 cores, loading
    them back ~0.01 s. Entries are keyed by template path and checked against the
    source, so an edited or upgraded template recompiles. No safe directory, no cache."""
    try:
        return FileSystemBytecodeCache()
    except (OSError, RuntimeError):  # jinja2 refuses a temp dir it does not own alone
        return None


@cache
def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("deltajudge.reporting", "templates"),
        bytecode_cache=_bytecode_cache(),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        num=words.num,
        pct=words.pct,
        p_text=words.p_text,
        p_num=words.p_num,
        ci_text=words.ci_text,
        headline=words.headline,
        verdict=words.verdict,
        power_note=words.power_note,
        regression_rule=words.regression_rule,
        gate_bounds=words.gate_bounds,
        excerpt=words.excerpt,
        score=score_text,
    )
    return env


@cache
def _asset(name: str) -> tuple[Markup, str]:
    """Our own stylesheet or script (not data, hence `Markup`) and its CSP source hash."""
    text = _env().get_template(name).render()
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
    return Markup(text), f"'sha256-{digest}'"


#: Per model, its answers' lengths and their scores on one grader, as two flat arrays
#: (16 bytes an answer: 100,000 cases would be ~20 MB of tuples per model).
_Points = dict[str, tuple["array[int]", "array[float]"]]


def _points(rubric: RubricEntry, grader: str) -> _Points:
    """Per model, each answer's length and score on ``grader``: one pass over the rows."""
    points: _Points = {}
    for c in rubric.cases:
        for alias, s in c.samples.items():
            if (v := s.scores.get(grader)) is not None:
                lengths, values = points.setdefault(alias, (array("q"), array("d")))
                lengths.append(len(s.output_text))
                values.append(v)
    return points


def _domain(grader: GraderInfo, points: _Points) -> tuple[float, float]:
    """The grader's scale: its declared range, ±1 for pairwise preferences, else the data's."""
    if grader.range is not None and len(grader.range) == 2:
        return float(grader.range[0]), float(grader.range[1])
    if grader.type == "pairwise":
        return -1.0, 1.0
    low = min((min(values) for _, values in points.values() if values), default=0.0)
    high = max((max(values) for _, values in points.values() if values), default=1.0)
    return (low, high) if high > low else (low - 1, high + 1)


def _series(points: _Points, classes: dict[str, str]) -> list[svg.Series]:
    """Each model's scores on a grader with its answers' lengths, for histogram and scatter
    (at most `SCATTER_POINTS` each: the histogram's shares survive an even thinning)."""
    series = []
    for alias, css in classes.items():
        lengths, values = points.get(alias, (array("q"), array("d")))
        step = max(1, -(-len(values) // SCATTER_POINTS))  # ceil: at most SCATTER_POINTS remain
        if values:
            series.append(svg.Series(alias, css, values[::step].tolist(), lengths[::step].tolist()))
    return series


def _grader_charts(rubric: RubricEntry, g: GraderInfo, key: str) -> dict[str, Markup]:
    classes = model_classes(rubric)
    points = _points(rubric, g.name)
    domain = _domain(g, points)
    means = [
        svg.Interval(alias, f.mean, f.ci_low, f.ci_high, css)
        for alias, css in classes.items()
        if (f := rubric.models.get(alias, _EMPTY).graders.get(g.name)) is not None
    ]
    comps = [c for c in rubric.comparisons if c.grader == g.name]
    deltas = [
        svg.Interval(f"{c.candidate} − {c.baseline}", c.mean_delta, c.ci_low, c.ci_high,
                     classes.get(c.candidate, "m1"))
        for c in comps
    ]  # fmt: skip
    ends = [abs(v) for c in comps for v in (c.ci_low, c.ci_high, c.mean_delta) if v is not None]
    reach = max([*ends, 0.5])
    series = _series(points, classes)
    unit = "preference over the baseline" if g.type == "pairwise" else "score"
    return {
        "means": svg.dot_whisker(
            means, domain, testid=f"means-{key}", axis=f"mean {unit}",
            title=f"{g.name}: mean {unit} per model with 95% CI",
        ),
        "deltas": svg.dot_whisker(
            deltas, (-reach, reach), testid=f"deltas-{key}", zero_line=True,
            axis="Δ mean", title=f"{g.name}: mean delta of each comparison, 95% CI",
        ),
        "histogram": svg.histogram(
            series, domain, testid=f"hist-{key}", title=f"{g.name}: {unit} distribution per model"
        ),
        "scatter": svg.scatter(
            series, domain, testid=f"scatter-{key}", title=f"{g.name}: answer length against {unit}"
        ),
    }  # fmt: skip


def _charts(rubric: RubricEntry, index: int) -> dict[str, dict[str, Markup]]:
    """Per grader: the overview's means and deltas, and the distributions' histogram/scatter."""
    return {g.name: _grader_charts(rubric, g, f"{index}-{g.name}") for g in rubric.graders}


def _roles(report: Report) -> dict[str, list[str]]:
    roles: dict[str, list[str]] = {alias: [] for alias in report.models}
    for r in report.rubrics:
        found = [(r.baseline, "baseline")] + [(c, "candidate") for c in r.candidates]
        found += [(g.model, "judge") for g in r.graders if g.model]
        for alias, role in found:
            if role not in roles.setdefault(alias, []):
                roles[alias].append(role)
    return roles


def _params(params: dict[str, object]) -> str:
    """``temperature=0.7, seed=1``. The report never holds a key; should one ever reach
    ``params`` by mistake, it is still not printed."""
    return ", ".join(
        f"{k}={json.dumps(v, default=str)}" for k, v in params.items() if not _SECRET.search(k)
    )


def _rubric_view(rubric: RubricEntry, index: int) -> dict[str, object]:
    chosen = select_cases(rubric)
    return {
        "entry": rubric,
        "index": index,
        "classes": model_classes(rubric),
        "charts": _charts(rubric, index),
        "columns": case_columns(rubric),
        "rows": case_rows(rubric, chosen.detailed),
        "counts": chosen.counts,
        # our own JSON with <, > and & escaped (`html_index`): Markup, not data
        "index_json": None if chosen.index_json is None else Markup(chosen.index_json),
    }


def render_html(report: Report) -> str:
    """The page as one string: overview, distributions, cases, run facts."""
    return "".join(_render(report))


def _render(report: Report) -> Iterator[str]:
    css, css_hash = _asset("_style.css.j2")
    js, js_hash = _asset("_script.js.j2")
    csp = (
        f"default-src 'none'; style-src {css_hash}; script-src {js_hash}; "
        "img-src 'none'; base-uri 'none'; form-action 'none'"
    )
    rubrics = [_rubric_view(r, i) for i, r in enumerate(report.rubrics)]
    roles = _roles(report)
    regressions, regression_count = lead.worst_regressions(report)
    page = _env().get_template("report.html.j2")
    return page.generate(
        report=report,
        rubrics=rubrics,
        lead={
            "gates": lead.gate_verdict(report),
            "models": lead.model_rows(report, roles),
            "total_cost": lead.total_cost(report),
            "regressions": regressions,
            "regression_count": regression_count,
        },
        roles=roles,
        params=_params,
        csp=csp,
        css=css,
        js=js,
    )


def write_html(report: Report, path: Path) -> Path:
    """Secrets masked, streamed (a big report is never one string), replaced atomically."""
    with atomic_text(path) as out:
        out.writelines(_render(redacted(report)))
    return path
