"""Money on screen and a spending cap: prices from the table or the alias, spend per alias
in report.json and the terminal, an estimate before any call that refuses a run above
``max_cost``, and a run that stops starting cases once its spend reaches it."""

from __future__ import annotations

from conftest import Project, judge_json
from deltajudge.generation.pricing import Price, price_for
from deltajudge.settings import ModelConfig, PriceConfig, Settings
from deltajudge.testing import Reply, Rule


def test_list_prices_cover_snapshots_and_fine_tunes() -> None:
    settings = Settings()
    snapshot = ModelConfig(model="gpt-4.1-mini-2025-04-14")
    tuned = ModelConfig(model="ft:gpt-4.1-mini-2025-04-14:acme::abc123")
    assert price_for(snapshot, settings) == Price(0.40, 1.60)
    assert price_for(tuned, settings) == Price(0.80, 3.20)  # fine-tunes cost more to run
    assert price_for(ModelConfig(model="my-own-model"), settings) is None  # unknown, not $0
    # o3-mini is the judge of many pasted OpenAI graders (`deltajudge init --from-grader`)
    assert price_for(ModelConfig(model="o3-mini-2025-01-31"), settings) == Price(1.10, 4.40)
    assert price_for(ModelConfig(model="x", provider="local"), settings) == Price(0, 0)


def test_the_alias_and_the_config_table_override_the_list() -> None:
    settings = Settings(prices={"my-own-model": PriceConfig(input=1, output=2)})
    assert price_for(ModelConfig(model="my-own-model"), settings) == Price(1, 2)
    own = ModelConfig(model="gpt-4.1", price=PriceConfig(input=0.5, output=0.5))
    assert price_for(own, settings) == Price(0.5, 0.5)
    assert Price(2, 8).of(1_000_000, 500_000) == 6.0


def _priced(project: Project, rows: int, extra: str = "") -> None:
    project.server.set_rules([Rule(judge=True, reply=judge_json(2))])
    prices = "[prices]\n" + "".join(  # $0.001 a token: easy sums
        f"{model} = {{ input = 1000.0, output = 1000.0 }}\n" for model in ("base-m", "cand-m")
    )
    project.write(
        rows=[{"id": f"q{i}", "input": f"question {i}"} for i in range(rows)],
        config_extra=extra + "\n" + prices,
    )


def test_spend_per_alias_is_in_the_report_and_on_screen(project: Project) -> None:
    _priced(project, rows=3)

    result = project.run()

    assert result.ret == 0
    models = project.report()["models"]
    for alias in ("base", "cand"):
        tokens = models[alias]["tokens"]
        expected = (tokens["prompt_tokens"] + tokens["completion_tokens"]) * 0.001
        assert abs(tokens["cost_usd"] - expected) < 1e-9 and tokens["cost_usd"] > 0
    assert models["judge"]["tokens"]["cost_usd"] is None  # judge-m has no known price
    text = result.stdout.str()
    assert "price unknown" in text
    assert any(line.startswith("  spent: $") for line in result.stdout.lines)
    assert "+ 1 unpriced model" in text  # judge-m was paid for, at no known price

    again = project.run()  # all from the cache: nothing paid
    assert again.ret == 0
    assert project.report()["models"]["base"]["tokens"]["cost_usd"] == 0


def test_the_estimate_is_said_before_the_first_call(project: Project) -> None:
    _priced(project, rows=3)

    result = project.run()

    lines = result.stdout.lines
    said = next(i for i, line in enumerate(lines) if "estimated before the run: ~$" in line)
    assert "price unknown for judge" in lines[said]
    # 3 rows x 2 models: "question N" is 3 tokens + 4 for the message; each answer is
    # counted at the assumed 400 tokens; at $0.001 a token that is 6 x 0.407.
    assert "~$2.4420 for 12 calls" in lines[said], lines[said]
    assert lines[said + 1 :] and not any("estimated" in line for line in lines[:said])

    again = project.run()  # everything cached: nothing to pay, nothing to say
    assert "estimated before the run" not in again.stdout.str()


def test_max_tokens_bounds_the_estimate(project: Project) -> None:
    _priced(project, rows=3)
    config = project.path / "deltajudge.toml"
    bounded = "".join(f"[models.{a}.params]\nmax_tokens = 50\n" for a in ("base", "cand"))
    config.write_text(config.read_text() + bounded)

    result = project.run()

    assert "~$0.3420 for 12 calls" in result.stdout.str()  # 6 x (7 + 50) tokens


def test_a_run_estimated_above_the_cap_is_refused_before_any_call(project: Project) -> None:
    _priced(project, rows=50)

    result = project.run("--dj-max-cost", "1")

    assert result.ret != 0
    text = result.stdout.str()
    assert "not started: this run is estimated at ~$40.7000" in text, text
    assert "above the spending cap (max_cost) of $1" in text
    assert "Hint: raise --dj-max-cost" in text
    assert project.requests() == []  # nothing paid

    project.run("-k", "q1")  # q1 and q10-q19 answered and cached
    project.server.reset()
    cheaper = project.run("--dj-max-cost", "39.9")  # the cached ones cost nothing
    assert cheaper.ret == 0, cheaper.stdout.str()
    assert "~$31.7460 for 156 calls" in cheaper.stdout.str()  # 39 x 2 answers + their judgments
    assert len(project.requests(judge=False)) == 78


def test_the_spending_cap_stops_starting_cases(project: Project) -> None:
    # The estimate (200 x 2 answers of ~407 tokens: $162.80) is under the cap, but the
    # server bills 20,000 tokens an answer: the spend passes the cap after a few cases.
    project.server.set_rules(
        [
            Rule(judge=True, reply=judge_json(2)),
            Rule(reply=Reply(text="ok", usage=(10_000, 10_000))),
        ]
    )
    _priced(project, rows=200, extra="concurrency = 2")
    project.server.set_rules(
        [
            Rule(judge=True, reply=judge_json(2)),
            Rule(reply=Reply(text="ok", usage=(10_000, 10_000))),
        ]
    )

    result = project.run("--dj-max-cost", "170")

    assert result.ret != 0
    report = project.report()
    assert report["notes"][0].startswith("INCOMPLETE: interrupted by the spending cap")
    ran = len(report["rubrics"][0]["cases"])
    assert 0 < ran < 60, ran
    spent = sum(m["tokens"]["cost_usd"] or 0 for m in report["models"].values())
    assert spent >= 170


def test_a_run_where_no_price_is_known_never_says_it_spent_nothing(project: Project) -> None:
    """Models on your own server with no [prices]: "$0.0000" would read as free."""
    project.server.set_rules([Rule(judge=True, reply=judge_json(2))])
    project.write(rows=[{"id": "q0", "input": "question 0"}])

    result = project.run()

    assert result.ret == 0
    result.stdout.fnmatch_lines(["  spent: price unknown"])
    assert "spent: $" not in result.stdout.str()


def test_an_offline_run_is_not_priced_nor_refused(project: Project) -> None:
    """--dj-offline calls nothing: an estimate of 12 calls, or a refusal by the cap, would be
    about calls that are never made."""
    _priced(project, rows=3, extra="max_cost = 0.01")

    result = project.run("--dj-offline")

    assert "estimated before the run" not in result.stdout.str()
    assert "not started" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*--dj-offline: no cached answer for base*"])
    assert project.server.count() == 0
